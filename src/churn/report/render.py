"""Render a `ReportData` as the Markdown of the pull-request comment, and as JSON for the
workflow. Pure: the same data always gives the same text, and nothing is read or written."""

from __future__ import annotations

import dataclasses
import json

from churn.report import charts
from churn.report.contents import DataDiff, MetricRow, ReportData

# GitHub refuses comments longer than this many characters.
LIMIT = 65_536
_ROW_BUDGETS = (None, 500, 100, 20, 0)
_PSI_MAJOR = 0.25
_PSI_MODERATE = 0.1

_HEADLINE = {
    "better": "✅ Better",
    "unchanged": "➖ No significant change",  # noqa: RUF001 (a sign, not a minus)
    "worse": "❌ Worse",
    "no_baseline": "ℹ️ No baseline",  # noqa: RUF001 (the information sign is meant)
}


def _cell(value: object) -> str:
    if value is None:
        return "—"
    text = json.dumps(value) if not isinstance(value, str) else value
    return "`" + text.replace("|", "\\|").replace("\n", " ").replace("`", "'") + "`"


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _mark(row: MetricRow, mode: str) -> str:
    if mode != "paired" or row.delta is None:
        return ""
    if not row.significant:
        return "not significant"
    return "▲ better" if row.improved else "▼ worse"


def render_verdict(data: ReportData) -> list[str]:
    gate = "passed" if data.verdict.passed else "**failed**"
    base = f"`{data.base_rev}`" + (f" ({data.base_commit[:7]})" if data.base_commit else "")
    return [
        f"## {_HEADLINE[data.verdict.kind]}: {data.verdict.reason}",
        "",
        f"Gate {gate} · candidate {_short(data.candidate_commit)} vs base {base} · "
        f"policy from {data.gate_source}.",
        "",
        f"> {data.mode_note}",
    ]


def _short(commit: str | None) -> str:
    return f"`{commit[:7]}`" if commit else "the workspace"


def render_metrics(data: ReportData) -> list[str]:
    lines = ["### Metrics", ""]
    primary = data.primary_metric
    if data.mode == "no_baseline":
        lines += ["| Metric | Candidate |", "|---|---:|"]
    else:
        level = f"{data.confidence:.0%} CI of Δ" if data.mode == "paired" else "CI"
        lines += [
            f"| Metric | Base `{data.base_rev}` | Candidate | Δ | {level} | Significance |",
            "|---|---:|---:|---:|---|---|",
        ]
    for row in data.metrics:
        name = row.label + (" (primary)" if row.name == primary else "")
        name += "" if row.higher_is_better else " ↓"
        if data.mode == "no_baseline":
            lines.append(f"| {name} | {_num(row.candidate)} |")
            continue
        interval = (
            f"[{row.low:+.4f}, {row.high:+.4f}]"
            if row.low is not None and row.high is not None
            else "n/a (unpaired)"
        )
        lines.append(
            f"| {name} | {_num(row.base)} | {_num(row.candidate)} | "
            f"{_num(row.delta, signed=True)} | {interval} | {_mark(row, data.mode)} |"
        )
    lines.append("")
    lines.append("↓ lower is better. A change is significant when its interval excludes 0.")
    if data.floors:
        checks = ", ".join(
            f"{f.metric} {'≥' if f.higher_is_better else '≤'} {f.floor:g} "
            f"{'✓' if f.passed else '✗'}"
            for f in data.floors
        )
        lines.append(f"Floors (apply always): {checks}.")
    return lines


def render_params(data: ReportData, budget: int | None) -> tuple[list[str], int]:
    lines = ["### Params diff", ""]
    changes = data.params_changes
    if not changes:
        return [*lines, "No parameter changed."], 0
    shown = changes if budget is None else changes[:budget]
    lines += [f"| Key | Base `{data.base_rev}` | Candidate |", "|---|---|---|"]
    lines += [f"| `{c.key}` | {_cell(c.old)} | {_cell(c.new)} |" for c in shown]
    if any(c.key.startswith("gate.") for c in changes) and data.gate_source.startswith("the base"):
        lines += [
            "",
            "Changes to `gate:` apply once merged; this report uses the policy of the base.",
        ]
    return lines, len(changes) - len(shown)


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def render_data(diff: DataDiff) -> list[str]:
    lines = ["### Data diff", ""]
    if diff.status == "unavailable":
        return [*lines, f"Not available: {diff.note}."]
    if diff.status == "identical":
        return [*lines, f"The raw data is identical at both revisions ({diff.base_rows:,} rows)."]
    lines += [
        "| | Base | Candidate |",
        "|---|---:|---:|",
        f"| Rows | {diff.base_rows:,} | {diff.candidate_rows:,} |",
        f"| Target rate | {_rate(diff.base_target_rate)} | {_rate(diff.candidate_target_rate)} |",
    ]
    notes = []
    if diff.added_columns:
        notes.append(f"Columns added: {', '.join(f'`{c}`' for c in diff.added_columns)}.")
    if diff.removed_columns:
        notes.append(f"Columns removed: {', '.join(f'`{c}`' for c in diff.removed_columns)}.")
    notes += [f"Type of `{column}`: {old} → {new}." for column, old, new in diff.type_changes]
    if notes:
        lines += ["", *notes]
    if diff.shifts:
        lines += [
            "",
            "Distribution shift (PSI; above 0.1 moderate, above 0.25 major), largest first:",
            "",
            "| Feature | PSI | |",
            "|---|---:|---|",
        ]
        for shift in diff.shifts:
            flag = (
                "major"
                if shift.psi > _PSI_MAJOR
                else "moderate"
                if shift.psi > _PSI_MODERATE
                else ""
            )
            lines.append(f"| `{shift.column}` | {shift.psi:.4f} | {flag} |")
    return lines


def render_charts(data: ReportData) -> list[str]:
    if not data.curves:
        return []
    legend = (
        f"Grey: base `{data.base_rev}`; blue: candidate."
        if len(data.curves) == 2
        else "Candidate only."
    )
    lines = ["### Charts", "", charts.mermaid_roc(data.curves), "", legend, ""]
    lines += [charts.mermaid_metrics(data), "", "Bars: base; line: candidate."]
    if data.assets:
        lines += ["", f"Full-size figures in the workflow artifact: {', '.join(data.assets)}."]
    return lines


def _tick(value: bool | None) -> str:
    return {True: "✓", False: "✗", None: "?"}[value]


def render_reproducibility(data: ReportData) -> list[str]:
    repro = data.reproducibility
    return [
        "### Reproducibility",
        "",
        f"- {_tick(repro.lock_matches)} dvc.lock: {repro.lock_note}.",
        f"- {_tick(repro.in_remote)} DVC remote: {repro.remote_note}.",
    ]


def _assemble(data: ReportData, budget: int | None) -> str:
    params_lines, cut = render_params(data, budget)
    if cut:
        params_lines.append(
            f"\n… {cut:,} more changed keys not shown, to stay under GitHub's {LIMIT:,}-character "
            "comment limit (report.json lists them all)."
        )
    sections = [
        render_verdict(data),
        render_metrics(data),
        params_lines,
        render_data(data.data_diff),
        render_charts(data),
        render_reproducibility(data),
        ["---", f"Reproduce locally: `{data.command}`"],
    ]
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"


def render(data: ReportData, limit: int = LIMIT) -> str:
    """The comment's Markdown, never longer than `limit` characters."""
    for budget in _ROW_BUDGETS:
        text = _assemble(data, budget)
        if len(text) <= limit:
            return text
    note = f"\n\n… cut here to stay under GitHub's {limit:,}-character comment limit.\n"
    return text[: limit - len(note)] + note


def render_json(data: ReportData) -> str:
    """The machine-readable verdict, metrics and intervals, for the workflow."""
    payload = dataclasses.asdict(data)
    payload["passed"] = data.verdict.passed
    for row, entry in zip(data.metrics, payload["metrics"], strict=True):
        entry["significant"] = row.significant
        entry["improved"] = row.improved
    return json.dumps(payload, indent=2, default=str) + "\n"
