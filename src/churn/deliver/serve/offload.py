"""Large requests are parsed and scored in a worker process, so that the event loop keeps
answering everything else (a liveness probe above all) meanwhile.

A 10,000-row body takes tens of milliseconds to parse, validate and score. On the event loop,
every other request waits for it: with 16 clients sending such bodies, `/ping` took a second at
the median. A worker *thread* does not cure it: the parser (orjson) holds the GIL for the whole
of a multi-megabyte document, and on a busy machine a worker descheduled while holding the GIL
stalls the loop too (measured: `/ping` p99 120-300 ms with one thread, 16-52 ms with one
process, same run; benchmarks/README.md). A process shares nothing with the loop but a pipe: the
loop only reads the body and hands the bytes over; the worker sends back the answer's bytes, the
scores (for the metrics) and the prediction-log lines.

The worker is started with `spawn` (a fork of a process running threads is unsafe), builds its
own copy of the predictor, ignores the signals that stop the service (the service stops it), and
exits by itself if the service process disappears. If it dies, the requests it held get a 503,
and a new worker replaces it.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from churn.artifacts import saved_model
from churn.artifacts.prediction_log import Request, RowFormat
from churn.deliver.serve.inputs import RequestError
from churn.deliver.serve.monitoring import Metrics
from churn.deliver.serve.predictor import Predictor, choose
from churn.deliver.serve.recorder import sampled
from churn.deliver.serve.scoring import Scoring

# A child of uvicorn's logger, so that its handler (configured by uvicorn.run) prints ours too.
log = logging.getLogger(f"uvicorn.error.{__name__}")

# How often a worker checks that the service process is still there.
_PARENT_CHECK_SECONDS = 1.0


class WorkerLostError(RuntimeError):
    """The worker process died while holding the request; a new one has been started."""


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker needs to answer like the service (picklable: it crosses to the process)."""

    model_dir: Path
    compiled_dir: Path | None
    max_rows: int
    # How to log sampled rows; None when the service keeps no prediction log.
    log_format: RowFormat | None = None
    sample_rate: float = 1.0


@dataclass(frozen=True)
class Job:
    endpoint: str
    body: bytes
    content_type: str
    # The request as the prediction log records it, and its sampling seed; None: not logged.
    log: Request | None = None
    log_seed: int = 0


@dataclass(frozen=True)
class Outcome:
    """The worker's answer: a 200 with its JSON bytes, or a refusal (4xx) to raise."""

    status: int
    answer: bytes = b""
    message: str = ""
    problems: tuple[str, ...] = ()
    scores: np.ndarray | None = None
    log_lines: bytes = b""
    logged_rows: int = 0

    def refusal(self) -> RequestError:
        return RequestError(self.status, self.message, self.problems)


class Offload:
    """The worker process(es) for large requests, seen from the service."""

    def __init__(self, setup: WorkerSetup, workers: int, metrics: Metrics) -> None:
        self.setup = setup
        self.workers = workers
        self._metrics = metrics
        self._executor: ProcessPoolExecutor | None = None
        self._ready: Future[int] | None = None

    def start(self) -> None:
        """Start the workers in the background: the service answers before they are ready
        (large requests wait for them)."""
        self._executor = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self.setup, os.getpid()),
        )
        self._ready = self._executor.submit(os.getpid)

    @property
    def ready(self) -> bool:
        return self._ready is not None and self._ready.done() and not self._ready.exception()

    def pids(self) -> list[int]:
        """The worker processes' ids (for `/health`, and for operators)."""
        return sorted(p.pid for p in multiprocessing.active_children() if p.pid is not None)

    async def run(self, job: Job) -> Outcome:
        executor = self._executor
        if executor is None:
            raise RuntimeError("the offload workers are not started")
        self._metrics.offload_in_flight.inc()
        try:
            return await asyncio.wrap_future(executor.submit(_handle, job))
        except BrokenProcessPool:
            self._replace(executor)
            raise WorkerLostError(
                "the worker process scoring large requests stopped while holding this one; "
                "a new one is starting: retry"
            ) from None
        finally:
            self._metrics.offload_in_flight.dec()

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        if self._executor is not broken:
            return  # another request saw the same death and replaced it already
        log.error("the worker process for large requests died; starting a new one")
        self._metrics.offload_restarts.inc()
        broken.shutdown(wait=False, cancel_futures=True)
        self.start()

    def stop(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


# --- inside the worker process ----------------------------------------------------------------


@dataclass(frozen=True)
class _Worker:
    scoring: Scoring
    predictor: Predictor
    log_format: RowFormat | None
    sample_rate: float


_worker: _Worker | None = None


def _start_worker(setup: WorkerSetup, parent: int) -> None:
    global _worker
    # Ctrl-C reaches the whole process group, `docker stop` only the service: either way the
    # service shuts its workers down itself, after the requests they hold.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_without, args=(parent,), daemon=True).start()
    card = saved_model.read(setup.model_dir)
    scoring = Scoring.for_model(card, setup.max_rows)
    predictor = choose(card, setup.compiled_dir, scoring.spec.dtypes()).predictor
    _worker = _Worker(scoring, predictor, setup.log_format, setup.sample_rate)


def _exit_without(parent: int) -> None:
    """End this worker once the service process is gone (killed without shutting it down)."""
    while os.getppid() == parent:
        time.sleep(_PARENT_CHECK_SECONDS)
    os._exit(0)


def _handle(job: Job) -> Outcome:
    worker = _worker
    if worker is None:
        raise RuntimeError("the worker was not initialised")
    try:
        batch = worker.scoring.parse(job.endpoint, job.body, job.content_type)
    except RequestError as exc:
        return Outcome(exc.status, message=exc.message, problems=tuple(exc.problems))
    scores = worker.predictor(batch.columns) if batch.rows else np.empty(0, dtype=np.float64)
    lines, logged = b"", 0
    if job.log is not None and worker.log_format is not None:
        keep = sampled(batch.rows, worker.sample_rate, job.log_seed)
        lines = worker.log_format.lines(job.log, batch.columns, batch.ids, scores, keep)
        logged = len(keep)
    answer = worker.scoring.answer(job.endpoint, batch, scores)
    return Outcome(200, answer, scores=scores, log_lines=lines, logged_rows=logged)
