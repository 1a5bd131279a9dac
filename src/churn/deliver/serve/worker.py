"""The worker process that parses and scores large requests (`offload.py` is the service's
side): what crosses the pipe, and what the process does with it.

It imports only what answering needs (no web framework, no metrics, no prediction-log writer),
since every module it loads is memory the service's container pays twice.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from churn.artifacts import saved_model
from churn.artifacts.prediction_log import Request, RowFormat
from churn.deliver.serve.inputs import RequestError
from churn.deliver.serve.predictor import Predictor, choose
from churn.deliver.serve.sampling import sampled
from churn.deliver.serve.scoring import Scoring

# How often a worker checks that the service process is still there.
_PARENT_CHECK_SECONDS = 1.0


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


@dataclass(frozen=True)
class _Worker:
    scoring: Scoring
    predictor: Predictor
    log_format: RowFormat | None
    sample_rate: float


_worker: _Worker | None = None


def start(setup: WorkerSetup, parent: int) -> None:
    """The process's initializer: load the model once."""
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


def handle(job: Job) -> Outcome:
    """Parse, score and answer one request; its sampled rows as prediction-log lines."""
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
