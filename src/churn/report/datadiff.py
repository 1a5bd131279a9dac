"""How the raw data moved between the two revisions: shape, schema, target rate, and the
population stability index (PSI) of each feature, so a metric change can be read against the
data change that may explain it. The PSI is `churn.psi`'s, shared with the production monitor."""

from __future__ import annotations

import pandas as pd

from churn.contract import Contract
from churn.psi import psi
from churn.report.contents import DataDiff, Shift

TOP_SHIFTS = 10


def _target_rate(frame: pd.DataFrame, contract: Contract) -> float | None:
    target = contract.target
    if target.name not in frame.columns:
        return None
    column = frame[target.name]
    if pd.api.types.is_numeric_dtype(column):
        return float(column.mean())
    return float((column.astype(str) == target.positive).mean())


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
