"""How the raw data moved between the two revisions: shape, schema, target rate, and the
population stability index (PSI) of each feature, so a metric change can be read against the
data change that may explain it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churn.contract import Contract
from churn.report.contents import DataDiff, Shift

BINS = 10
TOP_SHIFTS = 10
# Empty bins would make the index infinite; this floor is the usual convention.
_FLOOR = 1e-4


def _target_rate(frame: pd.DataFrame, contract: Contract) -> float | None:
    target = contract.target
    if target.name not in frame.columns:
        return None
    column = frame[target.name]
    if pd.api.types.is_numeric_dtype(column):
        return float(column.mean())
    return float((column.astype(str) == target.positive).mean())


def _shares(values: pd.Series, edges: np.ndarray | None, categories: list[str]) -> np.ndarray:
    if edges is not None:
        binned = pd.cut(values, edges, labels=False, include_lowest=True)
        counts = np.bincount(binned.dropna().astype(int), minlength=len(edges) - 1)
        counts = np.append(counts, values.isna().sum())
    else:
        counts = values.astype(str).value_counts().reindex(categories, fill_value=0).to_numpy()
    total = max(counts.sum(), 1)
    return np.maximum(counts / total, _FLOOR)


def psi(base: pd.Series, candidate: pd.Series) -> float:
    """Population stability index of `candidate` against `base` (0 = same distribution)."""
    numeric = pd.api.types.is_numeric_dtype(base) and pd.api.types.is_numeric_dtype(candidate)
    if numeric and base.nunique() > BINS:
        inner = np.unique(np.nanquantile(base.to_numpy(dtype=float), np.linspace(0, 1, BINS + 1)))
        edges = np.r_[-np.inf, inner[1:-1], np.inf]
        b, c = _shares(base, edges, []), _shares(candidate, edges, [])
    else:
        categories = sorted(set(base.astype(str)) | set(candidate.astype(str)))
        b, c = _shares(base, None, categories), _shares(candidate, None, categories)
    return float(np.sum((c - b) * np.log(c / b)))


def diff(
    base: pd.DataFrame, candidate: pd.DataFrame, *, identical: bool, contract: Contract
) -> DataDiff:
    """Compare two raw tables; `identical` (same bytes) skips the distribution work."""
    common = [c for c in candidate.columns if c in base.columns]
    type_changes = tuple(
        (c, str(base[c].dtype), str(candidate[c].dtype))
        for c in common
        if str(base[c].dtype) != str(candidate[c].dtype)
    )
    shifts: tuple[Shift, ...] = ()
    if not identical:
        features = [c for c in common if c not in (contract.id.name, contract.target.name)]
        scored = sorted(
            (Shift(column=c, psi=psi(base[c], candidate[c])) for c in features),
            key=lambda s: -s.psi,
        )
        shifts = tuple(scored[:TOP_SHIFTS])
    return DataDiff(
        status="identical" if identical else "changed",
        note="same bytes at both revisions" if identical else "",
        base_rows=len(base),
        candidate_rows=len(candidate),
        added_columns=tuple(c for c in candidate.columns if c not in base.columns),
        removed_columns=tuple(c for c in base.columns if c not in candidate.columns),
        type_changes=type_changes,
        base_target_rate=_target_rate(base, contract),
        candidate_target_rate=_target_rate(candidate, contract),
        shifts=shifts,
    )
