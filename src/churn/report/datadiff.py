"""How the raw data moved between the two revisions: shape, schema, target rate, and the
population stability index (PSI) of each feature, so a metric change can be read against the
data change that may explain it. The index is `churn.psi`'s, shared with the production monitor.

Each raw table is read once, in chunks, into a `TableProfile` of bounded size: per column the
exact count of each value (until a column has more than `MAX_CATEGORIES` distinct values), the
number of blank cells, whether every value is a number, and a uniform sample of its numbers
(all of them when the table has at most `SAMPLE_SIZE` rows, so PSI is exact at the example's
size). Memory stays flat however large the tables are.

The table is read as text, like the pipeline reads it (`contract.table`): a blank cell is
"missing", its own category, never NaN mixed with strings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from churn.contract import Contract
from churn.psi import BINS, index, quantile_edges
from churn.psi import BLANK as MISSING
from churn.report.contents import DataDiff, Shift

TOP_SHIFTS = 10
CHUNK_ROWS = 50_000
# Distinct values counted exactly per column; beyond, the column is high-cardinality.
MAX_CATEGORIES = 1_000
# Numbers kept per column for the quantile bins (a uniform sample beyond this many rows).
SAMPLE_SIZE = 100_000
SEED = 0


@dataclass
class ColumnProfile:
    """One column of a raw table, summarised in bounded memory."""

    rows: int = 0
    missing: int = 0
    numeric: bool = True
    integer: bool = True
    # Exact value counts (text as in the file); None once there are too many distinct values.
    counts: Counter | None = field(default_factory=Counter)
    numbers_sum: float = 0.0
    # A uniform sample of the column's numbers: the values with the smallest random keys.
    sample: np.ndarray = field(default_factory=lambda: np.empty(0))
    keys: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def dtype(self) -> str:
        """The type pandas would infer for the column (names as pandas prints them)."""
        present = self.rows - self.missing
        if self.numeric and present:
            return "int64" if self.integer and not self.missing else "float64"
        return "str"

    def add(self, text: pd.Series, rng: np.random.Generator) -> None:
        blank = text.str.strip() == ""
        self.rows += len(text)
        self.missing += int(blank.sum())
        present = text[~blank]
        if self.counts is not None:
            self.counts.update(present.value_counts().to_dict())
            if len(self.counts) > MAX_CATEGORIES:
                self.counts = None
        if not self.numeric:
            return
        numbers = pd.to_numeric(present, errors="coerce").to_numpy(dtype=float)
        if np.isnan(numbers).any():
            self.numeric = False
            self.sample = self.keys = np.empty(0)
            return
        self.integer = self.integer and bool(np.all(numbers % 1 == 0))
        self.numbers_sum += float(numbers.sum())
        keys = rng.random(len(numbers))
        sample, keys = np.r_[self.sample, numbers], np.r_[self.keys, keys]
        if len(sample) > SAMPLE_SIZE:
            kept = np.argpartition(keys, SAMPLE_SIZE)[:SAMPLE_SIZE]
            sample, keys = sample[kept], keys[kept]
        self.sample, self.keys = sample, keys

    @property
    def distinct(self) -> int | None:
        return None if self.counts is None else len(self.counts) + (self.missing > 0)


@dataclass
class TableProfile:
    columns: dict[str, ColumnProfile]
    rows: int


def profile(chunks: Iterable[pd.DataFrame], seed: int = SEED) -> TableProfile:
    """Summarise a table given as chunks of text columns (see `read_profile`)."""
    rng = np.random.default_rng(seed)
    columns: dict[str, ColumnProfile] = {}
    rows = 0
    for chunk in chunks:
        rows += len(chunk)
        for name in chunk.columns:
            # pandas keeps NaN through astype(str): make every missing cell a blank string.
            text = chunk[name].astype(str).fillna("")
            columns.setdefault(str(name), ColumnProfile()).add(text, rng)
    return TableProfile(columns=columns, rows=rows)


def read_profile(path: Path | str, chunk_rows: int = CHUNK_ROWS) -> TableProfile:
    """Summarise the CSV at `path`, `chunk_rows` rows at a time."""
    with pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=chunk_rows) as reader:
        return profile(reader)


def _target_rate(table: TableProfile, contract: Contract) -> float | None:
    column = table.columns.get(contract.target.name)
    if column is None or column.rows == 0:
        return None
    if column.numeric and column.rows > column.missing:
        return column.numbers_sum / (column.rows - column.missing)
    if column.counts is None:
        return None
    return column.counts.get(contract.target.positive, 0) / column.rows


def _shares(counts: np.ndarray) -> np.ndarray:
    return counts / max(counts.sum(), 1)


def _numeric_shares(column: ColumnProfile, edges: np.ndarray) -> np.ndarray:
    # Bin shares of the sampled numbers, scaled to the present share, plus the blank share.
    binned = np.bincount(
        np.clip(np.searchsorted(edges, column.sample, side="left") - 1, 0, len(edges) - 2),
        minlength=len(edges) - 1,
    ).astype(float)
    present = (column.rows - column.missing) / max(column.rows, 1)
    shares = binned / max(binned.sum(), 1) * present
    return np.append(shares, column.missing / max(column.rows, 1))


def _category_shares(column: ColumnProfile, categories: list[str]) -> np.ndarray:
    counts = column.counts or Counter()
    return np.array(
        [column.missing if c == MISSING else counts.get(c, 0) for c in categories], dtype=float
    )


def psi(base: ColumnProfile, candidate: ColumnProfile) -> float | None:
    """Population stability index of `candidate` against `base` (0 = same distribution);
    None for a column with too many distinct values that are not all numbers."""
    numeric = base.numeric and candidate.numeric and len(base.sample) > 0
    if numeric and (base.distinct is None or base.distinct > BINS):
        edges = quantile_edges(base.sample)
        return index(_numeric_shares(base, edges), _numeric_shares(candidate, edges))
    if base.counts is not None and candidate.counts is not None:
        categories = sorted(set(base.counts) | set(candidate.counts) | {MISSING})
        return index(
            _shares(_category_shares(base, categories)),
            _shares(_category_shares(candidate, categories)),
        )
    return None


def diff(
    base: TableProfile, candidate: TableProfile, *, identical: bool, contract: Contract
) -> DataDiff:
    """Compare two raw tables; `identical` (same bytes) skips the distribution work."""
    common = [c for c in candidate.columns if c in base.columns]
    type_changes = tuple(
        (c, base.columns[c].dtype, candidate.columns[c].dtype)
        for c in common
        if base.columns[c].dtype != candidate.columns[c].dtype
    )
    shifts: tuple[Shift, ...] = ()
    if not identical:
        features = [c for c in common if c not in (contract.id.name, contract.target.name)]
        scored = [(c, psi(base.columns[c], candidate.columns[c])) for c in features]
        shifts = tuple(
            sorted(
                (Shift(column=c, psi=value) for c, value in scored if value is not None),
                key=lambda s: -s.psi,
            )[:TOP_SHIFTS]
        )
    return DataDiff(
        status="identical" if identical else "changed",
        note="same bytes at both revisions" if identical else "",
        base_rows=base.rows,
        candidate_rows=candidate.rows,
        added_columns=tuple(c for c in candidate.columns if c not in base.columns),
        removed_columns=tuple(c for c in base.columns if c not in candidate.columns),
        type_changes=type_changes,
        base_target_rate=_target_rate(base, contract),
        candidate_target_rate=_target_rate(candidate, contract),
        shifts=shifts,
    )
