"""Prometheus metrics: the batch-filled score histogram agrees with prometheus_client's own."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from churn.deliver.serve.monitoring import _SCORE_BUCKETS, Metrics, ScoreHistogram


def _samples(registry: CollectorRegistry, family: str) -> dict[tuple, float]:
    text = generate_latest(registry).decode()
    for metric in text_string_to_metric_families(text):
        if metric.name == family:
            return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in metric.samples}
    raise AssertionError(f"{family} not exported")


def test_score_histogram_matches_one_by_one_observation() -> None:
    rng = np.random.default_rng(0)
    # Include the bucket edges themselves: `le` buckets are inclusive.
    scores = np.concatenate([rng.random(500), np.array(_SCORE_BUCKETS), [0.0]])
    ours = CollectorRegistry()
    histogram = ScoreHistogram()
    ours.register(histogram)
    histogram.observe_many(scores[:200])
    histogram.observe_many(scores[200:])
    reference = CollectorRegistry()
    one_by_one = Histogram(
        "churn_prediction_score", "x", buckets=_SCORE_BUCKETS, registry=reference
    )
    for score in scores:
        one_by_one.observe(score)
    expected = {
        key: value
        for key, value in _samples(reference, "churn_prediction_score").items()
        if not key[0].endswith("_created")
    }
    got = _samples(ours, "churn_prediction_score")
    assert got.keys() == expected.keys()
    total = ("churn_prediction_score_sum", ())
    assert got.pop(total) == pytest.approx(expected.pop(total))
    assert got == expected


def test_each_app_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.rows.labels("/invocations").inc(3)
    counted = 'churn_rows_scored_total{endpoint="/invocations"} 3.0'
    assert counted in generate_latest(first.registry).decode()
    assert "/invocations" not in generate_latest(second.registry).decode()


def test_observe_call_counts_the_batch_and_its_scores() -> None:
    metrics = Metrics()
    metrics.observe_call(np.array([0.1, 0.7, 0.9]))
    text = generate_latest(metrics.registry).decode()
    assert "churn_model_batch_rows_count 1.0" in text
    assert "churn_model_batch_rows_sum 3.0" in text
    assert "churn_prediction_score_count 3.0" in text
