"""What the predictions were worth once the outcomes are known: realized ROC AUC, precision and
recall at the model's threshold, and the business metric of `params.yaml: monitor.business`,
per period of prediction time (UTC).

A row is "flagged" when its probability is at or above the model's threshold (the label the
service answered). The four rates, one definition each:

    precision      actual positives among the flagged rows
    recall         flagged rows among the actual positives
    flagged_rate   flagged rows among all rows
    positive_rate  actual positives among all rows

A rate with nothing to divide by (no row flagged, no positive) is None, shown as "-".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from churn.monitor.outcomes import ACTUAL, PROBABILITY, TIME
from churn.params import BusinessParams

RATES = ("precision", "recall", "flagged_rate", "positive_rate")
# How each period is named in the report, by `BusinessParams.period`.
_PERIOD_NAMES = {"D": "day", "W": "week", "M": "month"}
WHOLE_WINDOW = "whole window"


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def rates(actual: np.ndarray, flagged: np.ndarray) -> dict[str, float | None]:
    actual, flagged = np.asarray(actual, dtype=bool), np.asarray(flagged, dtype=bool)
    hits = int((actual & flagged).sum())
    return {
        "precision": _ratio(hits, int(flagged.sum())),
        "recall": _ratio(hits, int(actual.sum())),
        "flagged_rate": _ratio(int(flagged.sum()), len(actual)),
        "positive_rate": _ratio(int(actual.sum()), len(actual)),
    }


@dataclass(frozen=True)
class Realized:
    rows: int
    roc_auc: float | None
    precision: float | None
    recall: float | None
    # Enough joined outcomes (`monitor.labels.min_rows`) to judge against the floors.
    judged: bool

    def value(self, metric: str) -> float | None:
        return getattr(self, metric)


def realized(joined: pd.DataFrame, threshold: float, min_rows: int) -> Realized:
    actual = joined[ACTUAL].to_numpy(dtype=int)
    probability = joined[PROBABILITY].to_numpy(dtype=float)
    both_classes = len(np.unique(actual)) == 2
    found = rates(actual, probability >= threshold)
    return Realized(
        rows=len(joined),
        roc_auc=float(roc_auc_score(actual, probability)) if both_classes else None,
        precision=found["precision"],
        recall=found["recall"],
        judged=len(joined) >= min_rows,
    )


@dataclass(frozen=True)
class Period:
    name: str
    rows: int
    value: float | None
    # Enough joined outcomes in the period (`monitor.business.min_rows`) to judge it.
    judged: bool
    # "below" the minimum, "above" the maximum, or "" when within (or not judged).
    breach: str


def period_name(params: BusinessParams) -> str:
    return _PERIOD_NAMES[params.period]


def business(joined: pd.DataFrame, params: BusinessParams, threshold: float) -> list[Period]:
    """The business metric per period of prediction time; one period for a window without
    times."""
    times = joined[TIME]
    if joined.empty:
        return []
    if times.isna().all():
        groups = [(WHOLE_WINDOW, joined)]
    else:
        naive = pd.to_datetime(times, utc=True).dt.tz_convert(None)
        keys = naive.dt.to_period(params.period)
        groups = [(str(key), part) for key, part in joined.groupby(keys.to_numpy(), sort=True)]
    out = []
    for name, part in groups:
        actual = part[ACTUAL].to_numpy(dtype=int)
        value = rates(actual, part[PROBABILITY].to_numpy(dtype=float) >= threshold)[params.metric]
        judged = len(part) >= params.min_rows and value is not None
        breach = ""
        if judged and params.minimum is not None and value < params.minimum:
            breach = "below"
        elif judged and params.maximum is not None and value > params.maximum:
            breach = "above"
        out.append(Period(name, len(part), value, judged, breach))
    return out
