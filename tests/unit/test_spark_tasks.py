"""What the Spark tasks run, without Spark: batches cut at block boundaries, rows named by their
line in the whole input, scores equal to the pandas engine's, and a failed check that survives
the trip through Spark's error text intact."""

from __future__ import annotations

import pickle

import cloudpickle
import numpy as np
import pyarrow as pa
import pytest
from tests.generated import sample, write

from churn import model
from churn.artifacts.saved_model import SavedModel
from churn.contract import DataValidationError, rules, table
from churn.deliver.score import predictor
from churn.deliver.score import run as scoring
from churn.engines.spark import tasks
from churn.params import LogisticRegressionParams, TrainParams

PARAMS = TrainParams(
    classifier=LogisticRegressionParams(
        kind="logistic_regression", C=0.5, max_iter=500, class_weight=None
    ),
    threshold=0.5,
)


@pytest.fixture(scope="module")
def rows(raw_csv, tmp_path_factory) -> pa.Table:
    """120 real rows as text, the label dropped (as a table to score)."""
    path = write(sample(raw_csv, 120), tmp_path_factory.mktemp("spark-tasks") / "rows.csv")
    return table.read_text(path)


@pytest.fixture(scope="module")
def fitted(contract, rows) -> SavedModel:
    typed = table.typed(contract, rows, with_target=True)
    pipeline = model.build(contract, PARAMS).fit(
        table.features(contract, typed), table.target(contract, typed)
    )
    return SavedModel(pipeline=pipeline, digest="test")


def _tagged(chunk: pa.Table, file: str, start: int) -> pa.RecordBatch:
    """Rows as Spark hands them to a task: tagged with their file and block."""
    tagged = chunk.append_column(tasks.FILE, pa.array([file] * chunk.num_rows)).append_column(
        tasks.BLOCK, pa.array([start] * chunk.num_rows, pa.int64())
    )
    return tagged.combine_chunks().to_batches()[0]


def _scorer(contract, fitted, offsets) -> tasks.Scorer:
    blob = cloudpickle.dumps(fitted.pipeline)
    model = predictor.Choice(predictor.SKLEARN, blob, fitted.digest, "test")
    return tasks.Scorer(contract.text, model, offsets)


def test_runs_cut_a_batch_where_the_block_changes(rows):
    batch = pa.concat_batches(
        [
            _tagged(rows.slice(0, 3), "f", 0),
            _tagged(rows.slice(3, 4), "f", 512),
            _tagged(rows.slice(7, 2), "g", 0),
        ]
    )
    cut = list(tasks.runs(batch))
    assert [(b.file, b.start, r.num_rows) for b, r in cut] == [
        ("f", 0, 3),
        ("f", 512, 4),
        ("g", 0, 2),
    ]
    assert list(tasks.runs(batch.slice(0, 0))) == []


def test_offsets_count_the_rows_of_earlier_blocks_in_file_order():
    counts = [("b", 0, 5), ("a", 4096, 7), ("a", 0, 10)]
    assert tasks.offsets(counts) == {("a", 0): 0, ("a", 4096): 10, ("b", 0): 17}


def test_scores_equal_the_pandas_engine_across_blocks_and_batches(contract, rows, fitted):
    """Two blocks, the second cut over two batches, with the text label left in: the same ids
    and probabilities as the pandas engine's chunk scorer, rows numbered through the input."""
    first, second = rows.slice(0, 50), rows.slice(50)
    scorer = _scorer(contract, fitted, {("f", 0): 0, ("f", 9000): 50})
    batches = [
        _tagged(first, "f", 0),
        _tagged(second.slice(0, 30), "f", 9000),
        _tagged(second.slice(30), "f", 9000),
    ]
    out = pa.Table.from_batches(list(scorer(iter(batches))))

    ids, expected = scoring.score_chunk(contract, fitted, rows, scoring.row_names(0))
    assert out.column(contract.id.name).to_pylist() == ids.tolist()
    # Within 1e-9, not bit for bit: the model's arithmetic is blocked by batch size (~1e-17).
    found = out.column(contract.probability_field).to_numpy()
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-9)
    assert out.column(tasks.ROW).to_pylist() == list(range(rows.num_rows))


def test_a_bad_cell_is_named_by_its_line_in_the_whole_file(contract, rows, fitted):
    """A bad number in the 4th row of a block that starts 57 rows into the file: line 62."""
    number = next(f.name for f in contract.features if f.kind == "number")
    block = rows.slice(60, 20)
    cells = block.column(number).to_pylist()
    cells[3] = "twelve"
    block = block.set_column(block.column_names.index(number), number, pa.array(cells, pa.string()))
    scorer = _scorer(contract, fitted, {("f", 0): 0, ("f", 4096): 57})
    with pytest.raises(tasks.TaskValidationError) as raised:
        list(scorer(iter([_tagged(block, "f", 4096)])))
    rebuilt = tasks.validation_error(f"Py4JJavaError: ...\n{raised.value}\n\tat org.apache...")
    assert rebuilt is not None
    assert f"column '{number}': not a number in 1 row(s): line 62 ('twelve')" in str(rebuilt)


def test_the_problems_survive_the_trip_through_error_text():
    """Many rows, several columns, general problems and uncounted rows: the same message."""
    problems = rules.Problems(rules.RowNames("line", 1000))
    problems.add_general("unexpected column(s): zz")
    for index in range(9):
        problems.add("tenure", "not a number", index, f"x{index}")
    problems.add("contract", "unknown category; allowed: a, b", 4, "Weekly")
    problems.add_count("tenure", rules.NOT_EXAMINED, 2_000)
    original = DataValidationError(problems)

    rebuilt = tasks.validation_error(str(tasks.TaskValidationError(original)))

    assert rebuilt is not None
    assert str(rebuilt) == str(original)
    assert rebuilt.problems.count == original.problems.count
    assert tasks.validation_error("some other failure") is None


def test_the_scorer_travels_as_spark_ships_it(contract, fitted):
    """cloudpickle, as PySpark sends the function to the executors, and back."""
    scorer = _scorer(contract, fitted, {("f", 0): 0})
    assert pickle.loads(cloudpickle.dumps(scorer)) == scorer
