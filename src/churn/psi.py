"""The population stability index (PSI): how far one sample's distribution moved from a base
sample's, as an effect size (0 = the same shares; about 0.1 a small move, 0.25 a large one).

One implementation for the pull-request report's data diff (`report/datadiff.py`) and the
production monitor (`monitor/`). Numbers with more than `BINS` distinct values are cut at the
base's quantiles (open at both ends, so nothing falls outside), blanks counted as one more bin;
anything else is compared category by category, blanks included as their own value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BINS = 10
# An empty bin would make the index infinite; flooring each share is the usual convention.
FLOOR = 1e-4
# The value every blank cell counts as, in the category-by-category comparison.
BLANK = "(blank)"


def quantile_edges(base: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Bin edges at the quantiles of `base` (blanks ignored), open at both ends."""
    inner = np.unique(np.nanquantile(np.asarray(base, dtype=float), np.linspace(0, 1, bins + 1)))
    return np.r_[-np.inf, inner[1:-1], np.inf]


def binned_shares(values: pd.Series, edges: np.ndarray) -> np.ndarray:
    """The share of `values` in each bin of `edges`, then the share of blanks (sums to 1)."""
    binned = pd.cut(values, edges, labels=False, include_lowest=True)
    counts = np.bincount(binned.dropna().astype(int), minlength=len(edges) - 1)
    counts = np.append(counts, values.isna().sum())
    return counts / max(counts.sum(), 1)


def as_text(values: pd.Series) -> pd.Series:
    """Values as the text they are compared by: numbers as floats (1 and 1.0 are one value),
    every blank as one label (pandas may keep NaN through `astype(str)`, and text and NaN do
    not sort together)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        values = values.astype(float)
    return values.astype(str).where(values.notna(), BLANK)


def category_shares(values: pd.Series, categories: list[str]) -> np.ndarray:
    """The share of `values` (compared as text, see `as_text`) equal to each of `categories`."""
    counts = as_text(values).value_counts().reindex(categories, fill_value=0).to_numpy()
    return counts / max(counts.sum(), 1)


def index(base_shares: np.ndarray, candidate_shares: np.ndarray) -> float:
    """The PSI of two share vectors over the same bins (each share floored at `FLOOR`)."""
    b = np.maximum(np.asarray(base_shares, dtype=float), FLOOR)
    c = np.maximum(np.asarray(candidate_shares, dtype=float), FLOOR)
    return float(np.sum((c - b) * np.log(c / b)))


def is_binned(base: pd.Series, candidate: pd.Series) -> bool:
    """Whether `psi` cuts these samples into quantile bins (else: category by category)."""
    numeric = pd.api.types.is_numeric_dtype(base) and pd.api.types.is_numeric_dtype(candidate)
    return bool(numeric and base.nunique() > BINS)


def psi(base: pd.Series, candidate: pd.Series) -> float:
    """Population stability index of `candidate` against `base` (0 = same distribution)."""
    if is_binned(base, candidate):
        edges = quantile_edges(base.to_numpy(dtype=float))
        return index(binned_shares(base, edges), binned_shares(candidate, edges))
    categories = sorted({*as_text(base).unique(), *as_text(candidate).unique()})
    return index(category_shares(base, categories), category_shares(candidate, categories))
