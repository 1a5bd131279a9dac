"""Test material generated from the data contract, so the suite holds for any table.

Good rows are real rows of the project's own raw table; bad files are those rows with one
defect each, chosen from the columns the contract declares (a defect the contract cannot have,
such as an unknown category in a table without categories, is simply not generated); requests
are real feature rows in every format the service takes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from churn.contract import Contract
from churn.contract.spec import Feature

SAMPLE_ROWS = 40


def read_text(path: Path) -> pd.DataFrame:
    """A raw CSV as text, exactly as written (blanks stay blank)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def sample(raw_csv: Path, rows: int = SAMPLE_ROWS) -> pd.DataFrame:
    """The first `rows` rows of the raw table, as text, with both target labels present."""
    frame = read_text(raw_csv)
    head = frame.head(rows)
    return head.reset_index(drop=True)


def first(contract: Contract, test: Callable[[Feature], bool]) -> Feature | None:
    return next((f for f in contract.features if test(f)), None)


@dataclass(frozen=True)
class Defect:
    """One thing wrong with a file, and what the error must say about it."""

    name: str
    mutate: Callable[[pd.DataFrame], pd.DataFrame]
    expected: tuple[str, ...]


def _set(row: int, column: str, value: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame.loc[row, column] = value
        return frame

    return mutate


def _line(row: int) -> str:
    return f"line {row + 2}"


def defects(contract: Contract) -> list[Defect]:
    """Every defect this contract lets us build, each in a different row."""
    out = []
    last = contract.features[-1].name
    out.append(
        Defect(
            "missing column",
            lambda f: f.drop(columns=[last]),
            (f"missing column(s): {last}",),
        )
    )
    out.append(
        Defect(
            "unexpected column",
            lambda f: f.assign(zz_unexpected="1"),
            ("unexpected column(s): zz_unexpected",),
        )
    )
    number = first(contract, lambda f: f.kind == "number")
    if number is not None:
        out.append(
            Defect(
                "not a number",
                _set(3, number.name, "twelve"),
                (f"column '{number.name}': not a number", f"{_line(3)} ('twelve')"),
            )
        )
        out.append(
            Defect(
                "not finite",
                _set(4, number.name, "inf"),
                (f"column '{number.name}': not a finite number", f"{_line(4)} ('inf')"),
            )
        )
    bounded = first(contract, lambda f: f.kind == "number" and f.maximum is not None)
    if bounded is not None:
        above = f"{bounded.maximum + 1:g}"
        low, high = bounded.bounds
        out.append(
            Defect(
                "out of range",
                _set(8, bounded.name, above),
                (
                    f"column '{bounded.name}': outside [{low:g}, {high:g}]",
                    f"{_line(8)} ('{above}')",
                ),
            )
        )
    binary = first(contract, lambda f: f.kind == "binary")
    if binary is not None:
        out.append(
            Defect(
                "binary not 0 or 1",
                _set(6, binary.name, "2"),
                (f"column '{binary.name}': must be 0 or 1", f"{_line(6)} ('2')"),
            )
        )
    category = first(contract, lambda f: f.kind == "category")
    if category is not None:
        out.append(
            Defect(
                "unknown category",
                _set(5, category.name, "No-such-category"),
                (f"column '{category.name}': unknown category", f"{_line(5)} ('No-such-category')"),
            )
        )
    strict = first(contract, lambda f: f.blank is None)
    if strict is not None:
        out.append(
            Defect(
                "blank where none is allowed",
                _set(2, strict.name, ""),
                (f"column '{strict.name}': blank value", f"{_line(2)} ('')"),
            )
        )
    id_name = contract.id.name

    def duplicate(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame.loc[11, id_name] = frame.loc[10, id_name]
        return frame

    out.append(Defect("duplicate id", duplicate, (f"column '{id_name}': duplicate id", _line(11))))
    integer = contract.id.type == "integer"
    bad_id, kind = ("+5", "an integer") if integer else (" padded", "a string")
    expected = (f"column '{id_name}': not {kind} id", _line(9))
    out.append(Defect("not an id", _set(9, id_name, bad_id), expected))
    target = contract.target.name
    out.append(
        Defect(
            "unknown target label",
            _set(1, target, "Maybe"),
            (f"column '{target}': unknown category", f"{_line(1)} ('Maybe')"),
        )
    )
    out.append(Defect("no rows", lambda f: f.head(0), ("no rows",)))
    return out


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False, lineterminator="\n")
    return path


# ---- requests ------------------------------------------------------------------------------


def json_value(value: Any) -> Any:
    """A typed cell as a request sends it: NaN and "" (blank) as null, whole floats as-is."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if value == "":
        return None
    return value.item() if hasattr(value, "item") else value


def records(contract: Contract, features: pd.DataFrame) -> list[dict[str, Any]]:
    """Feature rows (typed, as in the prepared split) as JSON records."""
    names = list(contract.feature_names)
    return [
        {name: json_value(value) for name, value in zip(names, row, strict=True)}
        for row in features[names].itertuples(index=False)
    ]


def request_bodies(contract: Contract, rows: list[dict[str, Any]]) -> dict[str, tuple[str, bytes]]:
    """The same rows in every format `/invocations` takes: name -> (content type, body)."""
    names = list(contract.feature_names)
    split = {"columns": names, "data": [[r[n] for n in names] for r in rows]}
    columnar = {n: [r[n] for r in rows] for n in names}

    def cell(value: Any) -> str:
        return "" if value is None else str(value)

    csv = ",".join(names) + "\n"
    csv += "".join(",".join(_csv_quote(cell(r[n])) for n in names) + "\n" for r in rows)
    return {
        "dataframe_split": ("application/json", json.dumps({"dataframe_split": split}).encode()),
        "dataframe_records": ("application/json", json.dumps({"dataframe_records": rows}).encode()),
        "instances": ("application/json", json.dumps({"instances": rows}).encode()),
        "inputs columnar": ("application/json", json.dumps({"inputs": columnar}).encode()),
        "csv": ("text/csv; charset=utf-8", csv.encode()),
    }


def _csv_quote(text: str) -> str:
    return f'"{text}"' if any(c in text for c in ',"\n') else text
