"""The prediction log's format: lines as documented, read back as one typed table by window."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn.artifacts import prediction_log as pl

T0 = datetime(2025, 5, 1, 23, 59, 59, 500000, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1)


def _format(**overrides) -> pl.RowFormat:
    fields = {
        "model_version": "abc",
        "threshold": 0.5,
        "columns": ("tenure", "contract"),
        "id_name": "customer_id",
    } | overrides
    return pl.RowFormat(**fields)


def _write(directory: Path, opened: datetime, data: bytes, *, closed: bool = True) -> Path:
    folder = directory / pl.partition(opened.date())
    folder.mkdir(parents=True, exist_ok=True)
    name = pl.file_name(opened, "host", 7)
    path = folder / (name.removesuffix(pl.OPEN_SUFFIX) if closed else name)
    path.write_bytes(data)
    return path


def _lines(at: datetime, rows: int, request_id: str = "r", ids=None, first: float = 0.0) -> bytes:
    columns = {
        "tenure": [float(i) for i in range(rows)],
        "contract": ["One year"] * rows,
        "gender": ["secret"] * rows,
    }
    scores = np.linspace(first, 1.0, rows) if rows > 1 else np.array([first])
    request = pl.Request(request_id, _us(at), "/predict")
    return _format().lines(request, columns, ids, scores, range(rows))


def test_a_line_has_the_documented_keys_in_order_and_only_the_chosen_columns() -> None:
    request = pl.Request("req-1", _us(T0), "/predict")
    columns = {"tenure": [3.0, 5.0], "contract": ["One year", "Two year"], "gender": ["a", "b"]}
    data = _format().lines(request, columns, [11, None], np.array([0.2, 0.7]), [0, 1])
    first, second = (json.loads(line) for line in data.splitlines())
    assert list(first) == [
        "request_id", "time", "model_version", "endpoint", "row",
        "customer_id", "tenure", "contract", "probability", "label",
    ]  # fmt: skip
    assert first["time"] == "2025-05-01T23:59:59.500000Z"
    assert (first["customer_id"], first["label"], first["row"]) == (11, False, 0)
    assert (second["customer_id"], second["label"], second["probability"]) == (None, True, 0.7)
    assert "gender" not in data.decode()


def test_only_kept_rows_are_written_and_an_excluded_id_is_absent() -> None:
    request = pl.Request("r", _us(T0), "/invocations")
    columns = {"tenure": [1.0, 2.0, 3.0], "contract": ["x", "y", "z"]}
    data = _format(id_name=None).lines(request, columns, None, np.array([0.1, 0.2, 0.3]), [2])
    (line,) = (json.loads(text) for text in data.splitlines())
    assert line["row"] == 2
    assert "customer_id" not in line
    assert _format().lines(request, columns, None, np.array([0.1, 0.2, 0.3]), []) == b""


@pytest.mark.parametrize("name", ["time", "label", "probability", "request_id"])
def test_an_input_named_like_a_log_key_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        _format(columns=("tenure", name))


def test_time_is_written_exactly_to_the_microsecond() -> None:
    assert pl.timestamp(_us(T0)) == "2025-05-01T23:59:59.500000Z"
    assert pl.timestamp(_us(EPOCH) + 1) == "1970-01-01T00:00:00.000001Z"


def test_a_file_name_says_who_opened_it_and_when() -> None:
    name = pl.file_name(T0, "web-1", 4242)
    assert name.endswith(".jsonl.open")
    writer = pl.writer_of(Path(name))
    assert writer == pl.Writer("web-1", 4242, T0)
    assert pl.writer_of(Path(name.removesuffix(pl.OPEN_SUFFIX))) == writer
    assert pl.writer_of(Path("notes.txt")) is None
    assert "/" not in pl.file_name(T0, "a/b", 1)


def test_read_joins_files_types_columns_and_skips_a_partial_last_line(tmp_path: Path) -> None:
    _write(tmp_path, T0, _lines(T0, 3, "a", ids=[1, 2, 3]))
    later = T0 + timedelta(seconds=1)  # the next UTC day: another partition
    # Integers in one file, floats in another; an open file still being written.
    _write(tmp_path, later, _lines(later, 2, "b") + b'{"request_id": "c", "ti', closed=False)
    frame = pl.read(tmp_path)
    assert len(frame) == 5
    assert list(frame[pl.REQUEST_ID]) == ["a", "a", "a", "b", "b"]
    assert frame[pl.TIME].dt.tz is not None
    assert frame[pl.TIME].iloc[0] == pd.Timestamp(T0)
    assert str(frame["customer_id"].dtype) == "Int64"
    assert frame["customer_id"].isna().tolist() == [False] * 3 + [True] * 2
    assert list(frame.columns)[:5] == [
        pl.REQUEST_ID,
        pl.TIME,
        pl.MODEL_VERSION,
        pl.ENDPOINT,
        pl.ROW,
    ]
    assert list(frame.columns)[-2:] == [pl.PROBABILITY, pl.LABEL]
    assert len(pl.read(tmp_path, include_open=False)) == 3


def test_read_keeps_the_window_including_rows_written_after_midnight(tmp_path: Path) -> None:
    day = T0.replace(hour=12, minute=0, second=0, microsecond=0)
    for hours in range(0, 48, 6):
        at = day + timedelta(hours=hours)
        _write(tmp_path, at, _lines(at, 1, f"h{hours}"))
    # A row of 23:59:59.9 written at 00:00:00.1: in the next day's partition.
    late = day.replace(hour=23, minute=59, second=59, microsecond=900000)
    _write(tmp_path, late + timedelta(seconds=0.2), _lines(late, 1, "late"))
    window = pl.read(tmp_path, day + timedelta(hours=6), day + timedelta(hours=7))
    assert list(window[pl.REQUEST_ID]) == ["h6"]
    before_midnight = pl.read(tmp_path, late - timedelta(hours=1), late + timedelta(seconds=0.05))
    assert list(before_midnight[pl.REQUEST_ID]) == ["late"]
    assert list(pl.read(tmp_path, day + timedelta(hours=30))[pl.REQUEST_ID]) == [
        "h30",
        "h36",
        "h42",
    ]
    assert pl.read(tmp_path / "nothing").empty
