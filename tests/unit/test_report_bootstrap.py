"""The paired bootstrap: exact weighted metrics, zero-width intervals for identical models."""

from __future__ import annotations

import numpy as np
import pytest

from churn import metrics
from churn.report import bootstrap

ROWS = 600


@pytest.fixture
def labels() -> np.ndarray:
    return (np.random.default_rng(7).random(ROWS) < 0.3).astype(int)


def _scores(labels: np.ndarray, signal: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).random(len(labels))
    # Rounded so that ties occur, as they do with real models.
    return np.round(np.clip(signal * labels + (1 - signal) * noise, 0, 1), 2)


def test_resample_counts_draw_every_resample_with_replacement_to_full_size():
    """It gives one row of counts per resample, each summing to the number of rows."""
    counts = bootstrap.resample_counts(50, 30, seed=1)
    assert counts.shape == (30, 50)
    assert (counts.sum(axis=1) == 50).all()
    assert (counts > 1).any()


@pytest.mark.parametrize("name", list(metrics.METRICS))
def test_resampled_metric_equals_the_metric_of_the_resampled_rows(name, labels):
    """It computes each metric on the weighted rows exactly as on the repeated rows."""
    scores = _scores(labels, 0.3, seed=2)
    counts = bootstrap.resample_counts(ROWS, 4, seed=3)
    got = bootstrap.resampled(name, labels, scores, 0.5, counts)
    for value, row_counts in zip(got, counts, strict=True):
        picked = np.repeat(np.arange(ROWS), row_counts)
        assert value == pytest.approx(metrics.score(name, labels[picked], scores[picked], 0.5))


def test_slow_path_agrees_with_the_vectorised_one(labels):
    """A metric without a weighted form is resampled one draw at a time, to the same values."""
    scores = _scores(labels, 0.3, seed=4)
    counts = bootstrap.resample_counts(ROWS, 3, seed=5)
    slow = bootstrap._one_by_one("roc_auc", labels, scores, counts)
    np.testing.assert_allclose(slow, bootstrap.resampled("roc_auc", labels, scores, 0.5, counts))


def test_identical_predictions_give_zero_change_with_a_zero_width_interval(labels):
    """It reports Δ = 0 and the interval [0, 0] for every metric when nothing changed."""
    scores = _scores(labels, 0.3, seed=6)
    intervals = bootstrap.paired_intervals(
        labels, (scores, 0.5), (scores, 0.5), list(metrics.METRICS), confidence=0.95
    )
    for interval in intervals.values():
        assert (interval.delta, interval.low, interval.high) == (0.0, 0.0, 0.0)


def test_a_clearly_better_model_is_significant_in_the_right_direction(labels):
    """It puts the whole interval above 0 for AUC and below 0 for log loss."""
    weak, strong = _scores(labels, 0.05, seed=8), _scores(labels, 0.5, seed=9)
    intervals = bootstrap.paired_intervals(
        labels, (weak, 0.5), (strong, 0.5), ["roc_auc", "log_loss"], confidence=0.95
    )
    auc, loss = intervals["roc_auc"], intervals["log_loss"]
    assert 0 < auc.low <= auc.delta <= auc.high
    assert loss.low <= loss.delta <= loss.high < 0


def test_higher_confidence_gives_a_wider_interval(labels):
    """It widens the interval as the confidence level rises."""
    base, candidate = _scores(labels, 0.2, seed=10), _scores(labels, 0.25, seed=11)
    narrow, wide = (
        bootstrap.paired_intervals(
            labels, (base, 0.5), (candidate, 0.5), ["roc_auc"], confidence=level
        )["roc_auc"]
        for level in (0.8, 0.99)
    )
    assert wide.low < narrow.low
    assert wide.high > narrow.high
    assert narrow.delta == wide.delta


def test_each_model_uses_its_own_threshold(labels):
    """It labels each model's rows with that model's threshold, so only thresholded metrics move."""
    scores = _scores(labels, 0.3, seed=12)
    intervals = bootstrap.paired_intervals(
        labels, (scores, 0.5), (scores, 0.3), ["roc_auc", "accuracy"], confidence=0.95
    )
    assert intervals["roc_auc"].delta == 0.0
    assert intervals["accuracy"].delta != 0.0
