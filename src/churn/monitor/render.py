"""The monitor's two outputs: Markdown for people (tables and Mermaid charts, which GitHub draws
in an issue or a job summary without an image host) and JSON for machines (the monitoring issue's
opener reads `status` and `alerts`; README "Monitoring" documents every key)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from churn.monitor.drift import PROBABILITY_EDGES
from churn.monitor.findings import Alert, Findings, Status
from churn.monitor.quality import period_name
from churn.params import MonitorParams

TITLE = "Model monitor"
_PALETTE = '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#9e9e9e, #1f77b4"}}}}%%'
_HEADLINES = {
    "healthy": "healthy",
    "alert": "ALERT",
    "error": "could not run",
}


def status_of(alerts: Sequence[Alert]) -> Status:
    return "alert" if alerts else "healthy"


# ---- Markdown ------------------------------------------------------------------------------


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _p_value(value: float | None) -> str:
    if value is None:
        return "-"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _chart_numbers(values: Iterable[float]) -> str:
    return "[" + ", ".join(f"{v:.4f}".rstrip("0").rstrip(".") or "0" for v in values) + "]"


def _chart_labels(labels: Iterable[str]) -> str:
    return "[" + ", ".join('"' + label.replace('"', "'") + '"' for label in labels) + "]"


def _chart(title: str, labels: Sequence[str], bars: Sequence[float], line: Sequence[float],
           y_title: str) -> list[str]:  # fmt: skip
    top = max(1e-9, *bars, *line)
    return [
        "```mermaid",
        _PALETTE,
        "xychart-beta",
        f'    title "{title}"',
        f"    x-axis {_chart_labels(labels)}",
        f'    y-axis "{y_title}" 0 --> {top * 1.1:.3g}',
        f"    bar {_chart_numbers(bars)}",
        f"    line {_chart_numbers(line)}",
        "```",
    ]


def _head(findings: Findings, alerts: Sequence[Alert]) -> list[str]:
    status = status_of(alerts)
    headline = _HEADLINES[status]
    if alerts:
        headline += f": {len(alerts)} alert{'s' if len(alerts) > 1 else ''}"
    span = ""
    if findings.start is not None and findings.end is not None:
        span = f", {findings.start:%Y-%m-%d %H:%M} to {findings.end:%Y-%m-%d %H:%M} UTC"
    lines = [
        f"## {TITLE}: {headline}",
        "",
        f"- **Window**: {_cell(findings.window_source)}{span}: {findings.scored:,} rows scored "
        f"({findings.examined:,} examined).",
        f"- **Model**: `{findings.model_digest[:12]}`, label threshold {findings.threshold:g}.",
        f"- **Reference**: the model's training split, {findings.reference_rows:,} rows.",
    ]
    if findings.other_versions:
        others = ", ".join(f"`{v[:12]}` ({n:,})" for v, n in findings.other_versions.items())
        lines.append(f"- Rows of other model versions, left out: {others}.")
    return lines


def _alerts(alerts: Sequence[Alert]) -> list[str]:
    if not alerts:
        return ["### Alerts", "", "None: every measure is within its threshold."]
    lines = ["### Alerts", "", "| alert | value | threshold | what it means |", "|---|---|---|---|"]
    lines += [
        f"| `{a.name}` | {_number(a.value)} | {a.threshold:g} | {_cell(a.message)} |"
        for a in alerts
    ]
    return lines


def _features(findings: Findings, params: MonitorParams) -> list[str]:
    lines = [
        "### Feature drift",
        "",
        f"The PSI (population stability index) is the effect size alerts fire on (at "
        f"{params.drift.feature:g} or more). Each test's p-value is shown for context only: at "
        "production volumes it calls every harmless wobble significant. Effect: the KS "
        "distance for numbers, Cramér's V for binaries and categories.",
        "",
        "| feature | kind | PSI | test | effect | p-value | blank: training → window "
        "| outside contract |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in sorted(findings.features, key=lambda f: -(f.psi if f.psi is not None else -1)):
        flag = " ⚠️" if f.psi is not None and f.psi >= params.drift.feature else ""
        missing = f"{_share(f.missing_reference)} → {_share(f.missing_window)}"
        outside = _share(findings.outside.get(f.name))
        if not f.in_window:
            lines.append(
                f"| `{f.name}` | {f.kind} | not in the window (never logged) | | | | "
                f"{missing} | {outside} |"
            )
            continue
        lines.append(
            f"| `{f.name}` | {f.kind} | {_number(f.psi)}{flag} | {f.test} | {_number(f.effect)} "
            f"| {_p_value(f.p_value)} | {missing} | {outside} |"
        )
    others = {
        c: s for c, s in findings.outside.items() if c not in {f.name for f in findings.features}
    }
    for column, share in others.items():
        lines.append(f"\nOutside the contract in `{column}`: {_share(share)} of the cells.")
    judged = [f for f in findings.features if f.psi is not None]
    if judged:
        lines.append("")
        lines += _chart(
            "PSI by feature (bars) and the alert threshold (line)",
            [f.name for f in judged],
            [f.psi or 0.0 for f in judged],
            [params.drift.feature] * len(judged),
            "PSI",
        )
    return lines


def _probability(findings: Findings, params: MonitorParams) -> list[str]:
    p = findings.probability
    flag = " ⚠️" if p.psi >= params.drift.probability else ""
    labels = [f"{a:.1f}-{b:.1f}" for a, b in itertools.pairwise(PROBABILITY_EDGES)]
    return [
        "### Predicted probability",
        "",
        f"PSI {_number(p.psi)}{flag} (alert at {params.drift.probability:g}); KS distance "
        f"{_number(p.ks)} (p-value {_p_value(p.p_value)}); mean {_number(p.mean_reference)} in "
        f"training, {_number(p.mean_window)} in the window.",
        "",
        *_chart(
            "Share of rows per probability bin: training (bars), window (line)",
            labels,
            p.shares_reference,
            p.shares_window,
            "share of rows",
        ),
    ]


def _outcomes(findings: Findings, params: MonitorParams) -> list[str]:
    outcomes = findings.outcomes
    if outcomes is None:
        return [
            "### Outcomes",
            "",
            "No outcomes given (`--labels`, or `MONITOR_LABELS`): realized quality and the "
            "business metric need them.",
        ]
    realized = outcomes.realized
    lines = [
        "### Outcomes",
        "",
        f"{outcomes.outcomes:,} outcomes from {_cell(outcomes.source)}; {outcomes.joined:,} "
        f"joined to a prediction of the window ({_share(outcomes.share)}).",
    ]
    if outcomes.note:
        lines.append(f"Note: {_cell(outcomes.note)}.")
    judged = (
        ""
        if realized.judged
        else (f" Fewer than {params.labels.min_rows:,} joined outcomes: shown, not judged.")
    )
    lines += [
        "",
        f"Realized quality at the threshold {findings.threshold:g}.{judged}",
        "",
        "| metric | realized | floor |",
        "|---|---|---|",
    ]
    for metric in ("roc_auc", "precision", "recall"):
        floor = params.labels.floors.get(metric)  # type: ignore[call-overload]
        lines.append(
            f"| {metric} | {_number(realized.value(metric))} | "
            f"{'-' if floor is None else f'{floor:g}'} |"
        )
    lines += _business(findings, params)
    return lines


def _business(findings: Findings, params: MonitorParams) -> list[str]:
    business = params.business
    assert findings.outcomes is not None
    periods = findings.outcomes.periods
    bounds = []
    if business.minimum is not None:
        bounds.append(f"at least {business.minimum:g}")
    if business.maximum is not None:
        bounds.append(f"at most {business.maximum:g}")
    lines = [
        "",
        f"### Business metric: {_cell(business.name)}",
        "",
        f"`{business.metric}` per {period_name(business)} of prediction time"
        f"{', ' + ' and '.join(bounds) if bounds else ''}; a {period_name(business)} with fewer "
        f"than {business.min_rows:,} joined outcomes is shown, not judged.",
        "",
    ]
    if not periods:
        return [*lines, "No joined outcomes: nothing to compute."]
    lines += [f"| {period_name(business)} | outcomes | {business.metric} | |", "|---|---|---|---|"]
    for p in periods:
        verdict = f"{p.breach} bound ⚠️" if p.breach else ("" if p.judged else "not judged")
        lines.append(f"| {_cell(p.name)} | {p.rows:,} | {_number(p.value)} | {verdict} |")
    shown = [p for p in periods if p.value is not None]
    bound = business.minimum if business.minimum is not None else business.maximum
    if len(shown) >= 2 and bound is not None:
        lines.append("")
        lines += _chart(
            f"{business.metric} per {period_name(business)} (bars) and its bound (line)",
            [p.name for p in shown],
            [p.value or 0.0 for p in shown],
            [bound] * len(shown),
            business.metric,
        )
    return lines


def markdown(findings: Findings, alerts: Sequence[Alert], params: MonitorParams) -> str:
    lines = [
        *_head(findings, alerts),
        "",
        *_alerts(alerts),
        "",
        *_features(findings, params),
        "",
        *_probability(findings, params),
        "",
        *_outcomes(findings, params),
    ]
    if findings.notes:
        lines += ["", "### Notes", "", *(f"- {_cell(note)}" for note in findings.notes)]
    return "\n".join(lines) + "\n"


def error_markdown(message: str) -> str:
    return f"## {TITLE}: {_HEADLINES['error']}\n\n{message}\n"


# ---- JSON ----------------------------------------------------------------------------------


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: those become null, everywhere in the document."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def document(findings: Findings, alerts: Sequence[Alert]) -> dict[str, Any]:
    """monitor.json: `status` and `alerts` (the issue opener's contract), then the findings."""
    outcomes = findings.outcomes
    return _finite(
        {
            "status": status_of(alerts),
            "alerts": [asdict(a) for a in alerts],
            "error": None,
            "window": {
                "kind": findings.window_kind,
                "source": findings.window_source,
                "start": findings.start.isoformat() if findings.start else None,
                "end": findings.end.isoformat() if findings.end else None,
                "examined_rows": findings.examined,
                "scored_rows": findings.scored,
                "other_versions": findings.other_versions,
            },
            "model": {"digest": findings.model_digest, "threshold": findings.threshold},
            "reference": {"rows": findings.reference_rows},
            "features": [asdict(f) for f in findings.features],
            "outside_contract": findings.outside,
            "probability": asdict(findings.probability),
            "outcomes": None
            if outcomes is None
            else {
                "source": outcomes.source,
                "outcomes": outcomes.outcomes,
                "joined": outcomes.joined,
                "joined_share": outcomes.share,
                "note": outcomes.note,
                "realized": asdict(outcomes.realized),
                "business": [asdict(p) for p in outcomes.periods],
            },
            "notes": list(findings.notes),
        }
    )


def error_document(message: str) -> dict[str, Any]:
    return {"status": "error", "alerts": [], "error": message}
