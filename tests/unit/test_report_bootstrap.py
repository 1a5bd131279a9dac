"""The paired bootstrap: exact weighted metrics, zero-width intervals for identical models, the
same intervals however the resamples are blocked, and agreement with a straightforward
implementation (exactly on the same draws, within Monte-Carlo error on independent ones)."""

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
    assert len({tuple(c) for c in counts}) == 30  # every resample draws anew


@pytest.mark.parametrize("name", list(metrics.METRICS))
def test_resampled_metric_equals_the_metric_of_the_resampled_rows(name, labels):
    """It computes each metric on the weighted rows exactly as on the repeated rows."""
    scores = _scores(labels, 0.3, seed=2)
    counts = bootstrap.resample_counts(ROWS, 4, seed=3)
    got = bootstrap.resampled(name, labels, scores, 0.5, counts)
    for value, row_counts in zip(got, counts, strict=True):
        picked = np.repeat(np.arange(ROWS), row_counts)
        assert value == pytest.approx(metrics.score(name, labels[picked], scores[picked], 0.5))


@pytest.mark.parametrize("name", list(metrics.METRICS))
def test_slow_path_agrees_with_the_vectorised_one(name, labels):
    """A metric without a weighted form is resampled one draw at a time, to the same values."""
    scores = _scores(labels, 0.3, seed=4)
    counts = bootstrap.resample_counts(ROWS, 3, seed=5)
    slow = bootstrap.Scored(labels, scores, 0.5).one_by_one(name, counts)
    np.testing.assert_allclose(slow, bootstrap.resampled(name, labels, scores, 0.5, counts))


def test_blocks_never_hold_more_counts_than_the_budget():
    """Memory is bounded by the block budget, not by rows x resamples."""
    blocks = list(bootstrap.resample_blocks(1000, 57, seed=1, block_elements=10_000))
    assert [len(b) for b in blocks] == [10] * 5 + [7]
    assert all(b.size <= 10_000 for b in blocks)
    # More rows than the budget: one resample at a time, still every resample.
    assert [len(b) for b in bootstrap.resample_blocks(500, 3, seed=1, block_elements=100)] == [
        1,
        1,
        1,
    ]


def test_intervals_do_not_depend_on_how_resamples_are_blocked(labels):
    """Each resample has its own generator: one block or one resample per block, same result."""
    base, candidate = _scores(labels, 0.2, seed=13), _scores(labels, 0.3, seed=14)
    names = list(metrics.METRICS)
    whole = bootstrap.paired_intervals(
        labels, (base, 0.5), (candidate, 0.45), names, confidence=0.9, resamples=300
    )
    single = bootstrap.paired_intervals(
        labels, (base, 0.5), (candidate, 0.45), names, confidence=0.9, resamples=300,
        block_elements=1,
    )  # fmt: skip
    for name in names:
        assert (single[name].low, single[name].high) == pytest.approx(
            (whole[name].low, whole[name].high), rel=1e-12, abs=1e-12
        )


def _reference_deltas(
    name: str, y: np.ndarray, base: np.ndarray, candidate: np.ndarray, drawn: np.ndarray
) -> np.ndarray:
    """The straightforward bootstrap: pick the rows, call the metric on both models."""
    return np.array(
        [
            metrics.score(name, y[rows], candidate[rows], 0.5)
            - metrics.score(name, y[rows], base[rows], 0.5)
            for rows in drawn
        ]
    )


@pytest.mark.parametrize("name", list(metrics.METRICS))
def test_intervals_equal_the_straightforward_bootstrap_on_the_same_draws(name, labels):
    """Fed the same drawn rows, the vectorised bootstrap gives the reference's interval."""
    base, candidate = _scores(labels, 0.2, seed=15), _scores(labels, 0.3, seed=16)
    resamples = 80
    drawn = np.vstack(list(bootstrap.resample_blocks(ROWS, resamples, bootstrap.SEED)))
    expected = np.percentile(_reference_deltas(name, labels, base, candidate, drawn), [5, 95])
    got = bootstrap.paired_intervals(
        labels, (base, 0.5), (candidate, 0.5), [name], confidence=0.9, resamples=resamples
    )[name]
    assert (got.low, got.high) == pytest.approx(tuple(expected), rel=1e-9, abs=1e-12)


def _ends(labels, base, candidate, name: str, *, resamples: int, seed: int) -> tuple[float, float]:
    interval = bootstrap.paired_intervals(
        labels, (base, 0.5), (candidate, 0.5), [name], confidence=0.95, resamples=resamples,
        seed=seed,
    )[name]  # fmt: skip
    return interval.low, interval.high


@pytest.mark.parametrize("name", ["roc_auc", "f1"])
def test_intervals_agree_with_an_independent_bootstrap_within_monte_carlo_error(name, labels):
    """Against the straightforward bootstrap on draws of its own (one generator, as before),
    the interval ends differ by no more than their Monte-Carlo spread allows; the spread is
    measured here, from the same implementation run with other seeds."""
    base, candidate = _scores(labels, 0.2, seed=17), _scores(labels, 0.25, seed=18)
    resamples = 500
    ends = np.array(
        [_ends(labels, base, candidate, name, resamples=resamples, seed=seed) for seed in range(8)]
    )
    spread = ends.std(axis=0, ddof=1)
    drawn = np.random.default_rng(12345).integers(0, ROWS, size=(resamples, ROWS))
    reference = np.percentile(_reference_deltas(name, labels, base, candidate, drawn), [2.5, 97.5])
    assert np.all(spread > 0)
    # Two independent estimates: their difference has sqrt(2) times the spread of one.
    assert np.all(np.abs(ends[0] - reference) <= 4 * np.sqrt(2) * spread)
