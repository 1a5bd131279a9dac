"""Reading a table to score: chunks with file offsets, both formats as text, the label optional."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn import data
from churn.contract import schema
from churn.deliver.score import run as score

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VALID = FIXTURES / "valid_sample.csv"


def _chunks(path: Path, rows: int) -> list[tuple[int, pd.DataFrame]]:
    chunks, _ = score.open_chunks(path, rows)
    return list(chunks)


def test_csv_chunks_cover_every_row_once_with_their_offsets():
    """Chunks of 7 rows from a 40-row file: offsets 0, 7, ... and the same text as load_raw."""
    chunks = _chunks(VALID, 7)
    assert [offset for offset, _ in chunks] == [0, 7, 14, 21, 28, 35]
    assert [len(chunk) for _, chunk in chunks] == [7, 7, 7, 7, 7, 5]
    joined = pd.concat([chunk for _, chunk in chunks], ignore_index=True)
    pd.testing.assert_frame_equal(joined, data.load_raw(VALID))


def test_parquet_chunks_validate_to_the_same_values_as_the_csv(tmp_path):
    """Typed Parquet arrives as text that parses back to identical numbers; nulls become blank."""
    typed = data.validate(data.load_raw(VALID))
    typed.loc[3, "total_charges"] = np.nan  # a new customer, not billed yet
    parquet = tmp_path / "sample.parquet"
    typed.to_parquet(parquet, index=False, row_group_size=16)

    chunks = _chunks(parquet, 9)
    assert [offset for offset, _ in chunks] == [0, 9, 18, 27, 36]
    again = pd.concat(
        [data.validate(chunk, row_offset=offset) for offset, chunk in chunks], ignore_index=True
    )
    pd.testing.assert_frame_equal(again, typed)


def test_row_counts_for_the_progress_bar(tmp_path):
    """The total is the number of data rows, with or without a final line end."""
    _, total = score.open_chunks(VALID, 10)
    assert total == 40
    unterminated = tmp_path / "t.csv"
    unterminated.write_bytes(VALID.read_bytes().rstrip(b"\n"))
    assert score.open_chunks(unterminated, 10)[1] == 40


def test_validate_reports_lines_of_the_whole_file_for_a_later_chunk():
    """With row_offset, a problem in a chunk names its line in the file, not in the chunk."""
    raw = data.load_raw(FIXTURES / "bad_data" / "wrong_type.csv")
    with pytest.raises(data.DataValidationError) as at_start:
        data.validate(raw)
    with pytest.raises(data.DataValidationError) as later:
        data.validate(raw, row_offset=1000)
    assert "line 5 ('twelve')" in str(at_start.value)
    assert "line 1005 ('twelve')" in str(later.value)


def test_rows_to_score_need_no_label():
    """Without the target, validation checks every other column and cleaning still fills blanks."""
    raw = data.load_raw(VALID).drop(columns=[schema.TARGET])
    with pytest.raises(data.DataValidationError, match="missing column"):
        data.validate(raw)
    cleaned = data.clean(data.validate(raw, with_target=False))
    assert schema.TARGET not in cleaned.columns
    assert len(cleaned) == 40
    assert not cleaned["total_charges"].isna().any()
    labelled = data.clean(data.validate(data.load_raw(VALID)))
    pd.testing.assert_frame_equal(cleaned, labelled.drop(columns=[schema.TARGET]))


def test_a_bad_value_in_rows_to_score_is_still_named():
    """Dropping the label does not relax anything else."""
    raw = data.load_raw(FIXTURES / "bad_data" / "unknown_category.csv")
    with pytest.raises(data.DataValidationError, match=r"'payment_method'.*line 7 \('Bitcoin'\)"):
        data.validate(raw.drop(columns=[schema.TARGET]), with_target=False)


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


def test_chunk_size_must_be_positive():
    with pytest.raises(score.ScoreError, match="at least 1 row"):
        score.open_chunks(VALID, 0)


def test_malformed_csv_is_a_validation_error(tmp_path):
    """A row with too many fields stops the read with the parser's line number."""
    bad = tmp_path / "bad.csv"
    bad.write_text(VALID.read_text() + "1,2,3," * 30 + "\n")
    chunks, _ = score.open_chunks(bad, 10)
    with pytest.raises(data.DataValidationError, match="not valid CSV"):
        list(chunks)


def test_ids_keep_their_exact_values_through_parquet(tmp_path):
    """Large integer ids survive the text round trip (no float rounding)."""
    frame = data.validate(data.load_raw(VALID))
    frame[schema.ID] = np.arange(2**53 + 1, 2**53 + 41, dtype=np.int64)
    path = tmp_path / "big_ids.parquet"
    frame.to_parquet(path, index=False)
    (_, chunk), *_ = _chunks(path, 100)
    assert data.validate(chunk)[schema.ID].tolist() == frame[schema.ID].tolist()
