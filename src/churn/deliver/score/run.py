"""Command `score`: pre-score a dataset into the score store ("served as data").

The input (CSV or Parquet) is read in chunks, so memory stays flat however many rows it has.
Each chunk goes through the pipeline's own checks (`data.validate`, minus the label, which a
table to score need not have) and cleaning (`data.clean`), so a stored score is exactly what
`SavedModel.predict_proba` gives for that customer. The store is replaced only when every row
has been scored: bad data or an interruption leaves the previous store as it was.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churn import data
from churn.artifacts import saved_model, score_store
from churn.contract import schema

DEFAULT_CHUNK_ROWS = 50_000
FORMATS = (".csv", ".parquet")


class ScoreError(ValueError):
    """The input cannot be read as a table to score."""


def run(
    model_dir: Path,
    input_path: Path,
    store_path: Path,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: bool = True,
) -> dict[str, Any]:
    """Score every row of `input_path` into a new store at `store_path`; return its info."""
    from tqdm import tqdm

    model = saved_model.load(model_dir)
    chunks, total = open_chunks(input_path, chunk_rows)
    with (
        score_store.create(store_path, model_digest=model.digest, source=input_path.name) as out,
        # mininterval 0: the bar moves once per chunk, which is rare enough to show each step.
        tqdm(
            total=total,
            unit=" rows",
            desc="scoring",
            file=sys.stderr,
            disable=not progress,
            mininterval=0,
        ) as bar,
    ):
        for row_offset, chunk in chunks:
            write_chunk(model, chunk, row_offset, out)
            bar.update(len(chunk))
        if out.rows == 0:
            raise data.DataValidationError([f"{input_path} has no rows to score"])
    with score_store.ScoreStore.open(store_path) as store:
        return store.info()


def write_chunk(
    model: saved_model.SavedModel,
    chunk: pd.DataFrame,
    row_offset: int,
    out: score_store.StoreWriter,
) -> None:
    """Validate, clean and score one chunk of text columns, then add it to the store."""
    # A label in the input (e.g. the training table itself) plays no part in scoring.
    chunk = chunk.drop(columns=[schema.TARGET], errors="ignore")
    typed = data.validate(chunk, with_target=False, row_offset=row_offset)
    cleaned = data.clean(typed)
    scores = model.predict_proba(data.features(cleaned))
    try:
        out.add(cleaned[schema.ID].tolist(), np.asarray(scores, dtype=float).tolist())
    except score_store.DuplicateIdError as exc:
        raise data.DataValidationError([_duplicates(typed, exc.ids, row_offset)]) from None


def _duplicates(typed: pd.DataFrame, ids: list[int], row_offset: int) -> str:
    positions = np.flatnonzero(typed[schema.ID].isin(ids).to_numpy())
    shown = ", ".join(
        f"line {row_offset + p + 2} ({typed[schema.ID].iat[p]})" for p in positions[:5]
    )
    more = f" and {len(positions) - 5} more" if len(positions) > 5 else ""
    return (
        f"column '{schema.ID}': duplicate id in {len(positions)} row(s): {shown}{more}; "
        "each id was already scored from an earlier row"
    )


def open_chunks(path: Path, chunk_rows: int) -> tuple[Iterator[tuple[int, pd.DataFrame]], int]:
    """(row offset, all-text chunk) pairs of `path`, and its row count for the progress bar.

    Every value arrives as text, as `data.load_raw` reads the raw CSV, so the same validator
    applies to both formats; a missing Parquet value becomes a blank.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no input file at {path}")
    if chunk_rows < 1:
        raise ScoreError(f"the chunk size must be at least 1 row, not {chunk_rows}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _with_offsets(_csv_chunks(path, chunk_rows)), _csv_rows(path)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several unrelated types for unreadable files
            raise ScoreError(f"{path} is not a readable Parquet file: {exc}") from None
        return _with_offsets(_parquet_chunks(parquet, chunk_rows)), parquet.metadata.num_rows
    raise ScoreError(f"{path}: unsupported format {suffix!r}; expected one of {', '.join(FORMATS)}")


def _with_offsets(chunks: Iterator[pd.DataFrame]) -> Iterator[tuple[int, pd.DataFrame]]:
    offset = 0
    for chunk in chunks:
        yield offset, chunk
        offset += len(chunk)


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    # The same reading options as `data.load_raw`: text only, blanks stay blank.
    try:
        with pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=chunk_rows) as reader:
            yield from reader
    except pd.errors.EmptyDataError:
        raise data.DataValidationError([f"{path} is empty: no header and no rows"]) from None
    except pd.errors.ParserError as exc:
        raise data.DataValidationError([f"{path} is not valid CSV: {exc}"]) from None


def _csv_rows(path: Path) -> int:
    """Data rows, counted as line ends (a quoted multi-line value makes this an estimate)."""
    lines, last = 0, b"\n"
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":
        lines += 1
    return max(lines - 1, 0)


def _parquet_chunks(parquet: Any, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow as pa

    for batch in parquet.iter_batches(batch_size=chunk_rows):
        names = batch.schema.names
        # Arrow writes floats in their shortest round-trip form, so parsing the text back
        # gives the very same numbers.
        text = [_as_text(column, name) for column, name in zip(batch.columns, names, strict=True)]
        yield pa.Table.from_arrays(text, names=names).to_pandas()


def _as_text(column: Any, name: str) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.fill_null(pc.cast(column, pa.string()), "")
    except pa.ArrowException:
        raise ScoreError(f"column {name!r}: values of type {column.type} cannot be read") from None
