"""Realized quality and the business metric: one definition per rate, computed per period of
prediction time, judged only with enough outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from churn.monitor import quality
from churn.params import BusinessParams


def _business(**changes) -> BusinessParams:
    values = {
        "name": "churners among the flagged",
        "metric": "precision",
        "period": "W",
        "minimum": 0.5,
        "maximum": None,
        "min_rows": 4,
    }
    return BusinessParams(**(values | changes))


def _joined(probability, actual, days) -> pd.DataFrame:
    start = datetime(2025, 5, 5, 9, tzinfo=UTC)  # a Monday
    return pd.DataFrame(
        {
            "probability": probability,
            "time": pd.Series([start + timedelta(days=d) for d in days]).astype(
                "datetime64[ns, UTC]"
            ),
            "actual": actual,
        }
    )


def test_the_rates_agree_with_scikit_learns_definitions():
    rng = np.random.default_rng(3)
    actual = rng.integers(0, 2, 500)
    flagged = rng.integers(0, 2, 500).astype(bool)
    found = quality.rates(actual, flagged)
    assert found["precision"] == pytest.approx(precision_score(actual, flagged))
    assert found["recall"] == pytest.approx(recall_score(actual, flagged))
    assert found["flagged_rate"] == pytest.approx(flagged.mean())
    assert found["positive_rate"] == pytest.approx(actual.mean())
    nothing_flagged = quality.rates(np.array([1, 0]), np.array([False, False]))
    assert nothing_flagged["precision"] is None
    assert nothing_flagged["recall"] == 0.0


def test_realized_quality_at_the_models_threshold():
    joined = _joined([0.9, 0.8, 0.3, 0.6, 0.1, 0.2], [1, 0, 1, 1, 0, 0], range(6))
    found = quality.realized(joined, threshold=0.6, min_rows=6)
    assert found.roc_auc == pytest.approx(roc_auc_score(joined["actual"], joined["probability"]))
    assert found.precision == pytest.approx(2 / 3)  # 0.9, 0.8, 0.6 flagged; two churned
    assert found.recall == pytest.approx(2 / 3)
    assert found.judged
    assert not quality.realized(joined, 0.6, min_rows=7).judged
    one_class = quality.realized(joined.assign(actual=1), 0.6, 1)
    assert one_class.roc_auc is None


def test_the_business_metric_per_week_judges_only_full_enough_weeks():
    # Week of 5 May: 4 flagged, 1 churned (0.25, judged, below 0.5); week of 12 May: 3 rows.
    joined = _joined(
        [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1],
        [1, 0, 0, 0, 1, 1, 0],
        [0, 1, 2, 6, 7, 8, 9],
    )
    periods = quality.business(joined, _business(), threshold=0.5)
    assert [(p.name, p.rows, p.value, p.judged, p.breach) for p in periods] == [
        ("2025-05-05/2025-05-11", 4, 0.25, True, "below"),
        ("2025-05-12/2025-05-18", 3, 1.0, False, ""),
    ]


@pytest.mark.parametrize(
    ("period", "names"),
    [("D", ["2025-05-05", "2025-05-06", "2025-06-04"]), ("M", ["2025-05", "2025-06"])],
)
def test_days_and_months_are_utc_calendar_periods(period, names):
    joined = _joined([0.9, 0.2, 0.7], [1, 0, 1], [0, 1, 30])
    periods = quality.business(joined, _business(period=period, min_rows=1), 0.5)
    assert [p.name for p in periods] == names


def test_a_maximum_bounds_a_rate_from_above_and_a_window_without_times_is_one_period():
    joined = _joined([0.9, 0.9, 0.2, 0.1], [1, 0, 0, 0], [0, 0, 0, 0]).assign(time=pd.NaT)
    bounded = _business(metric="flagged_rate", minimum=None, maximum=0.3, min_rows=4)
    (period,) = quality.business(joined, bounded, 0.5)
    assert (period.name, period.value, period.breach) == (quality.WHOLE_WINDOW, 0.5, "above")
    assert quality.business(joined.iloc[:0], bounded, 0.5) == []
