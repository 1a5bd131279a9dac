"""The gate: does the candidate meet the policy in `params.yaml` `gate:`?

"Worse" means the policy is violated with the stated confidence, not that a number went down:
the whole confidence interval of the primary metric's change must lie beyond the tolerated
regression. Absolute floors apply always, with or without a baseline.
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
    if mode != "paired":
        return _unpaired(policy, label, gain, primary.delta, failed)
    worst, best = sorted((_gain(primary, primary.low), _gain(primary, primary.high)))
    interval = (
        f"{_fmt(primary.delta)}, {policy.confidence:.0%} CI "
        f"[{primary.low:+.4f}, {primary.high:+.4f}]"
    )
    if failed:
        return Verdict("worse", False, f"{_floor_failure(failed)} ({label} {interval}).")
    if best < -policy.max_regression:
        return Verdict(
            "worse",
            False,
            f"{label} is worse by more than the tolerated {policy.max_regression:g} "
            f"with {policy.confidence:.0%} confidence ({interval}).",
        )
    if policy.min_improvement > 0 and worst < policy.min_improvement:
        return Verdict(
            "better" if worst > 0 else "unchanged",
            False,
            f"The policy requires {label} to improve by at least {policy.min_improvement:g} "
            f"with {policy.confidence:.0%} confidence ({interval}).",
        )
    if worst > 0:
        return Verdict("better", True, f"{label} improved ({interval}).")
    if best < 0:
        return Verdict(
            "unchanged",
            True,
            f"{label} is lower, but within the tolerated regression of "
            f"{policy.max_regression:g} ({interval}).",
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
    if policy.min_improvement > 0 and gain < policy.min_improvement:
        return Verdict(
            "unchanged",
            False,
            f"The policy requires {label} to improve by at least {policy.min_improvement:g} "
            f"({observed}).",
        )
    return Verdict(
        "unchanged",
        True,
        f"{label} changed by {_fmt(delta)} within the policy; without paired scores no change "
        "can be called significant.",
    )
