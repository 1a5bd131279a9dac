"""What runs inside the Spark tasks: score Arrow batches of text cells with the score delivery's own
chunk scorer (the contract's checker, its derived blanks, the model), naming rows by their place
in the whole input.

Spark splits a file into blocks (byte ranges) and hands each task the rows of some blocks, in file
order, tagged with the block they come from. The driver counts the rows of every block first, so
a task knows how many rows precede each one and a bad row is named by its line in the file, as
the pandas engine names it. A failed check leaves the task as `TaskValidationError`, whose
message carries the problems as JSON for the driver to rebuild the very same
`DataValidationError`.

PyArrow, NumPy and the package only: no PySpark here, so the unit tests need no Spark.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from churn.contract import DataValidationError, rules
from churn.contract.spec import Contract, parse
from churn.deliver.score import predictor
from churn.deliver.score import run as scoring

if TYPE_CHECKING:
    import pyarrow as pa

# The columns the driver adds to each input row: which file and which block of it the row is in.
FILE = "__churn_file"
BLOCK = "__churn_block"
# The output's row number (0-based, in the whole input): names a duplicate found by the driver.
ROW = "__churn_row"

_MARK = re.compile(r"<churn-problems>(.*?)</churn-problems>", re.DOTALL)
# Loaded once per Python worker (Spark reuses them across tasks), keyed by the model's digest.
_LOADED: dict[tuple[str, str], Any] = {}


@dataclass(frozen=True)
class Block:
    file: str
    start: int


class TaskValidationError(ValueError):
    """A task found rows that break the contract; the message carries them for the driver."""

    def __init__(self, error: DataValidationError) -> None:
        payload = json.dumps(_problems_to_json(error.problems), separators=(",", ":"))
        super().__init__(f"{error}\n<churn-problems>{payload}</churn-problems>")


def validation_error(text: str) -> DataValidationError | None:
    """The task's `DataValidationError`, rebuilt from the text of the error Spark raised."""
    found = _MARK.search(text)
    if found is None:
        return None
    return DataValidationError(_problems_from_json(json.loads(found.group(1))))


def _problems_to_json(problems: rules.Problems) -> dict[str, Any]:
    groups = [
        [column, problem, rows[: rules.SHOWN_ROWS], len(rows) - min(len(rows), rules.SHOWN_ROWS)]
        for (column, problem), rows in problems.groups.items()
    ]
    unlisted = [[column, problem, n] for (column, problem), n in problems.unlisted.items()]
    return {
        "rows": [problems.rows.kind, problems.rows.offset],
        "groups": groups,
        "unlisted": unlisted,
        "general": problems.general,
    }


def _problems_from_json(data: dict[str, Any]) -> rules.Problems:
    kind, offset = data["rows"]
    problems = rules.Problems(rules.RowNames(kind, offset))
    for message in data["general"]:
        problems.add_general(message)
    for column, problem, rows, more in data["groups"]:
        problems.groups[(column, problem)] = [(int(i), str(v)) for i, v in rows]
        problems.add_count(column, problem, more)
    for column, problem, count in data["unlisted"]:
        problems.add_count(column, problem, count)
    return problems


def _model(choice: predictor.Choice) -> Any:
    key = (choice.kind, choice.digest)
    if key not in _LOADED:
        _LOADED[key] = predictor.load(choice)
    return _LOADED[key]


@dataclass(frozen=True)
class Scorer:
    """The function `mapInArrow` runs over each partition: text batches in, scores out.

    Everything it needs travels with it (pickled once per task): the contract's text, the model's
    bytes and the rows before each block, so executors read no file of the project.
    """

    contract_text: str
    model: predictor.Choice
    # Rows of the input before each block, by (file, block start).
    offsets: dict[tuple[str, int], int]

    def output_names(self, contract: Contract) -> list[str]:
        return [contract.id.name, contract.probability_field, ROW]

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        contract = parse(self.contract_text)
        model = _model(self.model)
        names = self.output_names(contract)
        seen: dict[tuple[str, int], int] = {}
        for batch in batches:
            for block, rows in runs(batch):
                key = (block.file, block.start)
                offset = self.offsets[key] + seen.get(key, 0)
                seen[key] = seen.get(key, 0) + rows.num_rows
                # Typed Parquet columns become text exactly as the pandas engine makes them.
                chunk = scoring.as_text(pa.Table.from_batches([rows]).drop_columns([FILE, BLOCK]))
                try:
                    ids, scores = scoring.score_chunk(
                        contract, model, chunk, scoring.row_names(offset)
                    )
                except DataValidationError as exc:
                    raise TaskValidationError(exc) from None
                numbers = np.arange(offset, offset + len(ids), dtype=np.int64)
                yield pa.RecordBatch.from_arrays(
                    [pa.array(ids), pa.array(scores, pa.float64()), pa.array(numbers)],
                    names=names,
                )


def runs(batch: pa.RecordBatch) -> Iterator[tuple[Block, pa.RecordBatch]]:
    """The batch cut where its rows pass from one block to the next (empty batches: nothing)."""
    if batch.num_rows == 0:
        return
    files = batch.column(FILE).to_numpy(zero_copy_only=False)
    starts = batch.column(BLOCK).to_numpy(zero_copy_only=False)
    changes = np.flatnonzero((files[1:] != files[:-1]) | (starts[1:] != starts[:-1])) + 1
    bounds = [0, *changes.tolist(), batch.num_rows]
    for begin, end in itertools.pairwise(bounds):
        yield Block(str(files[begin]), int(starts[begin])), batch.slice(begin, end - begin)


def offsets(counts: list[tuple[str, int, int]]) -> dict[tuple[str, int], int]:
    """Rows before each block, from (file, block start, rows) counts: files in name order,
    blocks in file order, as a reader going through the input would meet them."""
    out, before = {}, 0
    for file, start, rows in sorted(counts):
        out[(file, start)] = before
        before += rows
    return out
