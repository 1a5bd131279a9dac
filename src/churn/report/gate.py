"""The gate: does the candidate meet the policy (`gate.yaml`, read from the base revision)?

Two things are said separately, and the words must match the numbers. What the interval of the
primary metric's change shows: better (above 0), no significant change (contains 0), worse
(below 0). And whether the gate passes, by the policy's `rule`: `not_worse` fails a candidate
only when the whole interval lies below -max_regression; `non_inferior` passes it only when the
whole interval lies above -max_regression. So a significant drop within the tolerance passes
as "worse, within tolerance", never as "no significant change". Absolute floors apply always,
with or without a baseline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from churn.metrics import METRICS
from churn.params import GateParams
from churn.report.contents import FloorCheck, MetricRow, Mode, Verdict


class GatePolicyError(ValueError):
    """The gate policy names a metric that does not exist."""


def check_policy(policy: GateParams) -> None:
    """Fail with the offending key when the policy names an unknown metric."""
    known = ", ".join(METRICS)
    if policy.primary_metric not in METRICS:
        raise GatePolicyError(
            f"gate.primary_metric: '{policy.primary_metric}' is not a metric (known: {known})"
        )
    for name in policy.floors:
        if name not in METRICS:
            raise GatePolicyError(f"gate.floors.{name}: not a metric (known: {known})")


def check_floors(policy: GateParams, candidate: Mapping[str, float]) -> tuple[FloorCheck, ...]:
    """Each floor is a minimum for higher-is-better metrics and a maximum for the others."""
    checks = []
    for name, floor in policy.floors.items():
        value = candidate[name]
        higher = METRICS[name].higher_is_better
        passed = value >= floor if higher else value <= floor
        checks.append(FloorCheck(name, floor, value, passed, higher_is_better=higher))
    return tuple(checks)


def _fmt(value: float) -> str:
    return f"{value:+.4f}"


def _floor_failure(failed: Sequence[FloorCheck]) -> str:
    parts = []
    for check in failed:
        side = "below its floor" if METRICS[check.metric].higher_is_better else "above its ceiling"
        parts.append(f"{METRICS[check.metric].label} {check.value:.4f} is {side} {check.floor:g}")
    return "; ".join(parts)


def _gain(row: MetricRow, value: float) -> float:
    """A change expressed so that positive always means better."""
    return value if row.higher_is_better else -value


def _interval_text(policy: GateParams, primary: MetricRow) -> str:
    return (
        f"{_fmt(primary.delta)}, {policy.confidence:.0%} CI "
        f"[{primary.low:+.4f}, {primary.high:+.4f}]"
    )


def evaluate(
    policy: GateParams, mode: Mode, primary: MetricRow, floors: Sequence[FloorCheck]
) -> Verdict:
    """The verdict on the candidate, with the one sentence that explains it."""
    failed = [f for f in floors if not f.passed]
    label = primary.label
    if mode == "no_baseline" or primary.delta is None:
        if failed:
            return Verdict(
                "worse", False, f"No baseline to compare with, and {_floor_failure(failed)}."
            )
        return Verdict(
            "no_baseline",
            True,
            "Nothing to compare with at the base revision; the candidate meets every floor.",
        )
    gain = _gain(primary, primary.delta)
    if mode != "paired" or primary.low is None or primary.high is None:
        return _unpaired(policy, label, gain, primary.delta, failed)
    worst, best = sorted((_gain(primary, primary.low), _gain(primary, primary.high)))
    interval = _interval_text(policy, primary)
    tolerance = policy.max_regression
    if failed:
        return Verdict("worse", False, f"{_floor_failure(failed)} ({label} {interval}).")
    if best < -tolerance:
        return Verdict(
            "worse",
            False,
            f"{label} is worse by more than the tolerated {tolerance:g} "
            f"with {policy.confidence:.0%} confidence ({interval}).",
        )
    if policy.rule == "non_inferior" and worst <= -tolerance:
        return Verdict(
            "inconclusive",
            False,
            f"{label} is not shown to be within the tolerated regression of {tolerance:g}: "
            f"the interval reaches below -{tolerance:g} ({interval}; rule non_inferior).",
        )
    if policy.min_improvement > 0 and worst < policy.min_improvement:
        return Verdict(
            "insufficient_gain",
            False,
            f"The policy requires {label} to improve by at least {policy.min_improvement:g} "
            f"with {policy.confidence:.0%} confidence ({interval}).",
        )
    if worst > 0:
        return Verdict("better", True, f"{label} improved ({interval}).")
    if best < 0:
        return Verdict(
            "worse_tolerated",
            True,
            f"{label} is significantly worse, but within the tolerated regression of "
            f"{tolerance:g} ({interval}).",
        )
    return Verdict("unchanged", True, f"{label} did not change significantly ({interval}).")


def _unpaired(
    policy: GateParams, label: str, gain: float, delta: float, failed: Sequence[FloorCheck]
) -> Verdict:
    """Only the recorded numbers: no interval, so no change can be called significant, and the
    tolerance is applied to the observed difference itself."""
    observed = f"{_fmt(delta)}, unpaired: no confidence interval"
    if failed:
        return Verdict("worse", False, f"{_floor_failure(failed)} ({label} {observed}).")
    if gain < -policy.max_regression:
        return Verdict(
            "worse",
            False,
            f"{label} is worse by more than the tolerated {policy.max_regression:g} ({observed}).",
        )
    if policy.rule == "non_inferior":
        return Verdict(
            "inconclusive",
            False,
            f"{label} changed by {_fmt(delta)}, but rule non_inferior needs a paired "
            "confidence interval to show it is within the tolerated regression, and this "
            "comparison is unpaired.",
        )
    if policy.min_improvement > 0 and gain < policy.min_improvement:
        return Verdict(
            "insufficient_gain",
            False,
            f"The policy requires {label} to improve by at least {policy.min_improvement:g} "
            f"({observed}).",
        )
    return Verdict(
        "unpaired_within_policy",
        True,
        f"{label} changed by {_fmt(delta)}, within the policy; without paired scores no change "
        "can be called significant.",
    )
