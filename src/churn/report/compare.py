"""Turn the collected materials into a `ReportData`: score both models on the candidate's test
rows, bootstrap the differences, apply the gate, diff the params and the data. No I/O."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from churn import metrics, params
from churn.report import bootstrap, charts, datadiff, gate
from churn.report.collect import Collected, ReportError, Side
from churn.report.contents import DataDiff, MetricRow, Mode, ParamChange, ReportData


def _policy(collected: Collected, candidate: params.Params) -> tuple[params.GateParams, str]:
    """The base revision's policy, so a pull request cannot lower its own bar."""
    raw = (collected.base_params or {}).get("gate")
    rev = f"`{collected.base_rev}`"
    if raw is None:
        return candidate.gate, f"the candidate's (the base revision {rev} has none)"
    try:
        return params.GateParams.model_validate(raw), f"the base revision {rev}"
    except ValueError:
        return candidate.gate, f"the candidate's (the one at {rev} is invalid)"


def _threshold(side: Side, fallback: float) -> float:
    """The model's own threshold; for a model saved before it recorded one, its params'."""
    if side.model is not None and side.model.threshold is not None:
        return side.model.threshold
    raw = side.params or {}
    for section in ("train", "evaluate"):
        try:
            value = float(raw[section]["threshold"])
        except (KeyError, TypeError, ValueError):
            continue
        if 0 < value < 1:
            return value
    return fallback


def _score(side: Side, test: pd.DataFrame) -> np.ndarray:
    """Churn probabilities; raise with the reason when the model cannot read these rows."""
    columns = list(side.model.pipeline.feature_names_in_)
    absent = [c for c in columns if c not in test.columns]
    if absent:
        raise ValueError(f"it needs column(s) absent from the test rows: {', '.join(absent)}")
    with warnings.catch_warnings():
        # An unseen category is scored like the reference level; that is not a failure.
        warnings.simplefilter("ignore")
        return np.asarray(side.model.predict_proba(test[columns]), dtype=float)


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


def build(collected: Collected, command: str) -> ReportData:
    """Everything the report says, decided here once."""
    candidate_params = params.parse(collected.candidate.params, "params.yaml (workspace)")
    policy, gate_source = _policy(collected, candidate_params)
    try:
        gate.check_policy(policy)
    except gate.GatePolicyError as exc:
        raise ReportError(f"gate policy from {gate_source}: {exc}") from None
    test = collected.test
    y = test[collected.candidate.contract.target.name].to_numpy()
    cand_threshold = _threshold(collected.candidate, candidate_params.train.threshold)
    try:
        cand_scores = _score(collected.candidate, test)
    except Exception as exc:
        raise ReportError(f"the candidate model cannot score its own test rows: {exc}") from None
    cand_metrics = metrics.score_all(y, cand_scores, cand_threshold)
    names = list(metrics.METRICS)
    base = collected.base
    mode: Mode = "no_baseline"
    mode_note = f"No baseline: {collected.no_baseline}. Only the absolute floors apply."
    base_metrics, intervals, curves = None, {}, [charts.sample_roc("candidate", y, cand_scores)]
    if base is not None and base.model is not None:
        try:
            base_scores = _score(base, test)
        except Exception as exc:
            base.missing["scores"] = f"the base model cannot score the candidate's rows ({exc})"
        else:
            base_threshold = _threshold(base, cand_threshold)
            mode = "paired"
            base_metrics = metrics.score_all(y, base_scores, base_threshold)
            intervals = bootstrap.paired_intervals(
                y,
                (base_scores, base_threshold),
                (cand_scores, cand_threshold),
                names,
                confidence=policy.confidence,
            )
            curves.insert(0, charts.sample_roc(f"base ({collected.base_rev})", y, base_scores))
            mode_note = (
                f"Both models scored on the same {len(test):,} test rows of the candidate; "
                f"{policy.confidence:.0%} intervals from a paired bootstrap "
                f"({bootstrap.RESAMPLES:,} resamples)."
            )
    if base is not None and mode == "no_baseline":
        if base.metrics is not None:
            mode = "unpaired"
            base_metrics = base.metrics
            why = base.missing.get("scores") or base.missing.get("model", "")
            mode_note = (
                f"Unpaired: {why}. Compared with the metrics recorded at `{collected.base_rev}` "
                "(measured on its own test rows), so there are no confidence intervals."
            )
        else:
            mode_note = f"No baseline: {base.missing.get('scores', '')}. Only floors apply."
    rows = _rows(names, cand_metrics, base_metrics, intervals)
    primary = next(r for r in rows if r.name == policy.primary_metric)
    if mode == "unpaired" and primary.base is None:
        raise ReportError(
            f"the metrics recorded at {collected.base_rev} lack '{policy.primary_metric}'"
        )
    floors = gate.check_floors(policy, cand_metrics)
    return ReportData(
        base_rev=collected.base_rev,
        base_commit=base.commit if base else None,
        candidate_commit=collected.candidate.commit,
        mode=mode,
        mode_note=mode_note,
        verdict=gate.evaluate(policy, mode, primary, floors),
        metrics=rows,
        primary_metric=policy.primary_metric,
        confidence=policy.confidence,
        gate_source=gate_source,
        command=command,
        resamples=bootstrap.RESAMPLES if mode == "paired" else 0,
        test_rows=len(test),
        floors=floors,
        params_changes=params_diff(
            base.params if base else collected.base_params, collected.candidate.params or {}
        ),
        data_diff=_data_diff(base, collected.candidate),
        curves=tuple(curves),
        reproducibility=collected.reproducibility,
    )
