"""The FastAPI application: MLflow/SageMaker-compatible scoring, typed predictions, health,
Prometheus metrics and pre-scored lookups.

`create_app` reads only the model's signature (to validate and document requests); the predictor
is built once in the lifespan, when the server starts, never at import.
"""

from __future__ import annotations

import contextlib
import logging
import os
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

from churn import contract as data_contract
from churn.artifacts import saved_model
from churn.artifacts.score_store import ScoreStore
from churn.deliver.serve import openapi
from churn.deliver.serve.batching import MicroBatcher
from churn.deliver.serve.inputs import Batch, InputSpec, RequestError
from churn.deliver.serve.monitoring import Metrics, MetricsMiddleware
from churn.deliver.serve.predictor import choose

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


@dataclass
class Service:
    """Everything the lifespan loads; requests only read it."""

    settings: Settings
    card: saved_model.ModelCard
    spec: InputSpec
    # Label cut-off for `/predict` and `/scores`: the model's own, recorded at training.
    threshold: float
    metrics: Metrics
    git_commit: str
    started: float = field(default_factory=time.monotonic)
    batcher: MicroBatcher | None = None
    predictor_kind: str = "loading"
    predictor_reason: str = ""
    store: ScoreStore | None = None

    async def score(self, batch: Batch, endpoint: str) -> np.ndarray:
        if batch.rows == 0:
            return np.empty(0, dtype=np.float64)
        if self.batcher is None:
            raise RuntimeError("the service is not started: its lifespan has not run")
        scores = await self.batcher.score(batch)
        self.metrics.rows.labels(endpoint).inc(batch.rows)
        return scores


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


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    service: Service = app.state.service
    settings = service.settings
    choice = choose(service.card, settings.compiled_dir, service.spec.dtypes())
    service.predictor_kind = choice.predictor.kind
    service.predictor_reason = choice.reason
    if settings.scores_path is not None:
        service.store = ScoreStore.open(settings.scores_path)
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
        if service.store is not None:
            service.store.close()


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


def _contract(card: saved_model.ModelCard) -> data_contract.Contract:
    """The contract the model was trained under, which must describe its signature."""
    try:
        contract = data_contract.load(card.contract)
    except data_contract.ContractError as exc:
        raise saved_model.ModelLoadError(f"{card.path}: {exc}; retrain it (`make run`)") from None
    signature = [column["name"] for column in card.inputs]
    if signature != list(contract.feature_names):
        raise saved_model.ModelLoadError(
            f"{card.path}: its signature ({', '.join(signature)}) is not its contract's features"
        )
    if card.threshold is None:
        raise saved_model.ModelLoadError(
            f"{card.path} records no label threshold: retrain it (`make run`)"
        )
    return contract


def create_app(settings: Settings) -> FastAPI:
    """The service for `settings.model_dir`; the predictor loads when the server starts."""
    card = saved_model.read(settings.model_dir)
    contract = _contract(card)
    spec = InputSpec(contract, settings.max_rows)
    threshold = float(card.threshold or 0.0)
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
    app.state.service = Service(settings, card, spec, threshold, metrics, _git_commit(settings))
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.exception_handler(RequestError)
    async def refused(request: Request, exc: RequestError) -> Response:
        route = request.scope.get("route")
        metrics.errors.labels(getattr(route, "path", "unmatched"), _REASONS[exc.status]).inc()
        return _json(exc.body(), exc.status)

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
        service: Service = request.app.state.service
        body = await _read_body(request, settings.max_body_bytes)
        batch = spec.parse_invocation(body, request.headers.get("content-type", ""))
        scores = await service.score(batch, "/invocations")
        # The same shape as `mlflow models serve` gives for this model (predict_proba):
        # one [P(stays), P(churns)] pair per row.
        return _json({"predictions": np.column_stack((1.0 - scores, scores))})

    @app.post(
        "/predict",
        summary=f"{probability} and {target} label for each record",
        description=openapi.PREDICT_DESCRIPTION,
        openapi_extra=openapi.predict(spec),
        response_class=Response,
    )
    async def predict(request: Request) -> Response:
        service: Service = request.app.state.service
        body = await _read_body(request, settings.max_body_bytes)
        batch = spec.parse_predict(body)
        scores = await service.score(batch, "/predict")
        labels = (scores >= threshold).tolist()
        rows = [
            {probability: p, target: label}
            for p, label in zip(scores.tolist(), labels, strict=True)
        ]
        if batch.ids is not None:
            for row, key in zip(rows, batch.ids, strict=True):
                if key is not None:
                    row[id_name] = key
        return _json({"threshold": threshold, "predictions": rows})

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
