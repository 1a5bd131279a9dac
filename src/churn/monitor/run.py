"""`churn monitor`: find the window, compare it with the model's training split, join the
outcomes, raise the alerts, write monitor.md and monitor.json; exit 0 healthy, 1 an alert fired,
2 could not run.

The window is, in order: `--log-dir` (with `--period`), `--table`, `--sample`, else the
environment variable `MONITOR_WINDOW` ("LOCATION [PERIOD]", see `window.parse_window`), else the
sample, so that a fresh repository's scheduled run is green. Outcomes: `--labels`, else
`MONITOR_LABELS`, else the sample's own.

"Could not run" is reserved for what stops a judgement: no model or data, a window of another
model version, a window with fewer rows than `monitor.min_rows` (too few to judge drift: a red
run makes someone look, where a green one would hide a service that stopped logging), a bad
labels file. Both files are written then too (status "error" and the reason), and any unexpected
failure is also exit 2, with its traceback: never 1, which would read as an alert.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from churn import atomic
from churn import params as params_file
from churn.artifacts import prepared_split, saved_model
from churn.contract import Contract, ContractError, DataValidationError
from churn.contract import load as load_contract
from churn.monitor import drift, outcomes, quality, render, verdict, window
from churn.monitor.errors import MonitorError
from churn.monitor.findings import Alert, Findings, Outcomes
from churn.params import MonitorParams, Params, ParamsError

WINDOW_VARIABLE = "MONITOR_WINDOW"
LABELS_VARIABLE = "MONITOR_LABELS"
EXIT_HEALTHY, EXIT_ALERT, EXIT_ERROR = 0, 1, 2
# Errors a user can cause and fix: one line says what; anything else also prints its traceback.
_EXPECTED = (
    MonitorError,
    DataValidationError,
    ContractError,
    ParamsError,
    saved_model.ModelLoadError,
    FileNotFoundError,
)


@dataclass(frozen=True)
class Options:
    model: Path
    data: Path
    params: Path
    out: Path
    json_out: Path
    log_dir: str | None = None
    period: str | None = None
    # The end of a log window (default: now).
    end: datetime | None = None
    table: Path | None = None
    sample: bool = False
    labels: str | None = None


def run(options: Options, env: Mapping[str, str] | None = None) -> int:
    """Monitor, write both outputs, return the exit code."""
    env = os.environ if env is None else env
    try:
        settings = params_file.load(options.params)
        findings, alerts = monitor(options, settings, env)
    except Exception as exc:
        if not isinstance(exc, _EXPECTED):
            traceback.print_exc()
        message = str(exc)
        _write(options, render.error_markdown(message), render.error_document(message))
        print(f"churn monitor: could not run: {message}", file=sys.stderr)
        return EXIT_ERROR
    _write(
        options,
        render.markdown(findings, alerts, settings.monitor),
        render.document(findings, alerts),
    )
    names = ", ".join(a.name for a in alerts)
    verdict_line = f"ALERT ({names})" if alerts else "healthy"
    print(f"monitor: {verdict_line}; wrote {options.out} and {options.json_out}")
    return EXIT_ALERT if alerts else EXIT_HEALTHY


def _write(options: Options, text: str, document: dict) -> None:
    for path in (options.out, options.json_out):
        path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(options.out, text)
    atomic.write_text(options.json_out, json.dumps(document, indent=2, allow_nan=False) + "\n")


def _threshold(card: saved_model.ModelCard, settings: Params, notes: list[str]) -> float:
    if card.threshold is not None:
        return card.threshold
    notes.append(
        "the model records no threshold (saved before models carried one): "
        f"params.yaml train.threshold ({settings.train.threshold:g}) is used"
    )
    return settings.train.threshold


def _check_reference(card: saved_model.ModelCard, data: Path) -> None:
    """The split in `data` must be the one the model was trained on."""
    trained_on = card.metadata.get("data_sha256")
    prepared_from = prepared_split.manifest(data).get("raw_sha256")
    if trained_on and prepared_from and trained_on != prepared_from:
        raise MonitorError(
            f"the split in {data} was prepared from data {prepared_from[:12]}, but the model was "
            f"trained on data {trained_on[:12]}: run `dvc checkout` (or `make repro`) so that "
            "model and split belong to the same commit"
        )


def _window(
    options: Options,
    contract: Contract,
    model: saved_model.SavedModel,
    env: Mapping[str, str],
    notes: list[str],
) -> window.Window:
    end = (options.end or datetime.now(UTC)).astimezone(UTC)
    if options.log_dir is not None:
        period = window.parse_period(options.period or window.DEFAULT_PERIOD)
        return window.from_log(
            window.LogWindow(options.log_dir, period, end), contract, model.digest
        )
    if options.table is not None:
        return window.from_table(options.table, contract, model)
    if not options.sample and env.get(WINDOW_VARIABLE, "").strip():
        spec = window.parse_window(env[WINDOW_VARIABLE], end)
        return window.from_log(spec, contract, model.digest)
    if not options.sample:
        notes.append(
            f"{WINDOW_VARIABLE} is not set, so this is a sample (the test split scored as if it "
            "were production traffic), not production: set the repository variable to the "
            "prediction log's location (README: Monitoring)"
        )
    return window.from_sample(options.data, contract, model)


def _outcomes(
    options: Options,
    found: window.Window,
    *,
    contract: Contract,
    monitor_params: MonitorParams,
    threshold: float,
    env: Mapping[str, str],
) -> Outcomes | None:
    location = options.labels or env.get(LABELS_VARIABLE, "").strip() or None
    if location is not None:
        typed, source = outcomes.read(location, contract), f"labels {location}"
    elif found.outcomes is not None:
        typed, source = outcomes.from_split(contract, found.outcomes), "the sample's own outcomes"
    else:
        return None
    joined = outcomes.join(found, typed, contract)
    return Outcomes(
        source=source,
        outcomes=joined.outcomes,
        joined=joined.rows,
        note=joined.note,
        realized=quality.realized(joined.frame, threshold, monitor_params.labels.min_rows),
        periods=tuple(quality.business(joined.frame, monitor_params.business, threshold)),
    )


def monitor(
    options: Options, settings: Params, env: Mapping[str, str]
) -> tuple[Findings, list[Alert]]:
    """The findings and the alerts they raise (raises `MonitorError` when it cannot judge)."""
    monitor_params = settings.monitor
    notes: list[str] = []
    card = saved_model.read(options.model)
    contract = load_contract(card.contract)
    model = saved_model.load(options.model)
    _check_reference(card, options.data)
    threshold = _threshold(card, settings, notes)
    found = _window(options, contract, model, env, notes)
    if found.rows < monitor_params.min_rows:
        raise MonitorError(
            f"the window ({found.source}) has {found.rows:,} scored rows; monitor.min_rows is "
            f"{monitor_params.min_rows:,}: too few to judge drift. Widen the period, or check "
            "that the service is logging (its --log-sample-rate) and that rows pass the contract"
        )
    reference_inputs, reference_probability = window.reference(options.data, contract, model)
    features = tuple(
        drift.feature_drift(
            feature,
            reference_inputs[feature.name],
            found.inputs.get(feature.name),
        )
        for feature in contract.features
    )
    if found.absent:
        notes.append(
            f"not in the window, so not monitored: {', '.join(found.absent)} (never logged: "
            "personal in the contract, or excluded by the service's --log-exclude)"
        )
    joined = _outcomes(
        options,
        found,
        contract=contract,
        monitor_params=monitor_params,
        threshold=threshold,
        env=env,
    )
    findings = Findings(
        window_kind=found.kind,
        window_source=found.source,
        start=found.start,
        end=found.end,
        examined=found.examined,
        scored=found.rows,
        other_versions=found.other_versions,
        model_digest=card.digest,
        threshold=threshold,
        reference_rows=len(reference_probability),
        features=features,
        outside={column: n / found.examined for column, n in found.outside.items()},
        probability=drift.probability_drift(reference_probability, found.probability),
        outcomes=joined,
        notes=tuple(notes),
    )
    return findings, verdict.alerts(findings, monitor_params)
