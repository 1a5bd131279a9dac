"""The gate: "worse" only when the policy is violated with the stated confidence."""

from __future__ import annotations

import pytest

from churn.params import GateParams
from churn.report import gate
from churn.report.contents import MetricRow

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
    floors = gate.check_floors(policy, values or {"roc_auc": 0.8, "log_loss": 0.4})
    return gate.evaluate(policy, mode, row, floors)


def test_interval_entirely_beyond_the_tolerance_is_worse():
    """It fails the gate when even the best case loses more than the tolerance."""
    verdict = _verdict(_row(-0.03, -0.05, -0.01))
    assert (verdict.kind, verdict.passed) == ("worse", False)
    assert "0.005" in verdict.reason


def test_a_lower_number_whose_interval_reaches_the_tolerance_passes():
    """It does not call a regression "worse" unless the policy is violated with confidence."""
    verdict = _verdict(_row(-0.01, -0.03, -0.001))
    assert (verdict.kind, verdict.passed) == ("unchanged", True)
    assert "within the tolerated regression" in verdict.reason


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
    assert (better.kind, better.passed) == ("unchanged", True)
    assert "no change can be called significant" in better.reason
    assert (worse.kind, worse.passed) == ("worse", False)


def test_policy_naming_an_unknown_metric_is_rejected_with_its_key():
    bad = POLICY.model_copy(update={"floors": {"auc": 0.7}})
    with pytest.raises(gate.GatePolicyError, match=r"gate\.floors\.auc"):
        gate.check_policy(bad)
    with pytest.raises(gate.GatePolicyError, match="primary_metric"):
        gate.check_policy(POLICY.model_copy(update={"primary_metric": "auc"}))
