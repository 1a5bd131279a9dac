"""Outcomes that arrive after the predictions (who actually churned), joined to what the model
predicted for the same id.

A labels file is CSV or Parquet (a path, or any URL pandas reads through fsspec) with:

    <id column>     the contract's id (e.g. customer_id), read by the contract's id parser
    <target column> the contract's labels (e.g. Yes / No)
    known_at        optional: when the outcome was known, ISO 8601 (UTC when no offset is given)

Each outcome joins the latest prediction for its id made at or before `known_at`; without that
column (or in a window without times), the id's latest prediction. An outcome with no such
prediction stays unjoined; the share joined is reported. A bad cell stops the monitor with every
problem listed (column, line, value), like the pipeline's raw data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from churn.contract import Contract, DataValidationError, ids, rules
from churn.monitor.errors import MonitorError
from churn.monitor.window import Window

KNOWN_AT = "known_at"
FORMATS = (".csv", ".parquet")
# The typed outcomes' columns.
ID = "id"
ACTUAL = "actual"
# The joined rows' columns: the prediction's probability and time, and the outcome.
PROBABILITY = "probability"
TIME = "time"
_EXAMINED_PER_COLUMN = 1_000


@dataclass(frozen=True)
class Joined:
    """The outcomes joined to a prediction: one row each (probability, time, actual 0/1)."""

    # Outcomes read (the file's rows, or those that came with the window).
    outcomes: int
    frame: pd.DataFrame
    # Why fewer joined than one might expect, when the cause is known.
    note: str = ""

    @property
    def rows(self) -> int:
        return len(self.frame)

    @property
    def share(self) -> float | None:
        return self.rows / self.outcomes if self.outcomes else None


def _format(location: str) -> str:
    suffix = PurePosixPath(location.split("?", maxsplit=1)[0]).suffix.lower()
    if suffix not in FORMATS:
        found = repr(suffix) if suffix else "no suffix"
        raise MonitorError(f"labels {location}: expected one of {', '.join(FORMATS)}, not {found}")
    return suffix


def _read(location: str) -> pd.DataFrame:
    suffix = _format(location)
    try:
        if suffix == ".csv":
            return pd.read_csv(location, dtype=str, keep_default_na=False)
        return pd.read_parquet(location)
    except FileNotFoundError:
        raise MonitorError(f"no labels file at {location}") from None
    except (ValueError, OSError, ImportError) as exc:
        raise MonitorError(f"cannot read the labels file {location}: {exc}") from None


def _as_text(column: pd.Series) -> pd.Series:
    text = column.astype(object)
    return text.where(text.notna(), "").astype(str)


def _parsed(name: str, cells: pd.Series, parse, problem_of, problems: rules.Problems) -> pd.Series:
    """`parse` of each distinct cell once; cells `problem_of` refuses are listed as problems."""
    worded = {cell: problem_of(cell) for cell in pd.unique(cells)}
    refused = {cell: problem is not None for cell, problem in worded.items()}
    bad = np.flatnonzero(cells.map(refused).to_numpy(dtype=bool))
    for index in bad[:_EXAMINED_PER_COLUMN]:
        problems.add(name, worded[cells.iloc[index]], int(index), cells.iloc[index])
    problems.add_count(name, rules.NOT_EXAMINED, max(len(bad) - _EXAMINED_PER_COLUMN, 0))
    return cells.map({cell: parse(cell) for cell in worded if worded[cell] is None})


def read(location: str, contract: Contract) -> pd.DataFrame:
    """The outcomes of a labels file, typed: `ID`, `ACTUAL` (1: the positive label), and
    `KNOWN_AT` (UTC) when the file has it. Raise `DataValidationError` listing every problem."""
    raw = _read(location)
    rows = rules.FILE_LINES if _format(location) == ".csv" else rules.REQUEST_ROWS
    problems = rules.Problems(rows)
    id_name, target = contract.id.name, contract.target
    missing = [name for name in (id_name, target.name) if name not in raw.columns]
    if missing:
        problems.add_general(
            f"missing column(s): {', '.join(missing)} (a labels file has {id_name}, "
            f"{target.name} and optionally {KNOWN_AT})"
        )
        raise DataValidationError(problems, f"the labels file {location}")
    if raw.empty:
        raise MonitorError(f"the labels file {location} has no rows")
    id_type = contract.id.type
    typed = pd.DataFrame(
        {
            ID: _parsed(
                id_name,
                _as_text(raw[id_name]),
                lambda cell: ids.from_text(cell, id_type),
                lambda cell: rules.text_problem(contract.id, cell),
                problems,
            ),
            ACTUAL: _parsed(
                target.name,
                _as_text(raw[target.name]),
                lambda cell: int(cell == target.positive),
                lambda cell: rules.text_problem(target, cell),
                problems,
            ),
        }
    )
    if KNOWN_AT in raw.columns:
        typed[KNOWN_AT] = _times(raw[KNOWN_AT], problems)
    if problems:
        raise DataValidationError(problems, f"the labels file {location}")
    typed[ID] = _typed_ids(typed[ID], id_type)
    typed[ACTUAL] = typed[ACTUAL].astype("int64")
    return typed


def _times(column: pd.Series, problems: rules.Problems) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column):
        times = pd.to_datetime(column, utc=True)
        texts = _as_text(column)
    else:
        texts = _as_text(column)
        times = pd.to_datetime(
            texts.where(texts.str.strip() != "", None), utc=True, format="ISO8601", errors="coerce"
        )
    bad = np.flatnonzero(times.isna().to_numpy())
    for index in bad[:_EXAMINED_PER_COLUMN]:
        problems.add(KNOWN_AT, "not an ISO 8601 time", int(index), texts.iloc[index])
    problems.add_count(KNOWN_AT, rules.NOT_EXAMINED, max(len(bad) - _EXAMINED_PER_COLUMN, 0))
    return times.astype("datetime64[ns, UTC]")


def _typed_ids(values: pd.Series, id_type: str) -> pd.Series:
    """Ids in one dtype on both sides of the join: int64, or text."""
    if id_type == "integer":
        return values.astype("int64")
    return values.astype(object).astype(str)


def from_split(contract: Contract, frame: pd.DataFrame) -> pd.DataFrame:
    """Typed outcomes from a prepared split's id and target (already 0/1) columns."""
    return pd.DataFrame(
        {
            ID: _typed_ids(frame[contract.id.name].reset_index(drop=True), contract.id.type),
            ACTUAL: frame[contract.target.name].astype("int64").reset_index(drop=True),
        }
    )


def join(window: Window, outcomes: pd.DataFrame, contract: Contract) -> Joined:
    """Each outcome with the latest earlier prediction for its id (see the module)."""
    empty = pd.DataFrame({PROBABILITY: [], TIME: [], ACTUAL: []})
    if window.ids is None:
        return Joined(
            len(outcomes),
            empty,
            f"the window has no {contract.id.name} column, so no outcome can be joined "
            f"(send {contract.id.name} with each /predict record)",
        )
    predictions = pd.DataFrame(
        {
            ID: window.ids.to_numpy(),
            PROBABILITY: window.probability,
            TIME: (
                window.times.astype("datetime64[ns, UTC]").reset_index(drop=True)
                if window.times is not None
                else pd.NaT
            ),
            "order": np.arange(window.rows),
        }
    )
    predictions = predictions[predictions[ID].notna()]
    predictions[ID] = _typed_ids(predictions[ID], contract.id.type)
    note = ""
    if KNOWN_AT in outcomes.columns and window.times is not None:
        joined = pd.merge_asof(
            outcomes.sort_values(KNOWN_AT, kind="stable"),
            predictions.sort_values([TIME, "order"], kind="stable"),
            left_on=KNOWN_AT,
            right_on=TIME,
            by=ID,
            direction="backward",
        ).dropna(subset=[PROBABILITY])
    else:
        if KNOWN_AT in outcomes.columns:
            note = (
                f"the window has no times: {KNOWN_AT} is ignored, each outcome joins its id's "
                "last row"
            )
        order = [TIME, "order"] if window.times is not None else ["order"]
        latest = predictions.sort_values(order, kind="stable").groupby(ID, sort=False).tail(1)
        joined = outcomes.merge(latest, on=ID, how="inner")
    frame = joined[[PROBABILITY, TIME, ACTUAL]].reset_index(drop=True)
    return Joined(len(outcomes), frame, note)
