"""Paired bootstrap of metric differences: both models are judged on the same resampled rows.

A resample is a vector of counts (how often each test row was drawn), so every metric becomes a
weighted sum and all resamples are computed at once as matrix operations. The same counts serve
both models, which is what makes the comparison paired: the noise of which rows happen to be in
the test set cancels out of the difference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from churn.metrics import METRICS

RESAMPLES = 2000
SEED = 0
_EPS = 1e-15


@dataclass(frozen=True)
class Interval:
    """The observed difference (candidate minus base) and its confidence interval."""

    delta: float
    low: float
    high: float


def resample_counts(rows: int, resamples: int, seed: int) -> np.ndarray:
    """A (resamples, rows) matrix: how many times each row is drawn in each resample."""
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, rows, size=(resamples, rows))
    offsets = (np.arange(resamples) * rows)[:, None]
    return np.bincount((drawn + offsets).ravel(), minlength=resamples * rows).reshape(
        resamples, rows
    )


def _tie_groups(sorted_scores: np.ndarray) -> np.ndarray:
    """Start index of each run of equal scores: tied rows share one threshold."""
    return np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])


def _roc_auc(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    order = np.argsort(p, kind="stable")
    starts = _tie_groups(p[order])
    ys, ws = y[order], w[:, order]
    pos = np.add.reduceat(ws * ys, starts, axis=1)
    neg = np.add.reduceat(ws * (1 - ys), starts, axis=1)
    # A positive outranks every negative below its score and half of those tied with it.
    neg_below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    wins = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    return np.divide(wins, pairs, out=np.full(len(w), np.nan), where=pairs > 0)


def _average_precision(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    order = np.argsort(-p, kind="stable")
    starts = _tie_groups(p[order])
    ys, ws = y[order], w[:, order]
    tp = np.add.reduceat(ws * ys, starts, axis=1)
    fp = np.add.reduceat(ws * (1 - ys), starts, axis=1)
    predicted = np.cumsum(tp + fp, axis=1)
    precision = np.divide(
        np.cumsum(tp, axis=1), predicted, out=np.ones_like(tp), where=predicted > 0
    )
    positives = tp.sum(axis=1)
    total = (tp * precision).sum(axis=1)
    return np.divide(total, positives, out=np.full(len(w), np.nan), where=positives > 0)


def _accuracy(y: np.ndarray, labels: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (w @ (labels == y)) / w.sum(axis=1)


def _f1(y: np.ndarray, labels: np.ndarray, w: np.ndarray) -> np.ndarray:
    tp = w @ ((labels == 1) & (y == 1))
    wrong = w @ (labels != y)
    denominator = 2 * tp + wrong
    return np.divide(2 * tp, denominator, out=np.zeros(len(w)), where=denominator > 0)


def _log_loss(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    q = np.clip(p, _EPS, 1 - _EPS)
    return (w @ -(y * np.log(q) + (1 - y) * np.log(1 - q))) / w.sum(axis=1)


def _brier(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (w @ (p - y) ** 2) / w.sum(axis=1)


# Weighted forms of the metrics in `churn.metrics`; a metric missing here still works, through
# the slower one-resample-at-a-time path.
_WEIGHTED: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "roc_auc": _roc_auc,
    "average_precision": _average_precision,
    "accuracy": _accuracy,
    "f1": _f1,
    "log_loss": _log_loss,
    "brier": _brier,
}


def _one_by_one(name: str, y: np.ndarray, values: np.ndarray, w: np.ndarray) -> np.ndarray:
    rows = np.arange(len(y))
    out = np.empty(len(w))
    for i, counts in enumerate(w):
        picked = np.repeat(rows, counts.astype(int))
        out[i] = METRICS[name].compute(y[picked], values[picked])
    return out


def resampled(
    name: str, y: np.ndarray, scores: np.ndarray, threshold: float, counts: np.ndarray
) -> np.ndarray:
    """Metric `name` of `scores` in every resample described by `counts`."""
    y = np.asarray(y, dtype=float)
    scores = np.asarray(scores, dtype=float)
    values = (scores >= threshold).astype(float) if METRICS[name].uses_threshold else scores
    if name in _WEIGHTED:
        return _WEIGHTED[name](y, values, counts.astype(float))
    return _one_by_one(name, y.astype(int), values, counts)


def paired_intervals(
    y: np.ndarray,
    base: tuple[np.ndarray, float],
    candidate: tuple[np.ndarray, float],
    names: list[str],
    *,
    confidence: float,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, Interval]:
    """For each metric, candidate minus base, with a percentile interval at `confidence`.

    `base` and `candidate` are (churn probabilities, label threshold) on the same rows.
    """
    y = np.asarray(y)
    counts = resample_counts(len(y), resamples, seed)
    everything = np.ones((1, len(y)))
    tail = (1 - confidence) / 2 * 100
    out = {}
    for name in names:
        observed = resampled(name, y, candidate[0], candidate[1], everything) - resampled(
            name, y, base[0], base[1], everything
        )
        deltas = resampled(name, y, candidate[0], candidate[1], counts) - resampled(
            name, y, base[0], base[1], counts
        )
        low, high = np.nanpercentile(deltas, [tail, 100 - tail])
        out[name] = Interval(delta=float(observed[0]), low=float(low), high=float(high))
    return out
