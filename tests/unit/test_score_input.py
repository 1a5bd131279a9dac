"""Reading a table to score: blocks with file offsets, both formats as text, the label optional,
ids exact."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from tests.generated import defects, read_text, sample, write

from churn.contract import DataValidationError, rules, table, text
from churn.deliver.score import run as score


@pytest.fixture(scope="module")
def valid(raw_csv, tmp_path_factory) -> Path:
    return write(sample(raw_csv), tmp_path_factory.mktemp("score") / "valid.csv")


def _chunks(path: Path, rows: int) -> list[tuple[int, pa.Table]]:
    chunks, _ = score.open_chunks(path, rows)
    return list(chunks)


def test_csv_chunks_cover_every_row_once_with_their_offsets(valid):
    """Blocks of 7 rows from a 40-row file: offsets 0, 7, ... and the text as written."""
    chunks = _chunks(valid, 7)
    assert [offset for offset, _ in chunks] == [0, 7, 14, 21, 28, 35]
    assert [chunk.num_rows for _, chunk in chunks] == [7, 7, 7, 7, 7, 5]
    joined = pa.concat_tables([chunk for _, chunk in chunks]).to_pandas()
    assert joined.equals(read_text(valid))


def test_parquet_chunks_check_to_the_same_values_as_the_csv(contract, valid, tmp_path):
    """Typed Parquet arrives as text that parses back to identical values; nulls are blanks."""
    typed = table.load(contract, valid)
    parquet = tmp_path / "sample.parquet"
    typed.to_parquet(parquet, index=False, row_group_size=16)
    chunks = _chunks(parquet, 9)
    assert [offset for offset, _ in chunks] == [0, 9, 18, 27, 36]
    again = pa.concat_tables([chunk for _, chunk in chunks])
    # The target went to Parquet as 0/1; scoring ignores it, as `churn score` does.
    again = again.drop_columns([contract.target.name])
    checked = text.check_arrow(contract, again, with_target=False)
    for name in contract.feature_names:
        pd.testing.assert_series_equal(
            pd.Series(checked[name], name=name), typed[name], check_dtype=False
        )
    assert list(checked[contract.id.name]) == list(typed[contract.id.name])


def test_row_counts_for_the_progress_bar(valid, tmp_path):
    """The total is the number of data rows, with or without a final line end."""
    assert score.open_chunks(valid, 10)[1] == 40
    unterminated = tmp_path / "t.csv"
    unterminated.write_bytes(valid.read_bytes().rstrip(b"\n"))
    assert score.open_chunks(unterminated, 10)[1] == 40


def test_rows_to_score_need_no_label_and_are_held_to_every_other_rule(contract, raw_csv, tmp_path):
    rows = sample(raw_csv)
    unlabelled = rows.drop(columns=[contract.target.name])
    columns = text.check_arrow(
        contract, pa.Table.from_pandas(unlabelled, preserve_index=False), with_target=False
    )
    assert contract.target.name not in columns
    defect = next(d for d in defects(contract) if d.name == "duplicate id")
    broken = defect.mutate(rows).drop(columns=[contract.target.name])
    with pytest.raises(DataValidationError, match="duplicate id"):
        text.check_arrow(
            contract,
            pa.Table.from_pandas(broken, preserve_index=False),
            with_target=False,
            rows=rules.FILE_LINES,
        )


@pytest.mark.parametrize(
    ("name", "content", "error", "message"),
    [
        ("scores.txt", b"a,b\n", score.ScoreError, "unsupported format '.txt'"),
        ("broken.parquet", b"not parquet at all", score.ScoreError, "not a readable Parquet"),
        ("absent.csv", None, FileNotFoundError, "no input file"),
    ],
)
def test_unreadable_inputs_are_refused_clearly(tmp_path, name, content, error, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=message):
        score.open_chunks(path, 10)


def test_chunk_size_must_be_positive(valid):
    with pytest.raises(score.ScoreError, match="at least 1 row"):
        score.open_chunks(valid, 0)


def test_malformed_csv_is_a_validation_error(valid, tmp_path):
    """A row with too many fields stops the read, naming the problem."""
    bad = tmp_path / "bad.csv"
    bad.write_text(valid.read_text() + "1,2,3," * 30 + "\n")
    chunks, _ = score.open_chunks(bad, 10)
    with pytest.raises(DataValidationError, match="not a readable CSV"):
        list(chunks)
