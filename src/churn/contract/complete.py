"""Complete validated rows: fill the blanks the contract derives from other columns.

Every other blank rule (a constant, the median, ...) is an imputer inside the saved model; a
derived value is the one rule no scikit-learn part can express, so it is applied here, before
the model, in every path that feeds it (training, the service, scoring, the wheel).
NumPy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import rules
from .spec import Contract


def derive_blanks(
    contract: Contract,
    columns: Mapping[str, Sequence[Any]],
    rows: rules.RowNames = rules.REQUEST_ROWS,
) -> dict[str, Any]:
    """`columns` with each derived feature's blanks filled (unchanged columns are the same
    objects); raise `DataValidationError` when a derived value is not one the column may hold."""
    out = dict(columns)
    problems = rules.Problems(rows)
    for feature in contract.features:
        if feature.blank is None or feature.blank.expression is None:
            continue
        values = np.asarray(columns[feature.name], dtype=np.float64)
        missing = np.isnan(values)
        if not missing.any():
            continue
        expression = feature.blank.expression
        derived = expression.evaluate({name: columns[name] for name in expression.columns})
        low, high = feature.bounds
        with np.errstate(invalid="ignore"):
            wrong = missing & ~(np.isfinite(derived) & (derived >= low) & (derived <= high))
        for index in np.flatnonzero(wrong)[: rules.SHOWN_ROWS]:
            problems.add(
                feature.name,
                f"blank, and {expression.text} gives a value outside [{low:g}, {high:g}]",
                int(index),
                float(derived[index]),
            )
        problems.add_count(
            feature.name,
            f"blank, and {expression.text} gives a value outside [{low:g}, {high:g}]",
            max(int(wrong.sum()) - rules.SHOWN_ROWS, 0),
        )
        out[feature.name] = np.where(missing, derived, values)
    if problems:
        raise rules.DataValidationError(problems)
    return out
