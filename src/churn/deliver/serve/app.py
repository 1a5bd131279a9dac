"""The FastAPI application: MLflow/SageMaker-compatible scoring, typed predictions, health,
Prometheus metrics and pre-scored lookups.

`create_app` reads only the model's signature (to validate and document requests); the predictor,
the worker process for large requests, the prediction log's writer and the store's follower are
started in the lifespan, when the server starts, never at import.

Where a scoring request is handled: a small body on the event loop, where micro-batching shares
model calls between concurrent requests (`batching.py`); a body of `offload_bytes` or more in
the worker process (`offload.py`), so that the loop keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from churn.artifacts import prediction_log, saved_model
from churn.artifacts.score_store import FollowedScoreStore
from churn.deliver.serve import openapi
from churn.deliver.serve.batching import MicroBatcher
from churn.deliver.serve.inputs import Batch, InputSpec, RequestError
from churn.deliver.serve.monitoring import Metrics, MetricsMiddleware
from churn.deliver.serve.offload import Offload, WorkerLostError
from churn.deliver.serve.predictor import choose
from churn.deliver.serve.recorder import LogSettings, PredictionRecorder, row_format_for
from churn.deliver.serve.sampling import Sampler
from churn.deliver.serve.scoring import INVOCATIONS, PREDICT, Scoring
from churn.deliver.serve.worker import Job, WorkerSetup

# A child of uvicorn's logger, so that its handler (configured by uvicorn.run) prints ours too.
log = logging.getLogger(f"uvicorn.error.{__name__}")

_JSON = "application/json"
_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_REASONS = {
    400: "bad_request",
    404: "not_found",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
}
# The worker process for large requests starts this long after the service (see Offload.warm).
OFFLOAD_WARM_DELAY_S = 1.0
# A caller's X-Request-ID is kept (and logged) only when it is a plain token.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass(frozen=True)
class Settings:
    model_dir: Path
    # Output of `churn compile`; the ONNX graph there is used only if its check passed.
    compiled_dir: Path | None = None
    # SQLite store written by `churn score`, for `GET /scores/{id}`.
    scores_path: Path | None = None
    max_rows: int = 10_000
    max_body_bytes: int = 8 * 1024 * 1024
    # Commit the image was built from; None reads GIT_SHA, then asks git.
    git_commit: str | None = None
    # Bodies of at least this many bytes are parsed and scored by the worker process(es);
    # 0 workers handles every request on the event loop.
    offload_bytes: int = 64 * 1024
    offload_workers: int = 1
    # The prediction log; None keeps none.
    log: LogSettings | None = None
    # How often the pre-scored store's path is checked for a replacement.
    store_check_seconds: float = 1.0


@dataclass
class Service:
    """Everything the lifespan loads; requests only read it."""

    settings: Settings
    card: saved_model.ModelCard
    scoring: Scoring
    metrics: Metrics
    git_commit: str
    # How the prediction log writes this model's rows; None when there is no log.
    row_format: prediction_log.RowFormat | None = None
    started: float = field(default_factory=time.monotonic)
    batcher: MicroBatcher | None = None
    predictor_kind: str = "loading"
    predictor_reason: str = ""
    store: FollowedScoreStore | None = None
    offload: Offload | None = None
    recorder: PredictionRecorder | None = None
    sampler: Sampler | None = None
    # Request ids the service makes up: a per-start prefix and a counter (no syscall each).
    _id_prefix: str = field(default_factory=lambda: secrets.token_hex(4))
    _ids: itertools.count = field(default_factory=itertools.count)

    @property
    def spec(self) -> InputSpec:
        return self.scoring.spec

    @property
    def threshold(self) -> float:
        """Label cut-off for `/predict` and `/scores`: the model's own, recorded at training."""
        return self.scoring.threshold

    async def answer(self, request: Request, endpoint: str) -> Response:
        """Read, parse, score and answer one scoring request, logging its sampled rows."""
        logged = self._logged(request, endpoint)
        seed = self.sampler.request_seed() if self.sampler is not None else 0
        body = await _read_body(request, self.settings.max_body_bytes)
        content_type = request.headers.get("content-type", "")
        if self.offload is not None and len(body) >= self.settings.offload_bytes:
            answer = await self._answer_in_worker(Job(endpoint, body, content_type, logged, seed))
        else:
            batch = self.scoring.parse(endpoint, body, content_type)
            scores = await self._score(batch, endpoint)
            if logged is not None:
                self._log(logged, seed, batch, scores)
            answer = self.scoring.answer(endpoint, batch, scores)
        headers = {"X-Request-ID": logged.request_id} if logged is not None else None
        return Response(answer, media_type=_JSON, headers=headers)

    async def _score(self, batch: Batch, endpoint: str) -> np.ndarray:
        if batch.rows == 0:
            return np.empty(0, dtype=np.float64)
        if self.batcher is None:
            raise RuntimeError("the service is not started: its lifespan has not run")
        scores = await self.batcher.score(batch)
        self.metrics.rows.labels(endpoint).inc(batch.rows)
        return scores

    async def _answer_in_worker(self, job: Job) -> bytes:
        assert self.offload is not None
        outcome = await self.offload.run(job)
        if outcome.status != 200:
            raise outcome.refusal()
        if outcome.scores is not None and len(outcome.scores):
            # The worker's model call, counted as the loop's are.
            self.metrics.observe_call(outcome.scores)
            self.metrics.rows.labels(job.endpoint).inc(len(outcome.scores))
        if self.recorder is not None:
            self.recorder.submit(outcome.log_lines, outcome.logged_rows)
        return outcome.answer

    def _logged(self, request: Request, endpoint: str) -> prediction_log.Request | None:
        """The request as the prediction log records it; None when there is no log."""
        if self.recorder is None:
            return None
        request_id = request.headers.get("x-request-id", "")
        if not _REQUEST_ID.fullmatch(request_id):
            request_id = f"{self._id_prefix}-{next(self._ids):x}"
        return prediction_log.Request(request_id, time.time_ns() // 1000, endpoint)

    def _log(
        self, logged: prediction_log.Request, seed: int, batch: Batch, scores: np.ndarray
    ) -> None:
        assert self.recorder is not None
        assert self.sampler is not None
        assert self.row_format is not None
        keep = self.sampler.keep(batch.rows, seed)
        lines = self.row_format.lines(logged, batch.columns, batch.ids, scores, keep)
        self.recorder.submit(lines, len(keep))


def _git_commit(settings: Settings) -> str:
    if settings.git_commit:
        return settings.git_commit
    if os.environ.get("GIT_SHA"):
        return os.environ["GIT_SHA"]
    from churn.provenance import git_commit

    return git_commit()


def _warm_up_batch(service: Service) -> Batch | None:
    """The model's own input example, so the first real request does not pay for warm-up."""
    example = service.card.input_example
    if not example.is_file():
        return None
    return service.spec.parse_invocation(example.read_bytes(), _JSON)


async def _follow(store: FollowedScoreStore, seconds: float) -> None:
    """Move to each new store that replaces the served one (checked off the event loop)."""
    while True:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(store.refresh)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    service: Service = app.state.service
    settings = service.settings
    choice = choose(service.card, settings.compiled_dir, service.spec.dtypes())
    service.predictor_kind = choice.predictor.kind
    service.predictor_reason = choice.reason
    following, warming = None, None
    if settings.scores_path is not None:
        service.store = FollowedScoreStore(settings.scores_path, _store_reporter(service.metrics))
        following = asyncio.create_task(_follow(service.store, settings.store_check_seconds))
    if settings.offload_workers > 0:
        setup = WorkerSetup(
            settings.model_dir,
            settings.compiled_dir,
            settings.max_rows,
            service.row_format,
            settings.log.sample_rate if settings.log is not None else 1.0,
        )
        service.offload = Offload(setup, settings.offload_workers, service.metrics)
        warming = asyncio.get_running_loop().call_later(OFFLOAD_WARM_DELAY_S, service.offload.warm)
    if settings.log is not None:
        service.recorder = PredictionRecorder(settings.log, service.metrics)
        service.sampler = Sampler(settings.log.sample_rate, settings.log.seed)
        service.recorder.start()
    service.batcher = MicroBatcher(choice.predictor, observe=service.metrics.observe_call)
    warm_up = _warm_up_batch(service)
    if warm_up is not None:
        choice.predictor(warm_up.columns)
    service.metrics.model_info.labels(
        service.card.digest,
        choice.predictor.kind,
        service.git_commit,
        str(service.card.metadata.get("data_sha256", "unknown")),
    ).set(1)
    await service.batcher.start()
    log.info(
        "serving model %s with %s (%s)",
        service.card.digest[:12],
        choice.predictor.kind,
        choice.reason,
    )
    try:
        yield
    finally:
        await service.batcher.stop()
        if following is not None:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
        if service.offload is not None:
            if warming is not None:
                warming.cancel()
            service.offload.stop()
        if service.recorder is not None:
            service.recorder.stop()
        if service.store is not None:
            service.store.close()


def _store_reporter(metrics: Metrics):
    def report(outcome: str, message: str) -> None:
        metrics.store_reloads.labels(outcome).inc()
        if outcome == "ok":
            log.info("pre-scored store: %s", message)
        else:
            log.error("pre-scored store: %s", message)

    return report


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the body is {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content, option=_NUMPY), status, media_type=_JSON)


def _offload_info(service: Service) -> dict[str, Any] | None:
    if service.offload is None:
        return None
    return {
        "workers": service.offload.workers,
        "pids": service.offload.pids(),
        "ready": service.offload.ready,
        "from_bytes": service.settings.offload_bytes,
    }


def _log_info(service: Service) -> dict[str, Any] | None:
    log_settings, row_format = service.settings.log, service.row_format
    if log_settings is None or row_format is None:
        return None
    contract = service.scoring.contract
    logged = {*row_format.columns, row_format.id_name}
    return {
        "directory": str(log_settings.directory),
        "sample_rate": log_settings.sample_rate,
        "rotate_bytes": log_settings.rotate_bytes,
        "rotate_seconds": log_settings.rotate_seconds,
        "excluded": [n for n in (contract.id.name, *contract.feature_names) if n not in logged],
    }


def create_app(settings: Settings) -> FastAPI:
    """The service for `settings.model_dir`; the predictor loads when the server starts."""
    card = saved_model.read(settings.model_dir)
    scoring = Scoring.for_model(card, settings.max_rows)
    contract, spec, threshold = scoring.contract, scoring.spec, scoring.threshold
    id_name, target = contract.id.name, contract.target.name
    probability = contract.probability_field
    metrics = Metrics()
    app = FastAPI(
        title=f"{target} model service",
        summary=f"The probability of {target} = {contract.target.positive!r} per {id_name}, "
        "from the model the pipeline trained.",
        version=card.digest[:12],
        lifespan=_lifespan,
    )
    row_format = None
    if settings.log is not None:
        row_format = row_format_for(contract, card.digest, threshold, exclude=settings.log.exclude)
    app.state.service = Service(settings, card, scoring, metrics, _git_commit(settings), row_format)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.exception_handler(RequestError)
    async def refused(request: Request, exc: RequestError) -> Response:
        route = request.scope.get("route")
        metrics.errors.labels(getattr(route, "path", "unmatched"), _REASONS[exc.status]).inc()
        return _json(exc.body(), exc.status)

    @app.exception_handler(WorkerLostError)
    async def worker_lost(request: Request, exc: WorkerLostError) -> Response:
        # A 503 the client may retry; counted as a server error by the middleware.
        body = {"error_code": "TEMPORARILY_UNAVAILABLE", "message": str(exc)}
        return Response(orjson.dumps(body), 503, {"Retry-After": "1"}, media_type=_JSON)

    @app.get("/ping", summary="Liveness, as SageMaker and MLflow clients expect")
    async def ping() -> Response:
        return Response("\n", media_type=_JSON)

    @app.get("/health", summary="Which model, from which commit and data, with which params")
    async def health(request: Request) -> JSONResponse:
        service: Service = request.app.state.service
        metadata = service.card.metadata
        return JSONResponse(
            {
                "status": "ok",
                "model_version": service.card.digest,
                "predictor": service.predictor_kind,
                "predictor_reason": service.predictor_reason,
                "git_commit": service.git_commit,
                "data_sha256": metadata.get("data_sha256"),
                "train_rows": metadata.get("train_rows"),
                "params": {
                    "train": metadata.get("params"),
                    "serve": {
                        "threshold": threshold,
                        "max_rows": settings.max_rows,
                        "max_body_bytes": settings.max_body_bytes,
                    },
                },
                "scores_store": service.store.info() if service.store is not None else None,
                "offload": _offload_info(service),
                "prediction_log": _log_info(service),
                "uptime_seconds": round(time.monotonic() - service.started, 3),
            }
        )

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/invocations",
        summary="Score rows sent the way MLflow and SageMaker clients send them",
        description=openapi.INVOCATIONS_DESCRIPTION,
        openapi_extra=openapi.invocations(spec),
        response_class=Response,
    )
    async def invocations(request: Request) -> Response:
        return await request.app.state.service.answer(request, INVOCATIONS)

    @app.post(
        "/predict",
        summary=f"{probability} and {target} label for each record",
        description=openapi.PREDICT_DESCRIPTION,
        openapi_extra=openapi.predict(spec),
        response_class=Response,
    )
    async def predict(request: Request) -> Response:
        return await request.app.state.service.answer(request, PREDICT)

    async def lookup(request: Request) -> Response:
        service: Service = request.app.state.service
        key = spec.parse_id(request.path_params[id_name])
        if service.store is None:
            raise RequestError(
                404,
                "no pre-scored store is configured: start the service with "
                "`churn serve --scores PATH` or the SCORES_DB environment variable",
            )
        score = service.store.get(key)
        if score is None:
            store = Path(str(settings.scores_path)).name
            raise RequestError(404, f"{id_name} {key!r} is not in the pre-scored store {store}")
        return _json({id_name: key, probability: score, target: score >= threshold})

    # Declared by hand: the path parameter is named after the contract's id column.
    app.add_api_route(
        f"/scores/{{{id_name}}}",
        lookup,
        methods=["GET"],
        summary=f"The pre-scored {probability} of one {id_name} (from `churn score`)",
        openapi_extra=openapi.scores(contract),
        responses=openapi.SCORES_RESPONSES,
        response_class=Response,
    )
    return app
