"""Render a `ReportData` as the Markdown of the pull-request comment, and as JSON for the
workflow. Pure: the same data always gives the same text, and nothing is read or written."""

from __future__ import annotations

import dataclasses
import json

from churn.comment_limit import MAX_COMMENT_CHARS
from churn.report import charts
from churn.report.contents import DataDiff, MetricRow, ReportData

# The report must fit in one comment, as the comment workflow's artifact check counts it.
LIMIT = MAX_COMMENT_CHARS
_ROW_BUDGETS = (None, 500, 100, 20, 0)
_PSI_MAJOR = 0.25
_PSI_MODERATE = 0.1
# A reason longer than this (an unexpected error's message) is cut in the short report.
_REASON_CHARS = 4_000

# The words of each verdict kind (see contents.VerdictKind): they say what the interval shows.
_HEADLINE = {
    "better": "✅ Better",
    "unchanged": "➖ No significant change",  # noqa: RUF001 (a sign, not a minus)
    "worse_tolerated": "⚠️ Worse, within tolerance",
    "worse": "❌ Worse",
    "inconclusive": "❌ Not shown to be within tolerance",
    "insufficient_gain": "❌ Not enough improvement",
    "unpaired_within_policy": "➖ Within the policy (unpaired: no interval)",  # noqa: RUF001
    "no_baseline": "ℹ️ No baseline",  # noqa: RUF001 (the information sign is meant)
    "data_unavailable": "❌ Data not available",
    "no_report": "⛔ No report could be made",
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


def headline(kind: str, reason: str, marks: tuple[str, ...] = ()) -> str:
    """The first line: the verdict's words, what qualifies them, and the reason."""
    qualifiers = f" ({'; '.join(marks)})" if marks else ""
    return f"## {_HEADLINE[kind]}{qualifiers}: {reason}"


def render_verdict(data: ReportData) -> list[str]:
    gate = "passed" if data.verdict.passed else "**failed**"
    base = f"`{data.base_rev}`" + (f" ({data.base_commit[:7]})" if data.base_commit else "")
    return [
        headline(data.verdict.kind, data.verdict.reason, data.headline_marks),
        "",
        f"Gate {gate} · candidate {_short(data.candidate_commit)} vs base {base} · "
        f"policy from {data.gate_source}, rule `{data.rule}`.",
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
    if any(c.key.startswith("gate.") for c in changes):
        lines += [
            "",
            "This report uses the pull request's own gate policy: the base has none (first gate)."
            if data.first_gate
            else "Changes to the gate policy apply once merged; this report uses the policy of "
            "the base.",
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


def render_json(data: ReportData, exit_code: int) -> str:
    """The machine-readable verdict, metrics and intervals, for the workflow."""
    payload = dataclasses.asdict(data)
    payload["passed"] = data.verdict.passed
    payload["exit_code"] = exit_code
    for row, entry in zip(data.metrics, payload["metrics"], strict=True):
        entry["significant"] = row.significant
        entry["improved"] = row.improved
    return json.dumps(payload, indent=2, default=str) + "\n"


def render_short(kind: str, base_rev: str, reason: str, command: str, exit_code: int) -> str:
    """The report when no comparison could be made: the reason, and that the gate failed."""
    if len(reason) > _REASON_CHARS:
        reason = reason[:_REASON_CHARS] + " …"
    meaning = (
        "no verdict could be made, so the gate fails"
        if kind == "no_report"
        else "the gate fails for that reason"
    )
    lines = [
        headline(kind, reason.rstrip(".") + "."),
        "",
        f"Gate **failed** · base `{base_rev}` · `churn report` exited {exit_code}: {meaning}.",
        "",
        "---",
        f"Reproduce locally: `{command}`",
    ]
    return "\n".join(lines) + "\n"


def render_short_json(kind: str, base_rev: str, reason: str, exit_code: int) -> str:
    payload = {
        "base_rev": base_rev,
        "passed": False,
        "exit_code": exit_code,
        "verdict": {"kind": kind, "passed": False, "reason": reason},
    }
    return json.dumps(payload, indent=2) + "\n"
