"""Outcomes join the latest earlier prediction for their id; a bad labels file is refused with
every problem listed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from tests.monitor_material import CONTRACT

from churn.contract import DataValidationError
from churn.monitor import outcomes
from churn.monitor.errors import MonitorError
from churn.monitor.window import Window

T0 = datetime(2025, 5, 5, 12, 0, tzinfo=UTC)


def _window(ids, probabilities, minutes=None) -> Window:
    return Window(
        kind="log",
        source="test",
        examined=len(ids),
        inputs=pd.DataFrame(index=range(len(ids))),
        probability=np.asarray(probabilities, dtype=float),
        ids=pd.Series(ids, dtype="Int64"),
        times=None
        if minutes is None
        else pd.Series([T0 + timedelta(minutes=m) for m in minutes]).astype("datetime64[us, UTC]"),
    )


# Customer 1 was scored at 12:00 (0.1) and 12:30 (0.9), customer 2 at 12:10 (0.4); one request
# carried no id.
WINDOW = _window([1, 2, None, 1], [0.1, 0.4, 0.7, 0.9], [0, 10, 15, 30])


def _labels(tmp_path, text: str, name: str = "labels.csv") -> pd.DataFrame:
    path = tmp_path / name
    path.write_text(text)
    return outcomes.read(str(path), CONTRACT)


def test_each_outcome_joins_the_latest_prediction_at_or_before_it_was_known(tmp_path):
    labels = _labels(
        tmp_path,
        "customer_id,churn,known_at\n"
        "1,Yes,2025-05-05T12:20:00Z\n"  # after the first prediction only
        "1,No,2025-05-05T12:30:00+00:00\n"  # exactly at the second: joins it
        "1,Yes,2025-05-05 11:59:00\n"  # before any prediction (no offset: UTC)
        "2,Yes,2025-05-06T00:00:00Z\n"
        "3,No,2025-05-06T00:00:00Z\n",  # never scored
    )
    joined = outcomes.join(WINDOW, labels, CONTRACT)
    assert (joined.outcomes, joined.rows, joined.share) == (5, 3, 0.6)
    pairs = sorted(zip(joined.frame["probability"], joined.frame["actual"], strict=True))
    assert pairs == [(0.1, 1), (0.4, 1), (0.9, 0)]
    # Each joined row carries its prediction's time (the business metric's periods use it).
    assert sorted(joined.frame["time"]) == [T0 + timedelta(minutes=m) for m in (0, 10, 30)]


def test_without_a_time_each_outcome_joins_its_ids_latest_prediction(tmp_path):
    labels = _labels(tmp_path, "customer_id,churn\n1,Yes\n2,No\n9,No\n")
    joined = outcomes.join(WINDOW, labels, CONTRACT)
    assert dict(zip(joined.frame["probability"], joined.frame["actual"], strict=True)) == {
        0.9: 1,
        0.4: 0,
    }
    assert joined.share == pytest.approx(2 / 3)


def test_a_window_without_times_joins_each_ids_last_row(tmp_path):
    labels = _labels(tmp_path, "customer_id,churn,known_at\n1,Yes,2025-01-01T00:00:00Z\n")
    joined = outcomes.join(_window([1, 1], [0.2, 0.3]), labels, CONTRACT)
    assert joined.frame["probability"].tolist() == [0.3]
    assert "no times" in joined.note


def test_a_window_without_ids_joins_nothing_and_says_why(tmp_path):
    labels = _labels(tmp_path, "customer_id,churn\n1,Yes\n")
    no_ids = Window("log", "test", 1, pd.DataFrame(index=[0]), np.array([0.5]))
    joined = outcomes.join(no_ids, labels, CONTRACT)
    assert joined.rows == 0
    assert joined.share == 0.0
    assert "customer_id" in joined.note
    assert "/predict" in joined.note


def test_ids_are_read_by_the_contracts_id_parser(tmp_path):
    with pytest.raises(DataValidationError) as caught:
        _labels(
            tmp_path,
            "customer_id,churn,known_at\n"
            "007,Yes,2025-05-05T12:00:00Z\n"
            "1,Maybe,2025-05-05T12:00:00Z\n"
            "2,No,yesterday\n"
            ",No,2025-05-05T12:00:00Z\n"
            "3,,2025-05-05T12:00:00Z\n",
        )
    text = str(caught.value)
    assert "the labels file" in text
    assert "column 'customer_id': not an integer id" in text
    assert "line 2 ('007')" in text
    assert "line 5 ('')" in text
    assert (
        "column 'churn': unknown category; allowed: No, Yes in 1 row(s): line 3 ('Maybe')" in text
    )
    assert "column 'churn': blank value" in text
    assert "line 6" in text
    assert "column 'known_at': not an ISO 8601 time in 1 row(s): line 4 ('yesterday')" in text


def test_a_labels_file_needs_the_id_and_the_target_and_a_known_format(tmp_path):
    with pytest.raises(DataValidationError, match=r"missing column\(s\): churn"):
        _labels(tmp_path, "customer_id,outcome\n1,Yes\n")
    with pytest.raises(MonitorError, match=r"expected one of \.csv, \.parquet"):
        outcomes.read(str(tmp_path / "labels.xlsx"), CONTRACT)
    with pytest.raises(MonitorError, match="no labels file"):
        outcomes.read(str(tmp_path / "absent.csv"), CONTRACT)


def test_a_parquet_labels_file_with_typed_columns(tmp_path):
    path = tmp_path / "labels.parquet"
    pd.DataFrame(
        {
            "customer_id": [1, 2],
            "churn": ["Yes", "No"],
            "known_at": pd.to_datetime(["2025-05-05T12:40:00", "2025-05-05T12:05:00"]),
        }
    ).to_parquet(path, index=False)
    labels = outcomes.read(str(path), CONTRACT)
    assert labels["id"].dtype == "int64"
    joined = outcomes.join(WINDOW, labels, CONTRACT)
    # Customer 2's outcome was known at 12:05, before its only prediction (12:10).
    assert joined.frame["probability"].tolist() == [0.9]
