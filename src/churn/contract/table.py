"""Tables the contract describes, as pandas DataFrames: read a raw file, check it, type it.

A raw file is read as text only (PyArrow's CSV reader, every column a string), so a type
problem is reported with its line, never silently coerced. The typed table holds the id, the
target as 0/1 (when present) and the features, with derived blanks filled (`complete`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import complete, rules, text
from .spec import Contract

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

_BLOCK_BYTES = 16 << 20
# The streaming reader parses a few dozen blocks ahead of its consumer: small blocks keep that
# to tens of MiB however large the file (16 MiB blocks held up to ~600 MiB), and parse as fast.
_STREAM_BLOCK_BYTES = 1 << 20


def header(path: Path) -> list[str]:
    """The column names on the file's first line; `DataValidationError` when there is none."""
    with Path(path).open(newline="", encoding="utf-8") as handle:
        first = next(csv.reader(handle), None)
    if not first:
        raise rules.DataValidationError([f"{path} is empty: no header and no rows"])
    return first


def _csv_options(names: list[str], block_bytes: int = _BLOCK_BYTES) -> tuple[object, object]:
    import pyarrow as pa
    import pyarrow.csv as pv

    convert = pv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    return pv.ReadOptions(block_size=block_bytes), convert


def read_text(path: Path) -> pa.Table:
    """The whole file, every column as text."""
    import pyarrow as pa
    import pyarrow.csv as pv

    read, convert = _csv_options(header(path))
    try:
        return pv.read_csv(path, read_options=read, convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise rules.DataValidationError([f"{path} is not a readable CSV file: {exc}"]) from None


def text_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """The file in blocks of rows, every column as text (memory stays flat)."""
    import pyarrow as pa
    import pyarrow.csv as pv

    read, convert = _csv_options(header(path), _STREAM_BLOCK_BYTES)
    try:
        with pv.open_csv(path, read_options=read, convert_options=convert) as reader:
            yield from reader
    except pa.ArrowInvalid as exc:
        raise rules.DataValidationError([f"{path} is not a readable CSV file: {exc}"]) from None


def typed(
    contract: Contract,
    table: pa.Table,
    *,
    with_target: bool,
    rows: rules.RowNames = rules.FILE_LINES,
) -> pd.DataFrame:
    """Check a text table and return it typed, derived blanks filled, in contract order."""
    import pandas as pd

    columns = text.check_arrow(contract, table, with_target=with_target, rows=rows)
    columns = complete.derive_blanks(contract, columns, rows)
    return pd.DataFrame(columns)


def load(contract: Contract, path: Path) -> pd.DataFrame:
    """The raw training table at `path`, checked and typed (with its target)."""
    return typed(contract, read_text(path), with_target=True)


def features(contract: Contract, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns, in contract order."""
    return frame[list(contract.feature_names)]


def target(contract: Contract, frame: pd.DataFrame) -> np.ndarray:
    return frame[contract.target.name].to_numpy()
