"""Paired bootstrap of metric differences: both models are judged on the same resampled rows.

A resample is a vector of counts (how often each test row was drawn), so every metric becomes a
weighted sum. The same counts serve both models, which is what makes the comparison paired: the
noise of which rows happen to be in the test set cancels out of the difference.

Memory stays flat in the number of test rows: resamples are drawn and scored in blocks of at
most `BLOCK_ELEMENTS` counts, and each resample has its own seeded generator, so the draws (and
the intervals) do not depend on how resamples are grouped into blocks. Each model's scores are
sorted once; the ranking metrics are then cumulative sums over the sorted weights, and the other
metrics one matrix product per block, so the cost is linear in rows x resamples.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from churn.metrics import METRICS

RESAMPLES = 2000
SEED = 0
# Counts held at once (resamples x rows): about 16 MiB per float array, a handful of which
# are alive while a block is scored, whatever the size of the test set.
BLOCK_ELEMENTS = 2**21
_EPS = 1e-15


@dataclass(frozen=True)
class Interval:
    """The observed difference (candidate minus base) and its confidence interval."""

    delta: float
    low: float
    high: float


def _generators(resamples: int, seed: int) -> list[np.random.Generator]:
    """One independent generator per resample, all derived from `seed`."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(resamples)]


def block_size(rows: int, block_elements: int = BLOCK_ELEMENTS) -> int:
    """Resamples per block: as many as fit in `block_elements` counts (at least one)."""
    return max(1, block_elements // max(rows, 1))


def resample_blocks(
    rows: int, resamples: int, seed: int, block_elements: int = BLOCK_ELEMENTS
) -> Iterator[np.ndarray]:
    """(block, rows) matrices of row indices drawn with replacement, `resamples` rows in all.

    Resample i always draws the same rows, however the resamples are split into blocks.
    """
    generators = _generators(resamples, seed)
    size = block_size(rows, block_elements)
    for start in range(0, resamples, size):
        chunk = generators[start : start + size]
        drawn = np.empty((len(chunk), rows), dtype=np.intp)
        for i, rng in enumerate(chunk):
            drawn[i] = rng.integers(0, rows, size=rows)
        yield drawn


def counts_of(drawn: np.ndarray, positions: np.ndarray | None = None) -> np.ndarray:
    """How often each row was drawn in each resample, (block, rows); with `positions`, row r
    is counted at column positions[r] instead."""
    rows = drawn.shape[1]
    counts = np.empty(drawn.shape, dtype=np.int64)
    for i, picked in enumerate(drawn):
        counts[i] = np.bincount(picked if positions is None else positions[picked], minlength=rows)
    return counts


def resample_counts(rows: int, resamples: int, seed: int) -> np.ndarray:
    """All resamples' counts at once, (resamples, rows): for small inputs and tests only."""
    return np.vstack([counts_of(block) for block in resample_blocks(rows, resamples, seed)])


def _tie_groups(sorted_scores: np.ndarray) -> np.ndarray:
    """Group number of each row of a sorted score vector: tied rows share one threshold."""
    return np.cumsum(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]]) - 1


# Metrics with a weighted form below; any other metric of `churn.metrics` still works, through
# the slower one-resample-at-a-time path.
_RANKING = ("roc_auc", "average_precision")
_LINEAR = ("accuracy", "f1", "log_loss", "brier")


class Scored:
    """One model's scores on the test rows, sorted once for any number of resamples.

    The ranking metrics read counts in this model's *layout*: the positive rows by descending
    score, then the negative rows by descending score. Cumulative sums over the two parts give,
    at each positive, the weight of positives and of negatives ranked above it, which is all
    that ROC AUC and average precision need (integers: exact, and fast to accumulate).
    """

    def __init__(self, y: np.ndarray, scores: np.ndarray, threshold: float) -> None:
        self.y = np.asarray(y, dtype=float)
        self.scores = np.asarray(scores, dtype=float)
        self.labels = (self.scores >= threshold).astype(float)
        order = np.argsort(-self.scores, kind="stable")
        group = _tie_groups(self.scores[order])
        positive = self.y[order] == 1
        pos_group, neg_group = group[positive], group[~positive]
        self.n_pos = int(positive.sum())
        # The row at each position of the layout, and the position of each row.
        self.rows_at = np.r_[order[positive], order[~positive]]
        self.position_of = np.empty_like(self.rows_at)
        self.position_of[self.rows_at] = np.arange(len(self.rows_at))
        # For each positive: negatives in higher-scored groups, negatives up to its own group
        # (inclusive), positives up to its own group: indices into the padded cumulative sums.
        self.neg_above = np.searchsorted(neg_group, pos_group, side="left")
        self.neg_through = np.searchsorted(neg_group, pos_group, side="right")
        self.pos_through = np.searchsorted(pos_group, pos_group, side="right")
        q = np.clip(self.scores, _EPS, 1 - _EPS)
        y = self.y
        # Per-row terms whose weighted sums give the linear metrics (one matrix product).
        self.terms = np.column_stack(
            [
                np.ones_like(y),
                (self.labels == y).astype(float),
                self.labels * y,
                -(y * np.log(q) + (1 - y) * np.log(1 - q)),
                (self.scores - y) ** 2,
            ]
        )

    @staticmethod
    def _padded_cumsum(counts: np.ndarray) -> np.ndarray:
        out = np.zeros((counts.shape[0], counts.shape[1] + 1), dtype=np.int64)
        np.cumsum(counts, axis=1, out=out[:, 1:])
        return out

    def ranking(self, laid_out: np.ndarray) -> dict[str, np.ndarray]:
        """ROC AUC and average precision from integer counts in this model's layout."""
        pos = laid_out[:, : self.n_pos]
        tp = self._padded_cumsum(pos)
        fp = self._padded_cumsum(laid_out[:, self.n_pos :])
        positives, negatives = tp[:, -1].astype(float), fp[:, -1].astype(float)
        fp_above, fp_through = fp[:, self.neg_above], fp[:, self.neg_through]
        # A positive outranks every negative below its score and half of those tied with it.
        outranked = (pos * (fp_above + fp_through)).sum(axis=1)
        wins = positives * negatives - 0.5 * outranked
        pairs = positives * negatives
        tp_through = tp[:, self.pos_through]
        seen = tp_through + fp_through
        precision = np.divide(tp_through, seen, out=np.ones(seen.shape), where=seen > 0)
        ranked = (pos * precision).sum(axis=1)
        nan = np.full(len(laid_out), np.nan)
        return {
            "roc_auc": np.divide(wins, pairs, out=nan.copy(), where=pairs > 0),
            "average_precision": np.divide(ranked, positives, out=nan, where=positives > 0),
        }

    @staticmethod
    def linear(sums: np.ndarray) -> dict[str, np.ndarray]:
        """The linear metrics from the weighted sums of `terms` (one row per resample)."""
        total, correct, tp, loss, squared = sums.T
        denominator = 2 * tp + (total - correct)
        return {
            "accuracy": correct / total,
            "f1": np.divide(2 * tp, denominator, out=np.zeros(len(sums)), where=denominator > 0),
            "log_loss": loss / total,
            "brier": squared / total,
        }

    def one_by_one(self, name: str, counts: np.ndarray) -> np.ndarray:
        """Any metric, computed on the repeated rows of each resample (slow, but general)."""
        metric = METRICS[name]
        values = self.labels if metric.uses_threshold else self.scores
        rows = np.arange(len(self.y))
        y = self.y.astype(int)
        out = np.empty(len(counts))
        for i, row_counts in enumerate(counts):
            picked = np.repeat(rows, row_counts.astype(int))
            out[i] = metric.compute(y[picked], values[picked])
        return out

    def metrics(self, counts: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
        """Each metric in `names` for every resample, given counts in row order."""
        counts = np.asarray(counts)
        found: dict[str, np.ndarray] = {}
        if any(n in _RANKING for n in names):
            found.update(self.ranking(counts[:, self.rows_at].astype(np.int64)))
        if any(n in _LINEAR for n in names):
            found.update(self.linear(counts @ self.terms))
        return {n: found[n] if n in found else self.one_by_one(n, counts) for n in names}


def resampled(
    name: str, y: np.ndarray, scores: np.ndarray, threshold: float, counts: np.ndarray
) -> np.ndarray:
    """Metric `name` of `scores` in every resample described by `counts`."""
    return Scored(y, scores, threshold).metrics(np.asarray(counts, dtype=float), [name])[name]


def _paired_block(
    before: Scored, after: Scored, terms: np.ndarray, drawn: np.ndarray, names: list[str]
) -> dict[str, np.ndarray]:
    """Candidate minus base for one block of resamples (`drawn` row indices)."""
    laid_out = counts_of(drawn, after.position_of)
    old: dict[str, np.ndarray] = {}
    new: dict[str, np.ndarray] = {}
    if any(n in _RANKING for n in names):
        new.update(after.ranking(laid_out))
        old.update(before.ranking(counts_of(drawn, before.position_of)))
    if any(n in _LINEAR for n in names):
        # Both models' terms, in the candidate's layout: one matrix product for the block.
        sums = laid_out @ terms
        new.update(Scored.linear(sums[:, : sums.shape[1] // 2]))
        old.update(Scored.linear(sums[:, sums.shape[1] // 2 :]))
    rest = [n for n in names if n not in new]
    if rest:
        in_row_order = laid_out[:, after.position_of]
        for name in rest:
            new[name] = after.one_by_one(name, in_row_order)
            old[name] = before.one_by_one(name, in_row_order)
    return {name: new[name] - old[name] for name in names}


def paired_intervals(
    y: np.ndarray,
    base: tuple[np.ndarray, float],
    candidate: tuple[np.ndarray, float],
    names: list[str],
    *,
    confidence: float,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    block_elements: int = BLOCK_ELEMENTS,
) -> dict[str, Interval]:
    """For each metric, candidate minus base, with a percentile interval at `confidence`.

    `base` and `candidate` are (churn probabilities, label threshold) on the same rows.
    """
    before, after = Scored(y, *base), Scored(y, *candidate)
    rows = len(before.y)
    everything = np.ones((1, rows), dtype=np.int64)
    observed_new, observed_old = after.metrics(everything, names), before.metrics(everything, names)
    terms = np.hstack([after.terms, before.terms])[after.rows_at]
    deltas = {name: np.empty(resamples) for name in names}
    done = 0
    for drawn in resample_blocks(rows, resamples, seed, block_elements):
        for name, values in _paired_block(before, after, terms, drawn, names).items():
            deltas[name][done : done + len(drawn)] = values
        done += len(drawn)
    tail = (1 - confidence) / 2 * 100
    out = {}
    for name in names:
        low, high = np.nanpercentile(deltas[name], [tail, 100 - tail])
        delta = observed_new[name][0] - observed_old[name][0]
        out[name] = Interval(delta=float(delta), low=float(low), high=float(high))
    return out
