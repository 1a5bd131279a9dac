"""Where the monitored rows come from: the prediction log (by model version, local or through an
fsspec URL), any raw table judged cell by cell, and the period syntax of MONITOR_WINDOW."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from tests.monitor_material import CONTRACT, fitted, rows, write_log

from churn.monitor import window
from churn.monitor.errors import MonitorError

START = datetime(2025, 5, 5, 23, 0, tzinfo=UTC)  # the rows cross midnight into 6 May
END = datetime(2025, 5, 6, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def model():
    return fitted(rows(2000, 1))


def test_a_period_is_whole_hours_days_or_weeks():
    assert window.parse_period("24h") == timedelta(hours=24)
    assert window.parse_period("7d") == timedelta(days=7)
    assert window.parse_period("2w") == timedelta(weeks=2)
    for bad in ("7", "1.5d", "0d", "d", "-1d", "7 days"):
        with pytest.raises(MonitorError, match="not a period"):
            window.parse_period(bad)


def test_monitor_window_names_a_location_and_optionally_a_period():
    spec = window.parse_window("s3://bucket/predictions 24h", END)
    assert (spec.location, spec.start, spec.end) == (
        "s3://bucket/predictions",
        END - timedelta(hours=24),
        END,
    )
    default = window.parse_window("/var/log/my predictions", END)
    assert default.location == "/var/log/my predictions"
    assert default.period == timedelta(days=7)
    with pytest.raises(MonitorError, match="empty"):
        window.parse_window("  ", END)


def _logged(tmp_path, model):
    frame = rows(300, 5)
    probabilities = model.predict_proba(frame[list(CONTRACT.feature_names)])
    directory = tmp_path / "log"
    write_log(directory, frame.iloc[:200], probabilities[:200], version="a" * 64, start=START,
              step=timedelta(seconds=30))  # fmt: skip
    other = directory / "other"
    write_log(other, frame.iloc[200:], probabilities[200:], version="b" * 64,
              start=START + timedelta(minutes=60), step=timedelta(seconds=30))  # fmt: skip
    for path in other.rglob("*.jsonl"):  # the same partitions, another writer
        path.rename(directory / path.parent.name / path.name.replace("test-host", "other-host"))
    return directory, frame, probabilities


def test_the_log_window_is_the_dominant_versions_rows_the_others_counted(tmp_path, model):
    directory, frame, probabilities = _logged(tmp_path, model)
    found = window.from_log(window.LogWindow(str(directory), END - START, END), CONTRACT, "a" * 64)
    assert found.kind == "log"
    assert found.rows == found.examined == 200
    assert found.other_versions == {"b" * 64: 100}
    np.testing.assert_array_equal(found.probability, probabilities[:200])
    assert found.ids.tolist() == frame["customer_id"].iloc[:200].tolist()
    assert found.times.is_monotonic_increasing
    assert found.times.iloc[0] == START
    assert found.times.iloc[-1] == START + 199 * timedelta(seconds=30)  # past midnight
    # The personal column is never logged, so it is absent, not drifted.
    assert found.absent == ("secret",)
    assert list(found.inputs.columns) == ["plan", "tenure", "paperless", "charges", "total"]
    pd.testing.assert_frame_equal(
        found.inputs,
        window.typed_inputs(CONTRACT, frame.iloc[:200].reset_index(drop=True)).drop(
            columns="secret"
        ),
    )
    assert found.outside == dict.fromkeys(found.inputs.columns, 0)


def test_a_window_of_another_model_version_says_which_and_how_to_get_it(tmp_path, model):
    directory, _, _ = _logged(tmp_path, model)
    spec = window.LogWindow(str(directory), END - START, END)
    with pytest.raises(MonitorError) as caught:
        window.from_log(spec, CONTRACT, "c" * 64)
    message = str(caught.value)
    assert "200 of the window's 300 rows were scored by model aaaaaaaaaaaa" in message
    assert "--model is cccccccccccc" in message
    assert "dvc checkout" in message
    assert "git log" in message


def test_only_rows_inside_the_window_count(tmp_path, model):
    directory, _, _ = _logged(tmp_path, model)
    half = window.LogWindow(str(directory), timedelta(minutes=50), START + timedelta(minutes=50))
    found = window.from_log(half, CONTRACT, "a" * 64)
    assert found.rows == 100  # one row each 30 s from 23:00; version b's start at midnight
    assert found.other_versions == {}
    assert found.times.max() < half.end


def test_an_fsspec_url_reads_the_same_window_as_the_directory(tmp_path, model):
    directory, _, _ = _logged(tmp_path, model)
    local = window.from_log(window.LogWindow(str(directory), END - START, END), CONTRACT, "a" * 64)
    remote = window.from_log(
        window.LogWindow(directory.as_uri(), END - START, END), CONTRACT, "a" * 64
    )
    pd.testing.assert_frame_equal(remote.inputs, local.inputs)
    np.testing.assert_array_equal(remote.probability, local.probability)
    assert remote.other_versions == local.other_versions


def test_an_empty_window_cannot_be_judged(tmp_path, model):
    directory, _, _ = _logged(tmp_path, model)
    later = window.LogWindow(str(directory), timedelta(days=1), END + timedelta(days=3))
    with pytest.raises(MonitorError, match="no predictions were logged"):
        window.from_log(later, CONTRACT, "a" * 64)
    with pytest.raises(MonitorError, match="not a directory"):
        window.from_log(window.LogWindow(str(tmp_path / "nowhere"), timedelta(days=1), END),
                        CONTRACT, "a" * 64)  # fmt: skip


def _raw_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed rows back to the raw table's text, as a CSV holds them."""
    text = (
        frame.drop(columns="churn")
        .astype(object)
        .map(lambda v: f"{v:g}" if isinstance(v, float) else str(v))
    )
    return text.assign(churn=np.where(frame["churn"] == 1, "Yes", "No"))


def test_a_table_is_judged_cell_by_cell_and_its_good_rows_scored(tmp_path, model):
    frame = rows(100, 7)
    text = _raw_text(frame)
    text.loc[[3, 4, 5], "tenure"] = ["-1", "abc", ""]  # below min, not a number, blank
    text.loc[[5, 6], "plan"] = ["gold", "Basic"]  # unknown categories (row 5 twice wrong)
    text.loc[8, "customer_id"] = "007"  # not an integer id: counted, the row still scored
    text.loc[9, "total"] = ""  # a derived blank: filled, not refused
    path = tmp_path / "latest.csv"
    text.to_csv(path, index=False)
    found = window.from_table(path, CONTRACT, model)
    assert found.kind == "table"
    assert found.examined == 100
    assert found.outside == {
        "plan": 2, "tenure": 3, "paperless": 0, "charges": 0, "total": 0, "secret": 0,
        "customer_id": 1,
    }  # fmt: skip
    assert found.rows == 96  # rows 3, 4, 5 and 6 cannot be scored
    kept = frame.drop(index=[3, 4, 5, 6]).reset_index(drop=True)
    expected = model.predict_proba(kept[list(CONTRACT.feature_names)])
    np.testing.assert_allclose(found.probability, expected)
    assert found.ids.isna().sum() == 1
    assert found.inputs.loc[5, "total"] == pytest.approx(
        kept.loc[5, "tenure"] * kept.loc[5, "charges"]
    )


def test_a_derived_blank_outside_the_columns_bounds_is_outside_the_contract(tmp_path, model):
    text = _raw_text(rows(20, 8))
    text.loc[2, ["tenure", "charges", "total"]] = ["120", "200", ""]  # 24000: above its max
    text.loc[3, ["tenure", "charges", "total"]] = ["0", "50", ""]  # 0: a value it may hold
    assert CONTRACT.feature("total").maximum < 120 * 200
    path = tmp_path / "t.csv"
    text.to_csv(path, index=False)
    found = window.from_table(path, CONTRACT, model)
    assert found.outside["total"] == 1
    assert sum(found.outside.values()) == 1
    assert found.rows == 19
    assert 0.0 in found.inputs["total"].tolist()


def test_a_parquet_table_is_read_as_text_like_a_csv(tmp_path, model):
    frame = rows(50, 9)
    frame.loc[[1, 2], "plan"] = [None, "gold"]
    path = tmp_path / "latest.parquet"
    frame.to_parquet(path, index=False)
    found = window.from_table(path, CONTRACT, model)
    assert found.outside["plan"] == 2  # a null is a blank, which this column refuses
    assert found.rows == 48


def test_a_table_without_a_models_input_or_in_another_format_is_refused(tmp_path, model):
    path = tmp_path / "t.csv"
    _raw_text(rows(5, 1)).drop(columns="tenure").to_csv(path, index=False)
    with pytest.raises(MonitorError, match="lacks the model's input column"):
        window.from_table(path, CONTRACT, model)
    other = tmp_path / "t.json"
    other.write_text("{}")
    with pytest.raises(MonitorError, match=r"expected one of \.csv, \.parquet"):
        window.from_table(other, CONTRACT, model)
