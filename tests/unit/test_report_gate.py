"""The gate: the words say what the interval shows, and the rule decides whether it passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from churn import metrics, params
from churn.params import GateParams
from churn.report import gate
from churn.report.contents import MetricRow

GATE_FILE = Path(__file__).resolve().parents[2] / "gate.yaml"

POLICY = GateParams(
    primary_metric="roc_auc",
    confidence=0.95,
    max_regression=0.005,
    min_improvement=0.0,
    floors={"roc_auc": 0.7, "log_loss": 0.6},
)


def _row(delta, low, high, name="roc_auc", *, higher=True, value=0.8):
    return MetricRow(
        name=name,
        label=name,
        higher_is_better=higher,
        candidate=value,
        base=value - delta,
        delta=delta,
        low=low,
        high=high,
    )


def _verdict(row, policy=POLICY, mode="paired", values=None):
    values = values or {"roc_auc": 0.8, "log_loss": 0.4, "f1": 0.6, "average_precision": 0.6}
    floors = gate.check_floors(policy, values)
    return gate.evaluate(policy, mode, row, floors)


def test_interval_entirely_beyond_the_tolerance_is_worse():
    """It fails the gate when even the best case loses more than the tolerance."""
    verdict = _verdict(_row(-0.03, -0.05, -0.01))
    assert (verdict.kind, verdict.passed) == ("worse", False)
    assert "0.005" in verdict.reason


def test_a_lower_number_whose_interval_reaches_the_tolerance_passes():
    """Rule not_worse: it does not fail a regression unless the policy is violated with
    confidence; the interval excludes 0, so the change is called significant, not "no
    significant change"."""
    verdict = _verdict(_row(-0.01, -0.03, -0.001))
    assert (verdict.kind, verdict.passed) == ("worse_tolerated", True)
    assert "significantly worse, but within the tolerated regression" in verdict.reason


def test_the_issue_example_is_called_worse_within_tolerance_not_no_change():
    """ROC AUC -0.0127, 95% CI [-0.0201, -0.0042]: significant, and inside a 0.005 tolerance."""
    verdict = _verdict(_row(-0.0127, -0.0201, -0.0042))
    assert verdict.kind == "worse_tolerated"
    assert verdict.passed
    assert "did not change significantly" not in verdict.reason


@pytest.mark.parametrize(
    ("low", "high", "not_worse", "non_inferior"),
    [
        (0.01, 0.03, ("better", True), ("better", True)),
        (-0.002, 0.004, ("unchanged", True), ("unchanged", True)),
        # Contains 0 but reaches below -0.005: only non_inferior refuses it.
        (-0.02, 0.01, ("unchanged", True), ("inconclusive", False)),
        (-0.004, -0.001, ("worse_tolerated", True), ("worse_tolerated", True)),
        # Below 0, reaching past the tolerance without lying wholly beyond it.
        (-0.02, -0.001, ("worse_tolerated", True), ("inconclusive", False)),
        (-0.03, -0.01, ("worse", False), ("worse", False)),
    ],
)
def test_each_rule_reads_the_interval_against_the_tolerance(low, high, not_worse, non_inferior):
    """not_worse fails only an interval wholly below -max_regression; non_inferior passes only
    one wholly above it. The words (kind) follow the interval under either rule."""
    row = _row((low + high) / 2, low, high)
    for rule, expected in (("not_worse", not_worse), ("non_inferior", non_inferior)):
        verdict = _verdict(row, POLICY.model_copy(update={"rule": rule}))
        assert (verdict.kind, verdict.passed) == expected, rule


def test_non_inferior_cannot_be_shown_without_an_interval():
    """Unpaired, there is no interval to show non-inferiority with: the gate fails, saying so."""
    policy = POLICY.model_copy(update={"rule": "non_inferior"})
    verdict = _verdict(_row(0.01, None, None), policy, mode="unpaired")
    assert (verdict.kind, verdict.passed) == ("inconclusive", False)
    assert "unpaired" in verdict.reason


def test_the_rule_defaults_to_not_worse_for_policies_written_before_it():
    raw = POLICY.model_dump()
    del raw["rule"]
    assert params.parse_gate(raw).rule == "not_worse"
    with pytest.raises(params.ParamsError, match="rule"):
        params.parse_gate({**raw, "rule": "lenient"})


def test_default_floors_fail_a_model_that_labels_nobody_positive():
    """The shipped gate.yaml catches a model that ranks well but whose probabilities never reach
    the threshold (F1 = 0): ranking metrics alone would let it through."""
    policy = params.load_gate(GATE_FILE)
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.27).astype(int)
    # Ranks churners first (ROC AUC near 1) yet never reaches the 0.5 threshold.
    scores = np.clip(0.05 + 0.3 * y + 0.1 * rng.random(2000), 0, 0.45)
    values = metrics.score_all(y, scores, 0.5)
    assert values["roc_auc"] > 0.95
    assert values["f1"] == 0.0
    failed = [c.metric for c in gate.check_floors(policy, values) if not c.passed]
    assert failed == ["f1"]
    verdict = _verdict(_row(0.0, -0.001, 0.001), policy, values=values)
    assert (verdict.kind, verdict.passed) == ("worse", False)
    assert "F1 0.0000 is below its floor" in verdict.reason


def test_interval_containing_zero_is_no_significant_change():
    verdict = _verdict(_row(0.001, -0.004, 0.006))
    assert (verdict.kind, verdict.passed) == ("unchanged", True)
    assert "did not change significantly" in verdict.reason


def test_interval_above_zero_is_better():
    verdict = _verdict(_row(0.04, 0.02, 0.06))
    assert (verdict.kind, verdict.passed) == ("better", True)


def test_lower_is_better_metric_reads_a_drop_as_an_improvement():
    """It uses the metric's direction: a lower log loss is better."""
    policy = POLICY.model_copy(update={"primary_metric": "log_loss"})
    row = _row(-0.05, -0.07, -0.03, "log_loss", higher=False, value=0.4)
    assert _verdict(row, policy).kind == "better"
    assert (
        _verdict(_row(0.05, 0.03, 0.07, "log_loss", higher=False, value=0.4), policy).kind
        == "worse"
    )


def test_floor_failure_fails_the_gate_even_when_better():
    verdict = _verdict(_row(0.04, 0.02, 0.06), values={"roc_auc": 0.65, "log_loss": 0.4})
    assert (verdict.kind, verdict.passed) == ("worse", False)
    assert "below its floor 0.7" in verdict.reason


def test_floor_of_a_lower_is_better_metric_is_a_ceiling():
    checks = gate.check_floors(POLICY, {"roc_auc": 0.8, "log_loss": 0.65})
    failed = [c.metric for c in checks if not c.passed]
    assert failed == ["log_loss"]


def test_no_baseline_passes_on_floors_alone():
    row = MetricRow("roc_auc", "ROC AUC", True, candidate=0.8)
    verdict = _verdict(row, mode="no_baseline")
    assert (verdict.kind, verdict.passed) == ("no_baseline", True)


def test_no_baseline_still_fails_on_a_floor():
    row = MetricRow("roc_auc", "ROC AUC", True, candidate=0.6)
    verdict = _verdict(row, mode="no_baseline", values={"roc_auc": 0.6, "log_loss": 0.4})
    assert (verdict.kind, verdict.passed) == ("worse", False)
    assert "No baseline" in verdict.reason


def test_minimum_improvement_requires_confident_gain():
    """It fails a non-significant change when the policy asks for a minimum improvement."""
    policy = POLICY.model_copy(update={"min_improvement": 0.01})
    assert not _verdict(_row(0.012, 0.002, 0.02), policy).passed
    assert _verdict(_row(0.04, 0.02, 0.06), policy).passed


def test_unpaired_applies_the_tolerance_to_the_recorded_difference():
    """Without intervals it never claims significance, and fails a drop beyond the tolerance."""
    better = _verdict(_row(0.04, None, None), mode="unpaired")
    worse = _verdict(_row(-0.02, None, None), mode="unpaired")
    assert (better.kind, better.passed) == ("unpaired_within_policy", True)
    assert "no change can be called significant" in better.reason
    assert (worse.kind, worse.passed) == ("worse", False)


def test_policy_naming_an_unknown_metric_is_rejected_with_its_key():
    bad = POLICY.model_copy(update={"floors": {"auc": 0.7}})
    with pytest.raises(gate.GatePolicyError, match=r"gate\.floors\.auc"):
        gate.check_policy(bad)
    with pytest.raises(gate.GatePolicyError, match="primary_metric"):
        gate.check_policy(POLICY.model_copy(update={"primary_metric": "auc"}))
