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

The worker (`worker.py`) is started with `spawn` (a fork of a process running threads is
unsafe), builds its own copy of the predictor, ignores the signals that stop the service (the
service stops it), and exits by itself if the service process disappears. If it dies, the
requests it held get a 503, and a new worker replaces it.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from churn.deliver.serve import worker
from churn.deliver.serve.monitoring import Metrics
from churn.deliver.serve.worker import Job, Outcome, WorkerSetup

# A child of uvicorn's logger, so that its handler (configured by uvicorn.run) prints ours too.
log = logging.getLogger(f"uvicorn.error.{__name__}")


class WorkerLostError(RuntimeError):
    """The worker process died while holding the request; a new one has been started."""


class Offload:
    """The worker process(es) for large requests, seen from the service."""

    def __init__(self, setup: WorkerSetup, workers: int, metrics: Metrics) -> None:
        self.setup = setup
        self.workers = workers
        self._metrics = metrics
        self._executor: ProcessPoolExecutor | None = None
        self._ready: Future[int] | None = None

    def warm(self) -> None:
        """Start the worker now (in the background), so that the first large request finds it
        ready. The service calls this a moment after it starts: a worker's imports and model
        take about a CPU-second, which on a small machine would delay the service's own start.
        A large request that comes earlier starts it itself."""
        self._pool()

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=worker.start,
                initargs=(self.setup, os.getpid()),
            )
            self._ready = self._executor.submit(os.getpid)
        return self._executor

    @property
    def ready(self) -> bool:
        return self._ready is not None and self._ready.done() and not self._ready.exception()

    def pids(self) -> list[int]:
        """The worker processes' ids (for `/health`, and for operators)."""
        return sorted(p.pid for p in multiprocessing.active_children() if p.pid is not None)

    async def run(self, job: Job) -> Outcome:
        executor = self._pool()
        self._metrics.offload_in_flight.inc()
        try:
            return await asyncio.wrap_future(executor.submit(worker.handle, job))
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
        self._executor = None
        self.warm()

    def stop(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
