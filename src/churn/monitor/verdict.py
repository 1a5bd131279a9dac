"""Which thresholds of `params.yaml: monitor:` the findings cross. Only effect sizes and rates
are compared, never a p-value.

| alert name          | fires when                                                    |
|---------------------|---------------------------------------------------------------|
| `drift:<feature>`   | the feature's PSI against the training split >= drift.feature |
| `probability_drift` | the predicted probability's PSI >= drift.probability          |
| `outside:<column>`  | the share of its cells outside the contract > max_out_of_contract |
| `missing:<feature>` | its share of blanks exceeds training's by > max_missing_increase |
| `quality:<metric>`  | a realized metric < labels.floors[metric] (labels.min_rows joined) |
| `business:<metric>` | a period's value < business.minimum or > business.maximum     |
"""

from __future__ import annotations

from churn.monitor.findings import Alert, Findings
from churn.monitor.quality import Period
from churn.params import MonitorParams

_LISTED_PERIODS = 5


def _drift(findings: Findings, params: MonitorParams) -> list[Alert]:
    out = []
    for feature in findings.features:
        if feature.psi is not None and feature.psi >= params.drift.feature:
            out.append(
                Alert(
                    f"drift:{feature.name}",
                    "drift",
                    feature.name,
                    feature.psi,
                    params.drift.feature,
                    f"{feature.name} moved away from the training data (PSI {feature.psi:.3f})",
                )
            )
    probability = findings.probability
    if probability.psi >= params.drift.probability:
        out.append(
            Alert(
                "probability_drift",
                "probability_drift",
                None,
                probability.psi,
                params.drift.probability,
                f"the predicted probabilities moved (PSI {probability.psi:.3f}; mean "
                f"{probability.mean_reference:.3f} in training, {probability.mean_window:.3f} now)",
            )
        )
    return out


def _data(findings: Findings, params: MonitorParams) -> list[Alert]:
    out = []
    for column, share in findings.outside.items():
        if share > params.max_out_of_contract:
            out.append(
                Alert(
                    f"outside:{column}",
                    "outside_contract",
                    column,
                    share,
                    params.max_out_of_contract,
                    f"{share:.1%} of {column}'s values are outside the contract",
                )
            )
    for feature in findings.features:
        if feature.missing_window is None:
            continue
        increase = feature.missing_window - feature.missing_reference
        if increase > params.max_missing_increase:
            out.append(
                Alert(
                    f"missing:{feature.name}",
                    "missing",
                    feature.name,
                    increase,
                    params.max_missing_increase,
                    f"{feature.name} is blank in {feature.missing_window:.1%} of the rows "
                    f"({feature.missing_reference:.1%} in training)",
                )
            )
    return out


def _outcomes(findings: Findings, params: MonitorParams) -> list[Alert]:
    outcomes = findings.outcomes
    if outcomes is None:
        return []
    out = []
    if outcomes.realized.judged:
        for metric, floor in params.labels.floors.items():
            value = outcomes.realized.value(metric)
            if value is not None and value < floor:
                out.append(
                    Alert(
                        f"quality:{metric}",
                        "quality",
                        metric,
                        value,
                        floor,
                        f"realized {metric} {value:.3f} on {outcomes.realized.rows:,} outcomes, "
                        f"below the floor {floor}",
                    )
                )
    business = params.business
    breached = [p for p in outcomes.periods if p.breach]
    if breached:

        def bound(period: Period) -> float:
            limit = business.minimum if period.breach == "below" else business.maximum
            assert limit is not None
            return limit

        # The period furthest outside its bound is the one the alert shows.
        worst = max(breached, key=lambda p: abs((p.value or 0.0) - bound(p)))
        assert worst.value is not None
        # A few names, so that a long window of daily periods keeps the message short.
        names = ", ".join(p.name for p in breached[:_LISTED_PERIODS])
        if len(breached) > _LISTED_PERIODS:
            names += f" and {len(breached) - _LISTED_PERIODS} more"
        limit = bound(worst)
        out.append(
            Alert(
                f"business:{business.metric}",
                "business",
                business.metric,
                worst.value,
                limit,
                f"{business.name}: {worst.value:.3f} in {worst.name}, {worst.breach} {limit} "
                f"({len(breached)} period(s) out of bounds: {names})",
            )
        )
    return out


def alerts(findings: Findings, params: MonitorParams) -> list[Alert]:
    """Every alert the findings raise, in a stable order."""
    return _drift(findings, params) + _data(findings, params) + _outcomes(findings, params)
