"""The service's side of the prediction log (format: `artifacts/prediction_log.py`): which rows
to log, and a writer thread that appends them to rotating files, off the request path.

A request only encodes its sampled rows as JSON lines (microseconds per row) and hands them to a
bounded buffer; it never waits for the disk. When the buffer is full, the lines are dropped and
counted. The writer thread wakes a few times a second, writes whatever is waiting in one go, and
rotates files. A full disk or an unwritable directory never fails a request: the lost rows are
counted in `/metrics`, and the service logs one line when writing starts failing and one when it
works again.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO

from churn.artifacts import prediction_log
from churn.contract import Contract
from churn.deliver.serve.monitoring import Metrics

# A child of uvicorn's logger, so that its handler (configured by uvicorn.run) prints ours too.
log = logging.getLogger(f"uvicorn.error.{__name__}")

MIB = 1024 * 1024
# How often the writer thread wakes: rows reach the file within about this long.
FLUSH_SECONDS = 0.2


@dataclass(frozen=True)
class LogSettings:
    directory: Path
    # The share of rows logged, each decided independently (1: every row).
    sample_rate: float = 1.0
    # A file is closed and a new one opened past this size or age (and at midnight UTC).
    rotate_bytes: int = 64 * MIB
    rotate_seconds: float = 3600.0
    # Input columns never logged, besides those the model's contract marks personal.
    exclude: tuple[str, ...] = ()
    # Seeds the sampling, for a reproducible sample; None draws a new one at each start.
    seed: int | None = None
    # Encoded lines waiting for the writer, at most; past it new rows are dropped and counted.
    buffer_bytes: int = 16 * MIB

    def __post_init__(self) -> None:
        if not 0.0 <= self.sample_rate <= 1.0:
            raise ValueError(f"the log sample rate must be in [0, 1], not {self.sample_rate}")
        if self.rotate_bytes <= 0 or self.rotate_seconds <= 0 or self.buffer_bytes <= 0:
            raise ValueError("the log's rotation size, rotation age and buffer must be positive")


def row_format_for(
    contract: Contract, model_version: str, threshold: float, exclude: Sequence[str] = ()
) -> prediction_log.RowFormat:
    """What the log writes of each row: never a column the contract marks personal, nor one of
    `exclude` (which must name columns of the contract, so that a typo cannot leak one)."""
    known = {contract.id.name, *contract.feature_names}
    unknown = sorted(set(exclude) - known)
    if unknown:
        raise ValueError(
            f"the prediction log cannot exclude {', '.join(unknown)}: not a column of this "
            f"model (it takes {', '.join(contract.feature_names)}, keyed by {contract.id.name})"
        )
    excluded = {*contract.personal, *exclude}
    return prediction_log.RowFormat(
        model_version=model_version,
        threshold=threshold,
        columns=tuple(name for name in contract.feature_names if name not in excluded),
        id_name=None if contract.id.name in excluded else contract.id.name,
    )


class PredictionRecorder:
    """Appends encoded lines to the prediction log from one writer thread; see the module."""

    def __init__(
        self,
        settings: LogSettings,
        metrics: Metrics,
        *,
        host: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._metrics = metrics
        self._host = host or socket.gethostname()
        self._pid = os.getpid()
        self._clock = clock
        self._pending: collections.deque[tuple[bytes, int]] = collections.deque()
        self._pending_bytes = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The file being written: its handle, path, size, opening time and UTC day.
        self._file: BinaryIO | None = None
        self._path: Path | None = None
        self._size = 0
        self._opened = 0.0
        self._day: date | None = None
        self._failing = False

    # --- the request side (the event loop, or the loop on behalf of the offload worker) -----

    def submit(self, lines: bytes, rows: int) -> None:
        """Queue `rows` encoded rows for writing, or drop and count them if the buffer is full."""
        if not rows:
            return
        with self._lock:
            room = self._pending_bytes + len(lines) <= self.settings.buffer_bytes
            if room:
                self._pending.append((lines, rows))
                self._pending_bytes += len(lines)
        if not room:
            self._metrics.log_rows.labels("dropped").inc(rows)

    # --- the writer thread ------------------------------------------------------------------

    def start(self) -> None:
        self._seal_abandoned()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is waiting, close the open file, and stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(FLUSH_SECONDS)
            self.write_pending()
            if stopping:
                self.close()
                return
            self.rotate_if_due()

    # What the writer thread does; only ever one caller at a time (the thread, or a test
    # driving a recorder that was not started).

    def write_pending(self) -> None:
        """Append every waiting line to the open file (opening one if needed)."""
        with self._lock:
            batches, self._pending = self._pending, collections.deque()
            self._pending_bytes = 0
        if not batches:
            return
        data = b"".join(lines for lines, _ in batches)
        rows = sum(count for _, count in batches)
        try:
            if self._file is None or self._day != self._today():
                if self._file is not None:
                    self._seal()
                self._open()
            assert self._file is not None
            self._file.write(data)
            self._file.flush()
        except OSError as exc:
            self._failed(exc, rows)
            self._abandon()
            return
        self._size += len(data)
        self._metrics.log_rows.labels("written").inc(rows)
        if self._failing:
            self._failing = False
            log.warning("prediction log: writing to %s again", self.settings.directory)
        if self._size >= self.settings.rotate_bytes:
            self._seal()

    def rotate_if_due(self) -> None:
        """Close the open file once it is old enough (its age, or a new UTC day)."""
        if self._file is None:
            return
        age = self._clock() - self._opened
        if age >= self.settings.rotate_seconds or self._day != self._today():
            self._seal()

    def close(self) -> None:
        """Close the open file for good (the next write opens a new one)."""
        self._seal()

    def _today(self) -> date:
        return datetime.fromtimestamp(self._clock(), UTC).date()

    def _open(self) -> None:
        self._opened = self._clock()
        opened = datetime.fromtimestamp(self._opened, UTC)
        folder = self.settings.directory / prediction_log.partition(opened.date())
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / prediction_log.file_name(opened, self._host, self._pid)
        self._file = path.open("xb")
        self._path, self._size, self._day = path, 0, opened.date()

    def _seal(self) -> None:
        """Close the open file for good: flush it to disk, then drop its `.open` suffix."""
        handle, path = self._file, self._path
        self._file, self._path = None, None
        if handle is None or path is None:
            return
        try:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            path.rename(path.with_name(path.name.removesuffix(prediction_log.OPEN_SUFFIX)))
        except OSError as exc:
            self._failed(exc, 0)
            _close_quietly(handle)

    def _abandon(self) -> None:
        """After a failed write: stop using the file (its last line may be partial) and try
        to close it as is; the next write opens a new one."""
        handle, path = self._file, self._path
        self._file, self._path = None, None
        if handle is None or path is None:
            return
        _close_quietly(handle)
        # If the directory is the trouble, the file stays `.open`; readers still read it.
        with contextlib.suppress(OSError):
            path.rename(path.with_name(path.name.removesuffix(prediction_log.OPEN_SUFFIX)))

    def _failed(self, exc: OSError, rows: int) -> None:
        self._metrics.log_errors.inc()
        if rows:
            self._metrics.log_rows.labels("failed").inc(rows)
        if not self._failing:
            self._failing = True
            log.error(
                "prediction log: cannot write to %s (%s); requests are served as usual, the "
                'rows are counted as lost (churn_prediction_log_rows_total{outcome="failed"}) '
                "until writing works again",
                self.settings.directory,
                exc,
            )

    def _seal_abandoned(self) -> None:
        """Close `.open` files an earlier process on this host left behind (it was killed):
        those of a process id that no longer runs, or of this very one (a container restarts
        with the same host name and process id)."""
        try:
            stale = list(self.settings.directory.glob(f"*/*{prediction_log.OPEN_SUFFIX}"))
        except OSError:
            return
        for path in stale:
            writer = prediction_log.writer_of(path)
            if writer is None or writer.host != self._host:
                continue
            if writer.pid == self._pid or not _running(writer.pid):
                try:
                    path.rename(path.with_name(path.name.removesuffix(prediction_log.OPEN_SUFFIX)))
                except OSError:
                    continue


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _close_quietly(handle: BinaryIO) -> None:
    with contextlib.suppress(OSError):
        handle.close()
