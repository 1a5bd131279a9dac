"""The renderer, on hand-made reports: verdict first, each mode said plainly, size bounded."""

from __future__ import annotations

import dataclasses
import json

import pytest

from churn import comment_limit
from churn.release import pr_artifact
from churn.report import render
from churn.report.contents import (
    Curve,
    DataDiff,
    FloorCheck,
    MetricRow,
    ParamChange,
    ReportData,
    Reproducibility,
    Shift,
    Verdict,
)

CURVE = Curve("candidate", tuple(i / 100 for i in range(101)), tuple(i / 100 for i in range(101)))


def _report(**changes) -> ReportData:
    base = ReportData(
        base_rev="main",
        base_commit="0123456789abcdef",
        candidate_commit="fedcba9876543210",
        mode="paired",
        mode_note="Both models scored on the same 1,409 test rows of the candidate.",
        verdict=Verdict("better", True, "ROC AUC improved (+0.0600, 95% CI [+0.0400, +0.0800])."),
        metrics=(
            MetricRow("roc_auc", "ROC AUC", True, 0.84, 0.78, 0.06, 0.04, 0.08),
            MetricRow("log_loss", "Log loss", False, 0.42, 0.43, -0.01, -0.03, 0.01),
        ),
        primary_metric="roc_auc",
        confidence=0.95,
        gate_source="the base revision `main`",
        command="make report BASE=main",
        test_rows=1409,
        floors=(FloorCheck("roc_auc", 0.8, 0.84, True),),
        params_changes=(ParamChange("train.classifier.C", 0.001, 0.5),),
        data_diff=DataDiff(status="identical", base_rows=7043, candidate_rows=7043),
        curves=(dataclasses.replace(CURVE, label="base (main)"), CURVE),
        reproducibility=Reproducibility(True, "the committed dvc.lock matches this run", None, "x"),
    )
    return dataclasses.replace(base, **changes)


def test_first_line_is_the_verdict_with_its_reason():
    """It opens with the verdict and the sentence explaining it."""
    first = render.render(_report()).splitlines()[0]
    assert first.startswith("## ✅ Better:")
    assert "ROC AUC improved" in first


@pytest.mark.parametrize(
    ("kind", "passed", "headline", "gate"),
    [
        ("worse", False, "❌ Worse", "Gate **failed**"),
        ("unchanged", True, "No significant change", "Gate passed"),
        ("worse_tolerated", True, "Worse, within tolerance", "Gate passed"),
        ("inconclusive", False, "Not shown to be within tolerance", "Gate **failed**"),
        ("insufficient_gain", False, "Not enough improvement", "Gate **failed**"),
        ("unpaired_within_policy", True, "unpaired: no interval", "Gate passed"),
        ("no_baseline", True, "No baseline", "Gate passed"),
    ],
)
def test_each_verdict_has_its_headline_and_gate_result(kind, passed, headline, gate):
    text = render.render(_report(verdict=Verdict(kind, passed, "Because.")))
    assert headline in text.splitlines()[0]
    assert gate in text


def test_metrics_table_shows_base_candidate_delta_interval_and_significance():
    text = render.render(_report())
    assert (
        "| ROC AUC (primary) | 0.7800 | 0.8400 | +0.0600 | [+0.0400, +0.0800] | ▲ better |" in text
    )
    assert "| Log loss ↓ | 0.4300 | 0.4200 | -0.0100 | [-0.0300, +0.0100] | not significant |" in (
        text
    )


def test_sections_come_in_order_and_end_with_the_local_command():
    text = render.render(_report())
    order = ["### Metrics", "### Params diff", "### Data diff", "### Charts", "### Reproducibility"]
    positions = [text.index(heading) for heading in order]
    assert positions == sorted(positions)
    assert text.rstrip().endswith("Reproduce locally: `make report BASE=main`")


def test_params_diff_shows_old_and_new_values():
    assert "| `train.classifier.C` | `0.001` | `0.5` |" in render.render(_report())


def test_charts_are_mermaid_blocks_with_both_curves():
    text = render.render(_report())
    assert text.count("```mermaid") == 2
    roc = text[text.index("```mermaid") :]
    assert roc.split("```", 2)[1].count("    line [") == 2


def test_no_baseline_report_has_no_comparison_columns():
    """It shows the candidate's numbers only and says there is no baseline."""
    rows = tuple(
        MetricRow(r.name, r.label, r.higher_is_better, r.candidate) for r in _report().metrics
    )
    text = render.render(
        _report(
            mode="no_baseline",
            mode_note="No baseline: 'main' has no dvc.lock. Only the absolute floors apply.",
            verdict=Verdict("no_baseline", True, "Nothing to compare with."),
            metrics=rows,
            curves=(CURVE,),
            data_diff=DataDiff(status="unavailable", note="no baseline"),
        )
    )
    assert "| Metric | Candidate |" in text
    assert "95% CI" not in text
    assert "Only the absolute floors apply" in text
    assert "Not available: no baseline." in text


def test_unpaired_report_says_so_and_shows_no_interval():
    rows = tuple(dataclasses.replace(r, low=None, high=None) for r in _report().metrics)
    text = render.render(
        _report(mode="unpaired", mode_note="Unpaired: the model is gone.", metrics=rows)
    )
    assert "Unpaired: the model is gone." in text
    assert "n/a (unpaired)" in text
    assert "▲" not in text


def test_changed_data_lists_rows_columns_types_rate_and_shifts():
    diff = DataDiff(
        status="changed",
        base_rows=7043,
        candidate_rows=6500,
        added_columns=("region",),
        removed_columns=("female",),
        type_changes=(("tenure", "int64", "float64"),),
        base_target_rate=0.265,
        candidate_target_rate=0.3,
        shifts=(Shift("tenure", 0.4), Shift("contract", 0.12), Shift("partner", 0.01)),
    )
    text = render.render(_report(data_diff=diff))
    assert "| Rows | 7,043 | 6,500 |" in text
    assert "| Target rate | 26.5% | 30.0% |" in text
    assert "Columns added: `region`." in text
    assert "Columns removed: `female`." in text
    assert "Type of `tenure`: int64 → float64." in text
    assert "| `tenure` | 0.4000 | major |" in text
    assert "| `contract` | 0.1200 | moderate |" in text


def test_long_params_diff_is_cut_under_the_comment_limit_with_a_note():
    """It keeps the comment under GitHub's limit and says how many rows it left out."""
    many = tuple(ParamChange(f"train.key_{i:05d}", "x" * 20, "y" * 20) for i in range(5000))
    text = render.render(_report(params_changes=many))
    assert len(text) <= render.LIMIT
    assert "more changed keys not shown" in text
    assert "### Reproducibility" in text  # later sections survive the cut


def test_text_that_cannot_fit_is_cut_hard_with_a_note():
    text = render.render(_report(mode_note="k" * 200_000), limit=5000)
    assert len(text) <= 5000
    assert text.rstrip().endswith("comment limit.")


def test_headline_marks_qualify_the_verdict_in_the_first_line():
    """A first gate or a biased comparison is said in the headline itself."""
    marks = ("first gate: this pull request's own policy", "unpaired, may be biased")
    first = render.render(_report(headline_marks=marks)).splitlines()[0]
    assert first.startswith("## ✅ Better (first gate: this pull request's own policy; unpaired")


def test_the_gate_line_names_the_rule():
    assert "rule `non_inferior`" in render.render(_report(rule="non_inferior"))


def test_the_renderer_fits_what_the_comment_check_accepts(tmp_path):
    """One limit for both: a report that renders is never refused by the artifact check (the
    renderer once allowed 65,536 characters where the check allowed 65,024)."""
    assert render.LIMIT == comment_limit.MAX_COMMENT_CHARS == pr_artifact.MAX_COMMENT_CHARS
    # Long enough to need cutting at the check's limit, short enough for GitHub's own.
    many = tuple(ParamChange(f"train.key_{i:05d}", "x" * 6, "y" * 6) for i in range(1438))
    report = _report(params_changes=many)
    assert comment_limit.MAX_COMMENT_CHARS < len(render.render(report, limit=65_536)) <= 65_536
    text = render.render(report)
    (tmp_path / "report.md").write_text(text, encoding="utf-8")
    (tmp_path / "pr-number").write_text("7\n", encoding="ascii")
    assert pr_artifact.check(tmp_path)[0] == 7


def test_a_short_report_states_why_there_is_no_verdict():
    text = render.render_short(
        "no_report", "main~9", "the base revision 'main~9' does not resolve", "make report", 2
    )
    assert text.startswith("## ⛔ No report could be made: the base revision 'main~9' does not")
    assert "Gate **failed**" in text
    assert "exited 2" in text
    payload = json.loads(render.render_short_json("no_report", "main~9", "why", 2))
    assert (payload["passed"], payload["exit_code"], payload["verdict"]["kind"]) == (
        False,
        2,
        "no_report",
    )
    long = render.render_short("no_report", "main", "x" * 100_000, "make report", 2)
    assert len(long) < 10_000


def test_a_gate_change_in_the_pull_request_is_flagged_as_not_applied():
    change = (ParamChange("gate.max_regression", 0.005, 0.5),)
    assert "this report uses the policy of the base" in render.render(
        _report(params_changes=change)
    )
    assert "policy of the base" not in render.render(_report())
    first = render.render(_report(params_changes=change, first_gate=True))
    assert "this report uses the pull request's own gate policy" in first.lower()


def test_table_cells_escape_pipes():
    text = render.render(_report(params_changes=(ParamChange("a", "x|y", None),)))
    assert "| `a` | `x\\|y` | — |" in text


def test_json_carries_the_verdict_metrics_and_intervals():
    payload = json.loads(render.render_json(_report(), 0))
    assert payload["passed"] is True
    assert payload["exit_code"] == 0
    assert payload["verdict"]["kind"] == "better"
    assert payload["metrics"][0]["low"] == 0.04
    assert payload["metrics"][0]["significant"] is True
    assert payload["metrics"][1]["significant"] is False


def test_rendering_is_pure():
    report = _report()
    assert render.render(report) == render.render(report)
