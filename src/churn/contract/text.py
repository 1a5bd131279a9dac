"""Check text cells (a CSV file, a CSV request body) against the contract and type them.

Two speeds, one set of rules (`rules.text_problem`): `check_arrow` judges whole columns of a
PyArrow table at C speed (files of millions of rows), `check_cells` walks Python lists (a CSV
request, at most a few thousand rows, where PyArrow may not be installed). Both only decide
good or bad in bulk and ask `rules` to word the problems, so they cannot disagree on wording;
a property test holds them to the same verdicts.

Typed results: numbers and binaries as float64 (NaN for an allowed blank), categories as text
("" for an allowed blank), integer ids as int64, string ids as text, the target as 0/1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import ids, rules
from .spec import Contract, Feature, IdColumn, Target

if TYPE_CHECKING:
    import pyarrow as pa

# Rows of one column whose problems are worded one by one; the rest are only counted.
_EXAMINED_PER_COLUMN = 1_000


def columns_to_check(
    contract: Contract, *, with_target: bool, with_id: bool = True
) -> list[rules.Column]:
    out: list[rules.Column] = [contract.id] if with_id else []
    if with_target:
        out.append(contract.target)
    return [*out, *contract.features]


def check_names(
    contract: Contract, names: Sequence[str], *, with_target: bool, with_id: bool = True
) -> list[str]:
    """Problems with the header: missing and unexpected columns."""
    expected = [
        c.name for c in columns_to_check(contract, with_target=with_target, with_id=with_id)
    ]
    missing = [n for n in expected if n not in names]
    extra = [n for n in names if n not in expected]
    problems = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected column(s): {', '.join(map(str, extra))}")
    if len(set(names)) != len(names):
        problems.append("the header names a column twice")
    return problems


# ---- the fast path: PyArrow -------------------------------------------------------------


def check_arrow(
    contract: Contract,
    table: pa.Table,
    *,
    with_target: bool,
    rows: rules.RowNames = rules.FILE_LINES,
) -> dict[str, np.ndarray]:
    """The typed columns of `table` (all string columns); raise `DataValidationError`."""
    problems = rules.Problems(rows)
    header = check_names(contract, table.column_names, with_target=with_target)
    for message in header:
        problems.add_general(message)
    if table.num_rows == 0:
        problems.add_general("no rows: the file has a header but no data")
    if problems:
        raise rules.DataValidationError(problems)
    typed = {}
    for column in columns_to_check(contract, with_target=with_target):
        cells = table.column(column.name).combine_chunks()
        typed[column.name] = _arrow_column(column, cells, problems)
    _check_unique_ids(contract.id.name, typed.get(contract.id.name), problems)
    if problems:
        raise rules.DataValidationError(problems)
    return typed


def _arrow_column(column: rules.Column, cells: pa.Array, problems: rules.Problems) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    cells = cells.cast(pa.string())
    if cells.null_count:  # a Parquet null reads as a blank cell
        cells = pc.fill_null(cells, "")
    blank_ok = isinstance(column, Feature) and column.blank is not None
    # Only where a blank is allowed does it need finding: elsewhere a blank cell fails the
    # column's own test, and `rules` words it as a blank.
    blank = pc.equal(pc.utf8_trim_whitespace(cells), "") if blank_ok else None
    if isinstance(column, IdColumn):
        good, typed = _arrow_id(column, cells)
    elif isinstance(column, Target):
        good = pc.is_in(cells, value_set=pa.array([column.negative, column.positive]))
        typed = pc.equal(cells, column.positive).to_numpy(zero_copy_only=False).astype(np.int64)
    elif column.kind == "category":
        good = pc.is_in(cells, value_set=pa.array(list(column.categories)))
        typed = _category_texts(pc.if_else(blank, "", cells) if blank_ok else cells)
    else:
        good, typed = _arrow_number(column, cells)
    if blank_ok:
        good = pc.or_(good, blank)
    good = pc.fill_null(good, False).to_numpy(zero_copy_only=False)
    if not good.all():
        bad = np.flatnonzero(~good)
        examined = bad[:_EXAMINED_PER_COLUMN]
        texts = cells.take(pa.array(examined)).to_pylist()
        for index, text in zip(examined, texts, strict=True):
            problem = rules.text_problem(column, text)
            if problem is None:  # the two paths disagree: a bug, never a silent pass
                raise AssertionError(f"{column.name}: {text!r} judged both good and bad")
            problems.add(column.name, problem, int(index), text)
        if len(bad) > len(examined):
            problems.add_count(column.name, rules.NOT_EXAMINED, len(bad) - len(examined))
    return typed


def _category_texts(cells: pa.Array) -> np.ndarray:
    """The cells as a NumPy object array holding one Python string per distinct value, shared
    by every cell that has it (a category column has a handful), not one per cell."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(cells)
    return encoded.dictionary.to_numpy(zero_copy_only=False)[encoded.indices.to_numpy()]


def _arrow_number(column: Feature, cells: pa.Array) -> tuple[pa.Array, np.ndarray]:
    import pyarrow as pa
    import pyarrow.compute as pc

    plain = pc.match_substring_regex(cells, f"^(?:{rules.NUMBER.pattern})$")
    numbers = pc.cast(pc.if_else(plain, cells, pa.scalar(None, pa.string())), pa.float64())
    values = numbers.to_numpy(zero_copy_only=False)  # null -> NaN
    with np.errstate(invalid="ignore"):
        if column.kind == "binary":
            inside = (values == 0.0) | (values == 1.0)
        else:
            low, high = column.bounds
            inside = np.isfinite(values) & (values >= low) & (values <= high)
    return pa.array(inside), values.astype(np.float64)


def _arrow_id(column: IdColumn, cells: pa.Array) -> tuple[pa.Array, np.ndarray]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.type == "string":
        length = pc.utf8_length(cells)
        good = pc.and_(
            pc.and_(pc.greater(length, 0), pc.less_equal(length, ids.MAX_STRING_ID_LENGTH)),
            pc.and_(pc.equal(pc.utf8_trim_whitespace(cells), cells), pc.utf8_is_printable(cells)),
        )
        return good, cells.to_numpy(zero_copy_only=False).astype(object)
    plain = pc.match_substring_regex(cells, r"^(?:0|[1-9][0-9]{0,18})$")
    longest = str(ids.MAX_INTEGER_ID)
    # Equal-length digit strings compare as numbers do: this keeps 2^63 and above out.
    fits = pc.or_(
        pc.less(pc.utf8_length(cells), len(longest)), pc.less_equal(cells, pa.scalar(longest))
    )
    good = pc.and_(plain, fits)
    numbers = pc.cast(pc.if_else(good, cells, pa.scalar("0")), pa.int64())
    return good, numbers.to_numpy(zero_copy_only=False)


def _check_unique_ids(name: str, typed: np.ndarray | None, problems: rules.Problems) -> None:
    # Invalid ids are typed as placeholders: only a column of valid ids is checked for repeats.
    if typed is None or problems.concern(name):
        return
    import pandas as pd

    duplicated = pd.Series(typed).duplicated(keep=False).to_numpy()
    if duplicated.any():
        for index in np.flatnonzero(duplicated)[: rules.SHOWN_ROWS]:
            problems.add(name, "duplicate id", int(index), typed[index])
        problems.add_count(
            name,
            "duplicate id",
            int(duplicated.sum()) - min(int(duplicated.sum()), rules.SHOWN_ROWS),
        )


# ---- the small path: Python lists -------------------------------------------------------


def check_cells(
    contract: Contract,
    columns: Mapping[str, Sequence[str]],
    row_count: int,
    *,
    with_id: bool = False,
    rows: rules.RowNames = rules.REQUEST_ROWS,
) -> dict[str, list[Any]]:
    """Typed feature columns (and the id, if present and wanted) of a small text table."""
    problems = rules.Problems(rows)
    wanted = columns_to_check(contract, with_target=False, with_id=with_id)
    typed: dict[str, list[Any]] = {}
    for column in wanted:
        cells = columns[column.name]
        bad = [i for i, cell in enumerate(cells) if rules.text_problem(column, cell) is not None]
        problems.examine(column, cells, bad[:_EXAMINED_PER_COLUMN], rules.text_problem)
        problems.add_count(column.name, rules.NOT_EXAMINED, max(len(bad) - _EXAMINED_PER_COLUMN, 0))
        typed[column.name] = [] if bad else [_typed_cell(column, cell) for cell in cells]
    if problems:
        raise rules.DataValidationError(problems, "the input")
    return typed


def _typed_cell(column: rules.Column, cell: str) -> Any:
    if isinstance(column, IdColumn):
        return ids.from_text(cell, column.type)
    blank = rules.is_blank_text(cell)
    if isinstance(column, Feature) and column.numeric:
        return float("nan") if blank else rules.number_from_text(cell)
    return "" if blank else cell
