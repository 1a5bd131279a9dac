"""Turn the collected materials into a `ReportData`: score both models on the candidate's test
rows, bootstrap the differences, apply the gate, diff the params and the data. No I/O."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from churn import metrics
from churn.artifacts.prepared_split import TestSplit
from churn.contract import Contract
from churn.params import GateParams
from churn.report import bootstrap, charts, datadiff, gate
from churn.report.collect import Collected, ReportError, Side
from churn.report.contents import DataDiff, MetricRow, Mode, ParamChange, ReportData

# Fewer candidate test rows unseen by the base model than this, and a paired comparison on
# them is too noisy to be useful: the report compares with the base's recorded metrics instead.
MIN_FRESH_ROWS = 500


def threshold(model_threshold: float | None, raw: dict[str, Any] | None, fallback: float) -> float:
    """A model's label cut-off: its own (saved with it), else its revision's params
    (`train.threshold`, formerly `evaluate.threshold`), else `fallback`."""
    if model_threshold is not None and 0 < model_threshold < 1:
        return float(model_threshold)
    for section in ("train", "evaluate"):
        try:
            value = float((raw or {})[section]["threshold"])
        except (KeyError, TypeError, ValueError):
            continue
        if 0 < value < 1:
            return value
    return fallback


def too_few_fresh_rows(excluded: int, fresh: int) -> bool:
    """Fall back to the unpaired comparison? Only when the split changed (some test rows were
    the base's training rows) and too few others remain. With the same split, both models are
    compared on every test row, however small the table."""
    return excluded > 0 and fresh < MIN_FRESH_ROWS


def _score(side: Side, test: TestSplit) -> np.ndarray:
    """Positive-class probabilities, a batch of rows at a time; raise with the reason when the
    model cannot read these rows."""
    columns = list(side.model.pipeline.feature_names_in_)
    absent = [c for c in columns if c not in test.columns]
    if absent:
        raise ValueError(f"it needs column(s) absent from the test rows: {', '.join(absent)}")
    with warnings.catch_warnings():
        # An unseen category is scored like the reference level; that is not a failure.
        warnings.simplefilter("ignore")
        return np.asarray(test.map_batches(columns, side.model.predict_proba), dtype=float)


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def params_diff(old: dict[str, Any] | None, new: dict[str, Any]) -> tuple[ParamChange, ...]:
    """Only the keys that changed; an added or removed key has None on the missing side."""
    before, after = _flatten(old or {}), _flatten(new)
    return tuple(
        ParamChange(key, before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key) or (key in before) != (key in after)
    )


def _data_diff(base: Side | None, candidate: Side) -> DataDiff:
    if base is None:
        return DataDiff(status="unavailable", note="no baseline")
    if base.raw is None or candidate.raw is None:
        reason = base.missing.get("data") or candidate.missing.get("data") or "not readable"
        return DataDiff(status="unavailable", note=reason)
    return datadiff.diff(
        base.raw,
        candidate.raw,
        identical=base.raw_sha256 == candidate.raw_sha256,
        contract=candidate.contract,
    )


def fresh_rows(test_ids: np.ndarray, base_train_ids: np.ndarray) -> np.ndarray:
    """Mask of the candidate's test rows the base model was not trained on."""
    return ~np.isin(np.asarray(test_ids), np.asarray(base_train_ids))


def _rows(
    names: list[str], candidate: dict[str, float], base: dict[str, float] | None, intervals: dict
) -> tuple[MetricRow, ...]:
    rows = []
    for name in names:
        metric = metrics.METRICS[name]
        before = None if base is None else base.get(name)
        interval = intervals.get(name)
        rows.append(
            MetricRow(
                name=name,
                label=metric.label,
                higher_is_better=metric.higher_is_better,
                candidate=candidate[name],
                base=before,
                delta=None if before is None else candidate[name] - before,
                low=interval.low if interval else None,
                high=interval.high if interval else None,
            )
        )
    return tuple(rows)


def _params_and_gate_changes(collected: Collected) -> tuple[ParamChange, ...]:
    base = collected.base
    base_params = base.params if base else collected.base_params
    # A base whose params still hold the legacy `gate:` section: its policy is diffed below.
    knobs = {k: v for k, v in (base_params or {}).items() if k != "gate"}
    old_gate, new_gate = collected.gate_documents
    return params_diff(knobs, collected.candidate.params or {}) + params_diff(
        {"gate": old_gate or {}}, {"gate": new_gate or {}}
    )


@dataclass
class _Comparison:
    mode: Mode = "no_baseline"
    note: str = ""
    base_metrics: dict[str, float] | None = None
    candidate_metrics: dict[str, float] | None = None
    intervals: dict[str, bootstrap.Interval] = field(default_factory=dict)
    curves: list = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    rows: int = 0
    excluded: int = 0


def _unpaired(collected: Collected, base: Side, why: str, result: _Comparison) -> _Comparison:
    if base.metrics is None:
        result.note = f"No baseline: {why}, and no metrics are recorded at `{collected.base_rev}`."
        return result
    result.mode = "unpaired"
    result.base_metrics = base.metrics
    result.note = (
        f"Unpaired: {why}. Compared with the metrics recorded at `{collected.base_rev}` "
        "(measured on its own test rows), so there are no confidence intervals."
    )
    return result


def _compare(
    collected: Collected,
    cand_scores: np.ndarray,
    cand_threshold: float,
    names: list[str],
    policy: GateParams,
) -> _Comparison:
    """Score the base on the candidate's rows it never trained on, or say why it cannot be."""
    base = collected.base
    result = _Comparison(note=f"No baseline: {collected.no_baseline}. Only the floors apply.")
    if base is None:
        return result
    if base.model is None:
        return _unpaired(collected, base, base.missing.get("model", "no model"), result)
    changed_target = target_change(base, collected.candidate)
    if changed_target:
        result.marks.append("the target changed")
        result.note = (
            f"No baseline: {changed_target}. The two models predict different things, so "
            "their metrics are not compared; only the floors apply."
        )
        return result
    contract_change = contract_changes(base.contract, collected.candidate.contract)
    if contract_change:
        result.marks.append("the data contract changed")
    compared = _paired(
        collected, base, (cand_scores, cand_threshold), names, policy=policy, result=result
    )
    if contract_change:
        compared.note += f" The data contract changed: {contract_change}."
    return compared


def _paired(
    collected: Collected,
    base: Side,
    candidate: tuple[np.ndarray, float],
    names: list[str],
    *,
    policy: GateParams,
    result: _Comparison,
) -> _Comparison:
    """Both models on the candidate's fresh test rows, or the recorded numbers and why."""
    test = collected.test
    cand_scores, cand_threshold = candidate
    try:
        base_scores = _score(base, test)
    except Exception as exc:
        why = f"the base model cannot score the candidate's rows ({exc})"
        return _unpaired(collected, base, why, result)
    if base.train_ids is None:
        why = (
            f"{base.missing.get('split', 'the base training split is unknown')}, so the rows "
            "the base model was trained on cannot be left out of the comparison"
        )
        return _unpaired(collected, base, why, result)
    contract = collected.candidate.contract
    keep = fresh_rows(test.column(contract.id.name), base.train_ids)
    result.excluded = int((~keep).sum())
    if too_few_fresh_rows(result.excluded, int(keep.sum())):
        result.marks.append("unpaired, may be biased: the split changed")
        why = (
            f"the candidate's split differs from the base's: {result.excluded:,} of its "
            f"{len(test):,} test rows were the base model's training rows, which would flatter "
            f"the base, and the {int(keep.sum()):,} others are fewer than {MIN_FRESH_ROWS}"
        )
        return _unpaired(collected, base, why, result)
    y = test.column(contract.target.name)[keep]
    base_threshold = threshold(base.model.threshold, base.params, cand_threshold)
    base_scores, scores = base_scores[keep], cand_scores[keep]
    result.mode, result.rows = "paired", int(keep.sum())
    result.base_metrics = metrics.score_all(y, base_scores, base_threshold)
    result.candidate_metrics = metrics.score_all(y, scores, cand_threshold)
    result.intervals = bootstrap.paired_intervals(
        y, (base_scores, base_threshold), (scores, cand_threshold), names,
        confidence=policy.confidence,
    )  # fmt: skip
    result.curves = [
        charts.sample_roc(f"base ({collected.base_rev})", y, base_scores),
        charts.sample_roc("candidate", y, scores),
    ]
    which = (
        f"the same {result.rows:,} test rows of the candidate"
        if not result.excluded
        else f"the {result.rows:,} test rows of the candidate that the base model was not "
        f"trained on (the split changed: {result.excluded:,} others were left out)"
    )
    result.note = (
        f"Both models scored on {which}; {policy.confidence:.0%} intervals from a paired "
        f"bootstrap ({bootstrap.RESAMPLES:,} resamples)."
    )
    return result


def target_change(base: Side, candidate: Side) -> str:
    """How the predicted target differs between the two models ('' when it does not)."""

    def described(side: Side) -> tuple[str, str] | None:
        if side.contract is not None:
            return side.contract.target.name, side.contract.target.positive
        metadata = side.model.metadata if side.model is not None else {}
        if metadata.get("target"):
            return str(metadata["target"]), str(metadata.get("positive_label"))
        return None  # a model from before models recorded their target: assume unchanged

    before, after = described(base), described(candidate)
    if before is None or after is None or before == after:
        return ""
    return (
        f"the base model predicts `{before[0]}` = {before[1]!r}, the candidate "
        f"`{after[0]}` = {after[1]!r}"
    )


def contract_changes(before: Contract | None, after: Contract | None) -> str:
    """The feature-level difference between two contracts, in words ('' when none is known)."""
    if before is None or after is None or before.digest == after.digest:
        return ""
    old = {f.name: f for f in before.features}
    new = {f.name: f for f in after.features}
    parts = []
    if added := [n for n in new if n not in old]:
        parts.append(f"features added: {', '.join(added)}")
    if removed := [n for n in old if n not in new]:
        parts.append(f"features removed: {', '.join(removed)}")
    if altered := [n for n in new if n in old and new[n] != old[n]]:
        parts.append(f"features redefined: {', '.join(altered)}")
    if before.id != after.id:
        parts.append(f"the id is now `{after.id.name}` ({after.id.type})")
    return "; ".join(parts) or "its wording changed, not its columns"


def _require_defined(
    policy: GateParams, primary: MetricRow, own: dict[str, float], rows: int
) -> None:
    """A metric the gate reads that is undefined (NaN: e.g. test rows of one class only)
    would make every comparison with it false, and the gate pass or fail by accident."""
    numbers = {name: own[name] for name in (policy.primary_metric, *policy.floors)}
    numbers.update(
        {f"{primary.name} ({part})": getattr(primary, part) for part in ("base", "low", "high")}
    )
    undefined = [name for name, value in numbers.items() if value is not None and np.isnan(value)]
    if undefined:
        raise ReportError(
            f"{', '.join(undefined)} cannot be computed on the candidate's {rows:,} test rows "
            "(do they hold both classes?), so the gate cannot judge them"
        )


def build(collected: Collected, command: str) -> ReportData:
    """Everything the report says, decided here once."""
    policy = collected.policy.gate
    test = collected.test
    y = test.column(collected.candidate.contract.target.name)
    cand_model = collected.candidate.model
    cand_threshold = threshold(
        cand_model.threshold if cand_model else None, collected.candidate.params, 0.5
    )
    try:
        cand_scores = _score(collected.candidate, test)
    except Exception as exc:
        raise ReportError(f"the candidate model cannot score its own test rows: {exc}") from None
    # The candidate's own held-out rows: what the floors judge, with or without a baseline.
    own_metrics = metrics.score_all(y, cand_scores, cand_threshold)
    names = list(metrics.METRICS)
    result = _compare(collected, cand_scores, cand_threshold, names, policy)
    if not result.curves:
        result.curves = [charts.sample_roc("candidate", y, cand_scores)]
    rows = _rows(
        names, result.candidate_metrics or own_metrics, result.base_metrics, result.intervals
    )
    primary = next(r for r in rows if r.name == policy.primary_metric)
    if result.mode == "unpaired" and primary.base is None:
        raise ReportError(
            f"the metrics recorded at {collected.base_rev} lack '{policy.primary_metric}'"
        )
    _require_defined(policy, primary, own_metrics, len(test))
    floors = gate.check_floors(policy, own_metrics)
    marks = list(result.marks)
    if collected.policy.first_gate:
        marks.insert(0, "first gate: this pull request's own policy")
    base = collected.base
    return ReportData(
        base_rev=collected.base_rev,
        base_commit=base.commit if base else None,
        candidate_commit=collected.candidate.commit,
        mode=result.mode,
        mode_note=result.note,
        verdict=gate.evaluate(policy, result.mode, primary, floors),
        metrics=rows,
        primary_metric=policy.primary_metric,
        confidence=policy.confidence,
        gate_source=collected.policy.source,
        command=command,
        resamples=bootstrap.RESAMPLES if result.mode == "paired" else 0,
        test_rows=result.rows if result.mode == "paired" else len(test),
        floors=floors,
        params_changes=_params_and_gate_changes(collected),
        data_diff=_data_diff(base, collected.candidate),
        curves=tuple(result.curves),
        reproducibility=collected.reproducibility,
        headline_marks=tuple(marks),
        rule=policy.rule,
        first_gate=collected.policy.first_gate,
        excluded_rows=result.excluded,
    )
