"""Command `score`: pre-score a table into the score store ("served as data").

The input (CSV or Parquet) is read in blocks of rows, so memory stays flat however many rows it
has. Each block is checked against the contract the model was trained under (the same rules as
the pipeline's raw data and the service's requests; a label column, if present, is ignored),
its derived blanks are filled, and it is scored, so a stored score is exactly what the model
gives for that row. Ids are stored exactly as the id parser reads them. The store is replaced
only when every row has been scored: bad data or an interruption leaves the previous store.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from churn.artifacts import saved_model, score_store
from churn.contract import Contract, DataValidationError, complete, rules, table, text
from churn.contract import load as load_contract
from churn.deliver.score import predictor
from churn.deliver.score.ahead import ahead
from churn.user_error import UserError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

DEFAULT_CHUNK_ROWS = 50_000
FORMATS = (".csv", ".parquet")


class ScoreError(UserError, ValueError):
    """The input cannot be read as a table to score."""


def run(
    model_dir: Path,
    input_path: Path,
    store_path: Path,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: bool = True,
    compiled_dir: Path | None = None,
    wanted: str = predictor.AUTO,
) -> dict[str, Any]:
    """Score every row of `input_path` into a new store at `store_path`; return its info
    (with the predictor that scored: the pipeline, or its exact ONNX graph from `compiled_dir`)."""
    from tqdm import tqdm

    card = saved_model.read(model_dir)
    choice = predictor.choose(card, compiled_dir, wanted)
    model = predictor.load(choice)
    contract = load_contract(card.contract)
    chunks, total = open_chunks(input_path, chunk_rows)
    with (
        score_store.create(
            store_path, model_digest=card.digest, source=input_path.name, id_type=contract.id.type
        ) as out,
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
        # The next block is read and checked while the model scores this one.
        for row_offset, columns in ahead(_checked(contract, chunks)):
            rows = row_names(row_offset)
            scores = predict(contract, model, columns)
            add_scores(contract, out, columns[contract.id.name], scores, rows)
            bar.update(len(scores))
        if out.rows == 0:
            raise DataValidationError([f"{input_path} has no rows to score"])
    with score_store.ScoreStore.open(store_path) as store:
        return {**store.info(), "predictor": choice.kind}


def row_names(row_offset: int) -> rules.RowNames:
    """How scoring names the rows of a block that starts `row_offset` rows into the input (the
    same for both engines, so a bad row is reported alike)."""
    return rules.RowNames("line", row_offset)


def score_chunk(
    contract: Contract, model: Any, chunk: pa.Table, rows: rules.RowNames
) -> tuple[np.ndarray, np.ndarray]:
    """Check, complete and score one block of text columns: (typed ids, probabilities).

    `model` is anything with the saved model's `predict_proba(features frame)`.
    """
    columns = check_chunk(contract, chunk, rows)
    return columns[contract.id.name], predict(contract, model, columns)


def check_chunk(contract: Contract, chunk: pa.Table, rows: rules.RowNames) -> dict[str, Any]:
    """The typed columns of one block of text, derived blanks filled; `DataValidationError`
    names what breaks the contract."""
    # A label in the input (e.g. the training table itself) plays no part in scoring.
    if contract.target.name in chunk.column_names:
        chunk = chunk.drop_columns([contract.target.name])
    columns = text.check_arrow(contract, chunk, with_target=False, rows=rows)
    return complete.derive_blanks(contract, columns, rows)


def predict(contract: Contract, model: Any, columns: dict[str, Any]) -> np.ndarray:
    scores = model.predict_proba(feature_frame(contract, columns))
    return np.asarray(scores, dtype=np.float64)


def _checked(
    contract: Contract, chunks: Iterator[tuple[int, pa.Table]]
) -> Iterator[tuple[int, dict[str, Any]]]:
    for row_offset, chunk in chunks:
        yield row_offset, check_chunk(contract, chunk, row_names(row_offset))


def feature_frame(contract: Contract, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The model's input from checked columns, each kept in the dtype the checker gave it.

    Text stays NumPy `object`: left to infer, pandas 3 would convert it to its own string type,
    which the scikit-learn encoders convert back, cell by cell (2-3x the model's time).
    """
    import pandas as pd

    return pd.DataFrame(
        {
            name: pd.Series(columns[name], dtype=columns[name].dtype, copy=False)
            for name in contract.feature_names
        }
    )


def add_scores(
    contract: Contract,
    out: score_store.StoreWriter,
    ids: np.ndarray,
    scores: np.ndarray,
    rows: rules.RowNames,
    *,
    numbers: np.ndarray | None = None,
) -> None:
    """Add one block's scores to the store; an id scored before fails naming its row.

    `numbers` are the rows' own indexes for `rows` to name, when they are not 0, 1, 2, ...
    """
    try:
        out.add(ids.tolist(), scores.tolist())
    except score_store.DuplicateIdError as exc:
        problems = rules.Problems(rows)
        clashing = set(exc.ids)
        for index in np.flatnonzero(np.isin(ids, list(clashing)))[: rules.SHOWN_ROWS]:
            problems.add(
                contract.id.name,
                "duplicate id (scored from an earlier row)",
                int(index if numbers is None else numbers[index]),
                ids[index],
            )
        raise DataValidationError(problems) from None


def open_chunks(path: Path, chunk_rows: int) -> tuple[Iterator[tuple[int, pa.Table]], int]:
    """(row offset, all-text block) pairs of `path`, and its row count for the progress bar.

    Every value arrives as text, as the raw CSV is read, so the same checks apply to both
    formats; a missing Parquet value becomes a blank.
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


def _with_offsets(chunks: Iterator[pa.Table]) -> Iterator[tuple[int, pa.Table]]:
    offset = 0
    for chunk in chunks:
        yield offset, chunk
        offset += chunk.num_rows


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[pa.Table]:
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in table.text_batches(path):
        pending.append(batch)
        held += batch.num_rows
        while held >= chunk_rows:
            whole = pa.Table.from_batches(pending)
            yield whole.slice(0, chunk_rows)
            rest = whole.slice(chunk_rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending)


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


def _parquet_chunks(parquet: Any, chunk_rows: int) -> Iterator[pa.Table]:
    import pyarrow as pa

    for batch in parquet.iter_batches(batch_size=chunk_rows):
        yield as_text(pa.Table.from_batches([batch]))


def as_text(chunk: pa.Table) -> pa.Table:
    """Every column of a typed (Parquet) block as text, as a CSV file would give it: Arrow
    writes floats in their shortest round-trip form, so parsing the text back gives the very
    same numbers, and a missing value becomes a blank."""
    import pyarrow as pa

    names = chunk.column_names
    cells = [_as_text(column, name) for column, name in zip(chunk.columns, names, strict=True)]
    return pa.Table.from_arrays(cells, names=names)


def _as_text(column: Any, name: str) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.fill_null(pc.cast(column, pa.string()), "")
    except pa.ArrowException:
        raise ScoreError(f"column {name!r}: values of type {column.type} cannot be read") from None
