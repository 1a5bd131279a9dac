"""Prometheus metrics of the service, kept in a registry per app (tests build several apps).

Counted per request by an ASGI middleware (endpoint = route template, so ids in paths do not
explode the label set), and per model call by the batcher (or, for a large request, by the
service when the worker process's answer comes back: every metric lives in the service
process). The prediction-score histogram is filled a whole batch at a time with NumPy:
observing 1,000 scores one by one would cost more than the model call that produced them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096, 16384)
_SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))


class ScoreHistogram(Collector):
    """`churn_prediction_score`: how the served churn probabilities are distributed."""

    def __init__(self) -> None:
        self._edges = np.array(_SCORE_BUCKETS)
        # One slot per bucket, plus one for scores above the last edge (+Inf).
        self._counts = np.zeros(len(_SCORE_BUCKETS) + 1, dtype=np.int64)
        self._sum = 0.0

    def observe_many(self, scores: np.ndarray) -> None:
        # side="left": a score equal to an edge belongs to that edge's bucket (`le`, <=).
        slots = np.searchsorted(self._edges, scores, side="left")
        self._counts += np.bincount(slots, minlength=len(self._counts))
        self._sum += float(scores.sum())

    def collect(self) -> Iterator[HistogramMetricFamily]:
        cumulative = np.cumsum(self._counts).tolist()
        edges = [*map(floatToGoString, _SCORE_BUCKETS), "+Inf"]
        yield HistogramMetricFamily(
            "churn_prediction_score",
            "Churn probabilities served",
            buckets=list(zip(edges, cumulative, strict=True)),
            sum_value=self._sum,
        )


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.requests = Counter(
            "churn_http_requests",
            "HTTP requests by endpoint, method and status",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "churn_http_request_duration_seconds",
            "Time from request to response, by endpoint",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "churn_request_errors",
            "Refused or failed requests, by endpoint and reason",
            ["endpoint", "reason"],
            registry=self.registry,
        )
        self.rows = Counter(
            "churn_rows_scored",
            "Rows scored, by endpoint",
            ["endpoint"],
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "churn_model_batch_rows",
            "Rows per model call (micro-batching merges concurrent requests)",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.model_info = Gauge(
            "churn_model_info",
            "The model being served (value is always 1)",
            ["version", "predictor", "git_commit", "data_sha256"],
            registry=self.registry,
        )
        self.scores = ScoreHistogram()
        self.registry.register(self.scores)
        self.offload_in_flight = Gauge(
            "churn_offload_in_flight",
            "Large requests being parsed and scored by the worker process (or waiting for it)",
            registry=self.registry,
        )
        self.offload_restarts = Counter(
            "churn_offload_worker_restarts",
            "Times the worker process for large requests died and was replaced",
            registry=self.registry,
        )
        self.log_rows = Counter(
            "churn_prediction_log_rows",
            "Rows for the prediction log: written, dropped (buffer full) or failed (write error)",
            ["outcome"],
            registry=self.registry,
        )
        self.log_errors = Counter(
            "churn_prediction_log_errors",
            "Failed writes to the prediction log (full disk, unwritable directory, ...)",
            registry=self.registry,
        )
        self.store_reloads = Counter(
            "churn_score_store_reloads",
            "Replacements of the pre-scored store picked up (ok) or refused (failed)",
            ["outcome"],
            registry=self.registry,
        )

    def observe_call(self, scores: np.ndarray) -> None:
        """One model call: its size, and the scores it produced."""
        self.batch_rows.observe(len(scores))
        self.scores.observe_many(scores)


class MetricsMiddleware:
    """Counts every HTTP response (including 404s and FastAPI's own 422s) by route template."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(endpoint, scope["method"], str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
            if status >= 500:
                self.metrics.errors.labels(endpoint, "server_error").inc()
