"""Load the raw customer table, validate it against `schema`, clean it, and split it.

Validation collects every problem before failing, so one run tells the data scientist all that
is wrong, each problem naming the column and a few offending rows (as file line numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from churn.contract import schema

_SHOWN_ROWS = 5


class DataValidationError(ValueError):
    """The raw data breaks the schema; the message lists each problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"raw data failed validation ({len(problems)} problem(s)):\n{listing}")


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    test: pd.DataFrame


def load_raw(path: Path) -> pd.DataFrame:
    """Read the raw CSV as text so that type problems can be reported, not silently coerced."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataValidationError([f"{path} is empty: no header and no rows"]) from None


def _rows(mask: pd.Series, frame: pd.DataFrame, name: str) -> str:
    """Describe the first offending rows by file line number (header is line 1) and value."""
    bad = frame.index[mask.to_numpy()]
    shown = ", ".join(f"line {i + 2} ({frame.at[i, name]!r})" for i in bad[:_SHOWN_ROWS])
    more = f" and {len(bad) - _SHOWN_ROWS} more" if len(bad) > _SHOWN_ROWS else ""
    return f"{len(bad)} row(s): {shown}{more}"


def _parse_column(
    col: schema.Column, text: pd.Series, frame: pd.DataFrame
) -> tuple[pd.Series, list[str]]:
    """The column typed as the schema says, and what is wrong with it (parsed once: validation
    dominates the cost of scoring large files)."""
    problems: list[str] = []
    blank = text.str.strip() == ""
    if blank.any() and not col.nullable:
        problems.append(f"column '{col.name}': blank value in {_rows(blank, frame, col.name)}")
    present = ~blank
    if col.kind in ("category", "target"):
        unknown = present & ~text.isin(col.categories)
        if unknown.any():
            problems.append(
                f"column '{col.name}': unknown category in {_rows(unknown, frame, col.name)}; "
                f"allowed: {', '.join(col.categories)}"
            )
        return text.astype(str), problems
    numbers = pd.to_numeric(text.where(present), errors="coerce")
    not_numeric = present & numbers.isna()
    if not_numeric.any():
        problems.append(
            f"column '{col.name}': not a number in {_rows(not_numeric, frame, col.name)}"
        )
    if col.kind in ("id", "binary"):
        not_int = present & ~not_numeric & (numbers % 1 != 0)
        if not_int.any():
            problems.append(
                f"column '{col.name}': not an integer in {_rows(not_int, frame, col.name)}"
            )
    if col.kind == "binary":
        out = present & ~not_numeric & ~numbers.isin([0, 1])
        if out.any():
            problems.append(f"column '{col.name}': must be 0 or 1 in {_rows(out, frame, col.name)}")
    low = col.minimum if col.minimum is not None else -np.inf
    high = col.maximum if col.maximum is not None else np.inf
    out_of_range = present & ~not_numeric & ((numbers < low) | (numbers > high))
    if out_of_range.any():
        problems.append(
            f"column '{col.name}': outside [{low:g}, {high:g}] in "
            f"{_rows(out_of_range, frame, col.name)}"
        )
    if col.kind == "id":
        duplicated = present & text.duplicated(keep=False)
        if duplicated.any():
            problems.append(
                f"column '{col.name}': duplicate id in {_rows(duplicated, frame, col.name)}"
            )
    if col.kind in ("id", "binary") and not problems:
        return numbers.astype("int64"), problems
    return numbers.astype("float64"), problems


def validate(raw: pd.DataFrame, *, with_target: bool = True, row_offset: int = 0) -> pd.DataFrame:
    """Check `raw` (all text) against the schema and return it typed; raise on any problem.

    `with_target=False` checks rows to be scored, which carry no label. `row_offset` counts the
    data rows that precede `raw` in its file, so problems in a chunk name the file's own lines.
    """
    columns = [c for c in schema.COLUMNS if with_target or c.name != schema.TARGET]
    expected = [c.name for c in columns]
    missing = [n for n in expected if n not in raw.columns]
    extra = [n for n in raw.columns if n not in expected]
    problems = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected column(s): {', '.join(map(str, extra))}")
    if raw.empty:
        problems.append("no rows: the file has a header but no data")
    if problems:
        raise DataValidationError(problems)
    raw = raw.set_axis(pd.RangeIndex(row_offset, row_offset + len(raw)))
    typed = {}
    for col in columns:
        typed[col.name], found = _parse_column(col, raw[col.name], raw)
        problems.extend(found)
    if problems:
        raise DataValidationError(problems)
    return pd.DataFrame(typed).reset_index(drop=True)


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill what the source leaves blank and encode the target as 0/1, in a stable row order."""
    cleaned = frame.copy()
    # A blank total means nothing has been billed yet (tenure 0): the true total is what
    # tenure times the monthly charge gives, i.e. 0 for new customers.
    estimate = cleaned["tenure"] * cleaned["monthly_charges"]
    cleaned["total_charges"] = cleaned["total_charges"].fillna(estimate).astype("float64")
    if schema.TARGET in cleaned.columns:  # rows to be scored have no label
        cleaned[schema.TARGET] = (cleaned[schema.TARGET] == schema.POSITIVE_LABEL).astype("int64")
    # Sorting by id makes the split independent of the order rows arrive in.
    return cleaned.sort_values(schema.ID, kind="stable").reset_index(drop=True)


def split(frame: pd.DataFrame, test_size: float, random_state: int) -> Split:
    """Deterministic split, stratified on the target."""
    train, test = train_test_split(
        frame, test_size=test_size, random_state=random_state, stratify=frame[schema.TARGET]
    )
    return Split(train=train.reset_index(drop=True), test=test.reset_index(drop=True))


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns, in schema order."""
    return frame[[c.name for c in schema.FEATURES]]


def target(frame: pd.DataFrame) -> np.ndarray:
    return frame[schema.TARGET].to_numpy()
