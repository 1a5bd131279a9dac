"""The prediction log's writer: rotation, a bounded buffer, failures counted and logged once,
files left open by a killed process, and a reproducible sample.

The writer's steps are driven directly (no thread): each test decides when lines are written."""

from __future__ import annotations

import logging
import math
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from churn.artifacts import prediction_log as pl
from churn.deliver.serve.monitoring import Metrics
from churn.deliver.serve.recorder import LogSettings, PredictionRecorder
from churn.deliver.serve.sampling import Sampler, sampled

NOON = datetime(2025, 5, 1, 12, tzinfo=UTC)
HOST = "test-host"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.now = at.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _lines(first: int, rows: int, at: float) -> bytes:
    request = pl.Request(f"r{first}", round(at * 1_000_000), "/invocations")
    row_format = pl.RowFormat("abc", 0.5, ("x",), "customer_id")
    columns = {"x": [float(i) for i in range(first, first + rows)]}
    ids = list(range(first, first + rows))
    return row_format.lines(request, columns, ids, np.full(rows, 0.25), range(rows))


def _recorder(directory: Path, clock: Clock, **settings) -> tuple[PredictionRecorder, Metrics]:
    metrics = Metrics()
    recorder = PredictionRecorder(
        LogSettings(directory, **settings), metrics, host=HOST, clock=clock
    )
    return recorder, metrics


def _count(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_size_rotation_gives_several_closed_files_read_back_as_one_table(tmp_path: Path) -> None:
    clock = Clock(NOON)
    recorder, metrics = _recorder(tmp_path, clock, rotate_bytes=1_000)
    for batch in range(12):
        recorder.submit(_lines(batch * 5, 5, clock()), 5)
        recorder.write_pending()
        clock.advance(1)
    recorder.close()
    files = pl.files(tmp_path)
    assert len(files) > 3
    assert not any(path.name.endswith(pl.OPEN_SUFFIX) for path in files)
    frame = pl.read(tmp_path)
    assert frame["customer_id"].tolist() == list(range(60))
    assert _count(metrics, "churn_prediction_log_rows_total", outcome="written") == 60


def test_a_file_closes_once_old_enough(tmp_path: Path) -> None:
    clock = Clock(NOON)
    recorder, _ = _recorder(tmp_path, clock, rotate_seconds=30)
    recorder.submit(_lines(0, 1, clock()), 1)
    recorder.write_pending()
    clock.advance(29)
    recorder.rotate_if_due()
    (path,) = pl.files(tmp_path)
    assert path.name.endswith(pl.OPEN_SUFFIX)
    clock.advance(1)
    recorder.rotate_if_due()
    (path,) = pl.files(tmp_path)
    assert not path.name.endswith(pl.OPEN_SUFFIX)
    recorder.submit(_lines(1, 1, clock()), 1)
    recorder.write_pending()
    recorder.close()
    assert len(pl.files(tmp_path)) == 2
    assert pl.read(tmp_path)["customer_id"].tolist() == [0, 1]


def test_a_new_utc_day_starts_a_new_file_in_its_own_partition(tmp_path: Path) -> None:
    clock = Clock(NOON.replace(hour=23, minute=59, second=50))
    recorder, _ = _recorder(tmp_path, clock)  # rotation by age: an hour
    recorder.submit(_lines(0, 1, clock()), 1)
    recorder.write_pending()
    clock.advance(20)
    recorder.submit(_lines(1, 1, clock()), 1)
    recorder.write_pending()
    recorder.close()
    assert [p.parent.name for p in pl.files(tmp_path)] == ["date=2025-05-01", "date=2025-05-02"]
    assert pl.read(tmp_path)["customer_id"].tolist() == [0, 1]


def test_a_full_buffer_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    clock = Clock(NOON)
    line = _lines(0, 1, clock())
    recorder, metrics = _recorder(tmp_path, clock, buffer_bytes=2 * len(line))
    for _ in range(5):
        recorder.submit(line, 1)
    recorder.write_pending()
    recorder.close()
    assert len(pl.read(tmp_path)) == 2
    assert _count(metrics, "churn_prediction_log_rows_total", outcome="dropped") == 3
    assert _count(metrics, "churn_prediction_log_rows_total", outcome="written") == 2


def test_an_unwritable_directory_is_counted_and_logged_once_until_it_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the log's directory should be")
    clock = Clock(NOON)
    recorder, metrics = _recorder(blocker / "logs", clock)
    with caplog.at_level(logging.WARNING):
        for i in range(3):
            recorder.submit(_lines(i, 2, clock()), 2)
            recorder.write_pending()
        assert _count(metrics, "churn_prediction_log_rows_total", outcome="failed") == 6
        assert _count(metrics, "churn_prediction_log_errors_total") == 3
        errors = [r for r in caplog.records if "cannot write" in r.getMessage()]
        assert len(errors) == 1
        blocker.unlink()
        recorder.submit(_lines(10, 1, clock()), 1)
        recorder.write_pending()
        assert any("again" in r.getMessage() for r in caplog.records)
        recorder.close()
    assert pl.read(blocker / "logs")["customer_id"].tolist() == [10]


def test_files_left_open_by_a_dead_process_of_this_host_are_closed_at_start(
    tmp_path: Path,
) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    folder = tmp_path / pl.partition(NOON.date())
    folder.mkdir(parents=True)
    mine_dead = folder / pl.file_name(NOON, HOST, int(dead.stdout))
    mine_alive = folder / pl.file_name(NOON, HOST, os.getppid())
    other_host = folder / pl.file_name(NOON, "elsewhere", int(dead.stdout))
    for path in (mine_dead, mine_alive, other_host):
        path.write_bytes(_lines(0, 1, NOON.timestamp()))
    recorder, _ = _recorder(tmp_path, Clock(NOON))
    recorder.start()
    recorder.stop()
    assert not mine_dead.exists()
    assert mine_dead.with_name(mine_dead.name.removesuffix(pl.OPEN_SUFFIX)).exists()
    assert mine_alive.exists()
    assert other_host.exists()


def test_stop_writes_what_waits_and_closes_the_file(tmp_path: Path) -> None:
    recorder, _ = _recorder(tmp_path, Clock(NOON))
    recorder.start()
    recorder.submit(_lines(0, 3, NOON.timestamp()), 3)
    recorder.stop()
    (path,) = pl.files(tmp_path)
    assert not path.name.endswith(pl.OPEN_SUFFIX)
    assert pl.writer_of(path) == pl.Writer(HOST, os.getpid(), pl.writer_of(path).opened)
    assert pl.read(tmp_path)["customer_id"].tolist() == [0, 1, 2]


def test_the_default_host_is_this_machine(tmp_path: Path) -> None:
    recorder = PredictionRecorder(LogSettings(tmp_path), Metrics())
    recorder.submit(_lines(0, 1, NOON.timestamp()), 1)
    recorder.write_pending()
    recorder.close()
    (path,) = pl.files(tmp_path)
    assert pl.writer_of(path).host == socket.gethostname()


@pytest.mark.parametrize("rate", [0.05, 0.3, 0.9])
def test_the_sample_rate_holds_and_the_same_seed_gives_the_same_sample(rate: float) -> None:
    def draw(seed: int) -> list[tuple[int, int]]:
        sampler = Sampler(rate, seed)
        return [
            (request, row)
            for request, rows in enumerate([1] * 4000 + [500] * 20)
            for row in sampler.keep(rows, sampler.request_seed())
        ]

    first = draw(seed=1)
    assert first == draw(seed=1)
    assert first != draw(seed=2)
    rows = 4000 + 500 * 20
    spread = 5 * math.sqrt(rows * rate * (1 - rate))
    assert abs(len(first) - rows * rate) < spread


def test_rates_zero_and_one_keep_nothing_and_everything() -> None:
    assert list(sampled(7, 1.0, 123)) == list(range(7))
    assert list(sampled(7, 0.0, 123)) == []


@pytest.mark.parametrize(
    "settings",
    [{"sample_rate": 1.5}, {"sample_rate": -0.1}, {"rotate_bytes": 0}, {"buffer_bytes": -1}],
)
def test_bad_settings_are_refused(tmp_path: Path, settings: dict) -> None:
    with pytest.raises(ValueError, match="log"):
        LogSettings(tmp_path, **settings)
