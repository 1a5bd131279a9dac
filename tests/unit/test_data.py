from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn import data
from churn.contract import schema

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BAD = FIXTURES / "bad_data"


def _validate(path: Path) -> pd.DataFrame:
    return data.validate(data.load_raw(path))


def test_validate_accepts_the_valid_sample_and_types_it():
    typed = _validate(FIXTURES / "valid_sample.csv")
    assert len(typed) == 40
    assert typed[schema.ID].dtype == np.int64
    assert typed["tenure"].dtype == np.float64
    assert set(typed["contract"]) <= set(schema.column("contract").categories)


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("missing_column.csv", ["missing column(s): contract"]),
        ("wrong_type.csv", ["column 'tenure': not a number", "line 5 ('twelve')", "line 19"]),
        (
            "unknown_category.csv",
            ["column 'payment_method': unknown category", "line 7 ('Bitcoin')", "allowed:"],
        ),
        (
            "impossible_value.csv",
            ["column 'monthly_charges': outside [0, 1000]", "line 10 ('-20.5')", "line 11"],
        ),
        ("duplicate_ids.csv", ["column 'customer_id': duplicate id", "line 13", "line 14"]),
        ("no_rows.csv", ["no rows"]),
        ("unknown_target.csv", ["column 'churn': unknown category", "line 4 ('Maybe')"]),
    ],
)
def test_validate_names_column_and_rows_of_each_problem(fixture, expected):
    """Each bad-data fixture fails with a message naming the column and the offending lines."""
    with pytest.raises(data.DataValidationError) as caught:
        _validate(BAD / fixture)
    message = str(caught.value)
    for fragment in expected:
        assert fragment in message


def test_validate_reports_every_problem_at_once(tmp_path):
    frame = pd.read_csv(FIXTURES / "valid_sample.csv", dtype=str, keep_default_na=False)
    frame.loc[0, "tenure"] = "x"
    frame.loc[1, "contract"] = "Forever"
    frame.loc[2, "female"] = "2"
    path = tmp_path / "many.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(data.DataValidationError) as caught:
        _validate(path)
    assert len(caught.value.problems) == 3


def test_validate_lists_at_most_a_few_rows(tmp_path):
    frame = pd.read_csv(FIXTURES / "valid_sample.csv", dtype=str, keep_default_na=False)
    frame["partner"] = "7"
    path = tmp_path / "wide.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(data.DataValidationError, match=r"40 row\(s\).*and 35 more"):
        _validate(path)


def test_validate_rejects_unexpected_column(tmp_path):
    frame = pd.read_csv(FIXTURES / "valid_sample.csv", dtype=str, keep_default_na=False)
    frame["shoe_size"] = "42"
    path = tmp_path / "extra.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(data.DataValidationError, match=r"unexpected column.*shoe_size"):
        _validate(path)


def test_load_raw_reports_an_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(data.DataValidationError, match="empty"):
        data.load_raw(path)


def test_blank_total_is_allowed_and_cleaned_from_tenure(tmp_path):
    """A new customer's blank total becomes tenure x monthly charge (0 for tenure 0)."""
    frame = pd.read_csv(FIXTURES / "valid_sample.csv", dtype=str, keep_default_na=False)
    frame.loc[0, ["tenure", "total_charges"]] = ["0", ""]
    path = tmp_path / "blank.csv"
    frame.to_csv(path, index=False)
    cleaned = data.clean(_validate(path))
    row = cleaned.loc[cleaned[schema.ID] == int(frame.loc[0, schema.ID])].iloc[0]
    assert row["total_charges"] == 0.0
    assert not cleaned["total_charges"].isna().any()


def test_clean_encodes_target_and_orders_by_id():
    typed = _validate(FIXTURES / "valid_sample.csv")
    cleaned = data.clean(typed.sample(frac=1, random_state=1))
    assert set(cleaned[schema.TARGET]) <= {0, 1}
    assert cleaned[schema.ID].is_monotonic_increasing
    assert cleaned[schema.TARGET].sum() == (typed[schema.TARGET] == "Yes").sum()


def test_split_is_deterministic_stratified_and_disjoint(raw_csv):
    typed = data.validate(data.load_raw(raw_csv))
    split = data.split(data.clean(typed), 0.2, 7)
    shuffled = data.split(data.clean(typed.sample(frac=1, random_state=3)), 0.2, 7)
    # The order rows arrive in does not change the split.
    pd.testing.assert_frame_equal(split.test, shuffled.test)
    assert not set(split.train[schema.ID]) & set(split.test[schema.ID])
    assert len(split.train) + len(split.test) == len(typed)
    rate = (typed[schema.TARGET] == "Yes").mean()
    assert abs(split.test[schema.TARGET].mean() - rate) < 0.01
