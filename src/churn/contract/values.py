"""Check typed values (a JSON request, a DataFrame handed to the wheel) against the contract.

The same rules as files (`rules.value_problem`), at two speeds chosen by column length: plain
comparisons for the one-row requests that dominate a service's traffic (NumPy's per-call
overhead would cost more), NumPy for long columns. Either way the values are only walked one by
one to word what is wrong. Standard library and NumPy only: the service's fast path imports
neither pandas nor scikit-learn.

Typed results are lists, cheap to merge across requests: numbers as floats (NaN for an allowed
blank), categories as text ("" for an allowed blank), ids as the id parser returns them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import ids, rules
from .spec import Contract, Feature, IdColumn

# Columns at least this long are checked with NumPy, shorter ones value by value.
_VECTORIZE_FROM = 64
# In `ids_column`: a row that carries no id (JSON null is an id that is not valid).
ABSENT = object()
_EXAMINED_PER_COLUMN = 1_000


def check(
    contract: Contract,
    columns: Mapping[str, Sequence[Any]],
    *,
    rows: rules.RowNames = rules.REQUEST_ROWS,
    ids_column: Sequence[Any] | None = None,
) -> tuple[dict[str, list[Any]], list[Any] | None]:
    """The typed feature columns, and the typed ids when `ids_column` is given (a request may
    carry ids on some rows only: `ABSENT` there, None in the result). Raise `DataValidationError` on
    any problem."""
    problems = rules.Problems(rows)
    typed: dict[str, list[Any]] = {}
    for feature in contract.features:
        values = columns[feature.name]
        if _all_good(feature, values):
            typed[feature.name] = _normalized(feature, values)
            continue
        bad = [i for i, v in enumerate(values) if rules.value_problem(feature, v) is not None]
        problems.examine(feature, values, bad[:_EXAMINED_PER_COLUMN], rules.value_problem)
        problems.add_count(
            feature.name, rules.NOT_EXAMINED, max(len(bad) - _EXAMINED_PER_COLUMN, 0)
        )
    typed_ids = None if ids_column is None else _ids(contract.id, ids_column, problems)
    if problems:
        raise rules.DataValidationError(problems, "the input")
    return typed, typed_ids


def _ids(column: IdColumn, values: Sequence[Any], problems: rules.Problems) -> list[Any]:
    typed = []
    for index, value in enumerate(values):
        parsed = None if value is ABSENT else ids.from_json(value, column.type)
        if value is not ABSENT and parsed is None:
            problems.add(column.name, f"not {ids.rule(column.type)}", index, value)
        typed.append(parsed)
    return typed


def _all_good(feature: Feature, values: Sequence[Any]) -> bool:
    """Is every value acceptable as it stands? (Nothing is copied or converted.)"""
    if feature.blank is not None:
        # Blanks take part: the exact per-value rule is as cheap as any shortcut here.
        return all(rules.value_problem(feature, v) is None for v in values)
    if not feature.numeric:
        try:
            # The categories are strings, so this also refuses numbers, null and booleans.
            return frozenset(feature.categories).issuperset(values)
        except TypeError:  # an unhashable value: a list or an object
            return False
    low, high = feature.bounds
    if len(values) < _VECTORIZE_FROM:
        # NaN fails every comparison and the bounds are finite or infinite, so NaN is refused;
        # an infinity passes only an unbounded side, hence the isfinite below.
        for value in values:
            kind = type(value)  # not isinstance: JSON true/false must not pass as 1/0
            if kind is not float and kind is not int:
                return False
            if not low <= value <= high or not math.isfinite(value):
                return False
            if feature.kind == "binary" and value not in (0, 1):
                return False
        return True
    if not set(map(type, values)) <= {int, float}:
        return False
    try:
        array = np.array(values, dtype=np.float64)
    except OverflowError:
        return False
    inside = np.isfinite(array) & (array >= low) & (array <= high)
    if feature.kind == "binary":
        inside &= (array == 0.0) | (array == 1.0)
    return bool(inside.all())


def _normalized(feature: Feature, values: Sequence[Any]) -> list[Any]:
    """Blanks in their one typed form (NaN, ""); everything else as given."""
    if feature.blank is None:
        return list(values)
    if feature.numeric:
        return [float("nan") if rules.is_blank_value(v) else v for v in values]
    return ["" if rules.is_blank_value(v) else v for v in values]
