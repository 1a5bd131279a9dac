"""The rules each cell must follow, stated once, and the error that lists what broke them.

`text_problem` judges a cell read from a file (CSV text), `value_problem` a value that arrived
typed (JSON, a DataFrame). Both answer None for a good cell or the problem in words. The fast
checkers (`text.py` for files, `values.py` for requests) only decide good or bad in bulk and
come back here to word what is wrong, so a file and a request are judged alike.
Standard library only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import ids
from .spec import Feature, IdColumn, Target

Column = Feature | IdColumn | Target
# A plain decimal number: no `_`, no `inf`/`nan`, no hexadecimal, no surrounding spaces.
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
SHOWN_ROWS = 5

BLANK = "blank value, and this column may not be blank"
# The problem of rows beyond those worded one by one (they are counted, not examined).
NOT_EXAMINED = "further problems"


def is_blank_text(text: str) -> bool:
    return text.strip() == ""


def is_blank_value(value: Any) -> bool:
    """None, NaN or an empty (or all-space) string: what JSON and DataFrames use for a blank."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and value.strip() == ""


def number_from_text(text: str) -> float | None:
    """The number a cell spells, or None when it is not a plain finite decimal number."""
    if not NUMBER.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def _range_problem(feature: Feature, number: float, shown: str) -> str | None:
    if feature.kind == "binary":
        return None if number in (0.0, 1.0) else f"must be 0 or 1, got {shown}"
    low, high = feature.bounds
    if not low <= number <= high:
        return f"outside [{low:g}, {high:g}]"
    return None


def _category_problem(categories: Sequence[str], text: str) -> str | None:
    if text in categories:
        return None
    return f"unknown category; allowed: {', '.join(categories)}"


def text_problem(column: Column, text: str) -> str | None:
    """What is wrong with one cell of a file, or None."""
    if isinstance(column, IdColumn):
        return None if ids.from_text(text, column.type) is not None else _not_an_id(column)
    if is_blank_text(text):
        allowed = isinstance(column, Feature) and column.blank is not None
        return None if allowed else BLANK
    if isinstance(column, Target):
        return _category_problem((column.negative, column.positive), text)
    if column.kind == "category":
        return _category_problem(column.categories, text)
    number = number_from_text(text)
    if number is None:
        return "not a finite number" if _looks_infinite(text) else "not a number"
    return _range_problem(column, number, text)


def value_problem(column: Column, value: Any) -> str | None:
    """What is wrong with one typed value (JSON or a DataFrame cell), or None."""
    if isinstance(column, IdColumn):
        return None if ids.from_json(value, column.type) is not None else _not_an_id(column)
    if is_blank_value(value):
        allowed = isinstance(column, Feature) and column.blank is not None
        return None if allowed else BLANK
    if isinstance(column, Target):
        if not isinstance(value, str):
            return f"expected text, got {describe(value)}"
        return _category_problem((column.negative, column.positive), value)
    if column.kind == "category":
        if not isinstance(value, str):
            return f"expected text, got {describe(value)}"
        return _category_problem(column.categories, value)
    # `type(...)`, not isinstance: JSON true/false and NumPy booleans are not the numbers 1/0.
    if type(value) is bool or not isinstance(value, int | float):
        return f"expected a number, got {describe(value)}"
    if not math.isfinite(value):
        return "not a finite number"
    return _range_problem(column, float(value), describe(value))


def _not_an_id(column: IdColumn) -> str:
    return f"not {ids.rule(column.type)}"


def _looks_infinite(text: str) -> bool:
    return text.strip().lstrip("+-").lower() in ("inf", "infinity", "nan")


def describe(value: Any) -> str:
    """A short, safe rendering of a value for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class RowNames:
    """How rows are named in messages: file lines (the header is line 1) or request rows."""

    kind: str = "row"
    offset: int = 0

    def __call__(self, index: int) -> str:
        if self.kind == "line":
            return f"line {self.offset + index + 2}"
        return f"row {self.offset + index + 1}"


FILE_LINES = RowNames("line")
REQUEST_ROWS = RowNames("row")


@dataclass
class Problems:
    """Problems found in a table, grouped by column and kind, with the rows of each."""

    rows: RowNames = REQUEST_ROWS
    # (column, problem) -> [(row index, shown value)], in the order found.
    groups: dict[tuple[str, str], list[tuple[int, str]]] = field(default_factory=dict)
    # (column, problem) -> how many more rows had it than are listed.
    unlisted: dict[tuple[str, str], int] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def add(self, column: str, problem: str, index: int, value: Any) -> None:
        self.groups.setdefault((column, problem), []).append((index, describe(value)))

    def add_count(self, column: str, problem: str, count: int) -> None:
        """Rows with `problem` beyond those listed with `add` (counted, not examined)."""
        if count:
            self.unlisted[(column, problem)] = self.unlisted.get((column, problem), 0) + count

    def add_general(self, message: str) -> None:
        self.general.append(message)

    def examine(
        self,
        column: Column,
        values: Sequence[Any],
        indexes: Sequence[int],
        judge: Callable[[Column, Any], str | None],
    ) -> None:
        """Word the problem of each listed row (`judge` is `text_problem` or `value_problem`)."""
        for index in indexes:
            problem = judge(column, values[index])
            if problem is not None:
                self.add(column.name, problem, index, values[index])

    def concern(self, column: str) -> bool:
        """Is anything wrong in `column`?"""
        return any(name == column for name, _ in (*self.groups, *self.unlisted))

    def __bool__(self) -> bool:
        return bool(self.groups or self.general)

    @property
    def count(self) -> int:
        """How many cells (or general problems) are wrong."""
        listed = sum(len(rows) for rows in self.groups.values())
        return len(self.general) + listed + sum(self.unlisted.values())

    def lines(self) -> list[str]:
        out = list(self.general)
        for (column, problem), rows in self.groups.items():
            total = len(rows) + self.unlisted.get((column, problem), 0)
            shown = ", ".join(f"{self.rows(i)} ({v})" for i, v in rows[:SHOWN_ROWS])
            more = f" and {total - SHOWN_ROWS:,} more" if total > SHOWN_ROWS else ""
            out.append(f"column '{column}': {problem} in {total:,} row(s): {shown}{more}")
        return out


class DataValidationError(ValueError):
    """The data breaks the contract; the message lists every problem (column, rows, values)."""

    def __init__(self, problems: Problems | list[str], subject: str = "the data") -> None:
        if isinstance(problems, list):
            listed = Problems()
            for message in problems:
                listed.add_general(message)
            problems = listed
        self.problems = problems
        self.lines = problems.lines()
        listing = "\n".join(f"  - {line}" for line in self.lines)
        super().__init__(f"{subject} failed validation ({problems.count:,} problem(s)):\n{listing}")
