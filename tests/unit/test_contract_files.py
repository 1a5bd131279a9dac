"""Raw files against the data contract: every defect named by column, line and value, the good
rows typed, blanks filled as declared. Generated from the contract, so this holds for any table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.generated import defects, read_text, sample, write

from churn.contract import DataValidationError, table
from churn.contract.spec import Feature
from churn.model import BLANK_CATEGORY


@pytest.fixture(scope="module")
def rows(raw_csv):
    return sample(raw_csv)


def _load(contract, frame, tmp_path):
    return table.load(contract, write(frame, tmp_path / "raw.csv"))


def test_real_rows_pass_and_are_typed(contract, rows, tmp_path):
    typed = _load(contract, rows, tmp_path)
    assert list(typed.columns) == list(contract.raw_columns)
    assert len(typed) == len(rows)
    assert set(typed[contract.target.name]) <= {0, 1}
    ids = typed[contract.id.name]
    if contract.id.type == "integer":
        assert ids.dtype == np.int64
    else:
        assert pd.api.types.is_string_dtype(ids)
    for feature in contract.features:
        column = typed[feature.name]
        if feature.numeric:
            assert column.dtype == np.float64, feature.name
        else:
            allowed = {*feature.categories, BLANK_CATEGORY} if feature.blank else feature.categories
            assert set(column) <= set(allowed), feature.name


def pytest_generate_tests(metafunc):
    if "defect" in metafunc.fixturenames:
        from tests.conftest import PROJECT_ROOT

        from churn.contract import load

        found = defects(load(PROJECT_ROOT / "contract.yaml"))
        metafunc.parametrize("defect", found, ids=[d.name for d in found])


def test_each_defect_is_named_by_column_line_and_value(contract, rows, defect, tmp_path):
    with pytest.raises(DataValidationError) as caught:
        _load(contract, defect.mutate(rows), tmp_path)
    message = str(caught.value)
    for fragment in defect.expected:
        assert fragment in message, message


def test_every_problem_is_reported_at_once(contract, rows, tmp_path):
    chosen = [
        d
        for d in defects(contract)
        if d.name not in ("no rows", "missing column", "unexpected column")
    ][:3]
    frame = rows
    for defect in chosen:
        frame = defect.mutate(frame)
    with pytest.raises(DataValidationError) as caught:
        _load(contract, frame, tmp_path)
    assert len(caught.value.lines) == len(chosen)
    assert caught.value.problems.count == len(chosen)


def test_only_a_few_rows_are_listed_but_all_are_counted(contract, rows, tmp_path):
    strict = next(f for f in contract.features if f.blank is None)
    frame = rows.assign(**{strict.name: ""})
    with pytest.raises(DataValidationError) as caught:
        _load(contract, frame, tmp_path)
    assert f"in {len(rows)} row(s)" in str(caught.value)
    assert f"and {len(rows) - 5} more" in str(caught.value)


def test_an_empty_file_is_refused(contract, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataValidationError, match="is empty"):
        table.load(contract, empty)


def _blankable(contract) -> list[Feature]:
    return [f for f in contract.features if f.blank is not None]


def test_declared_blanks_are_accepted_and_filled_as_declared(contract, rows, tmp_path):
    """Every feature that may be blank is blanked in a few rows: the file still passes, and a
    derived blank comes back computed from its row."""
    blankable = _blankable(contract)
    if not blankable:
        pytest.skip("this contract allows no blank")
    frame = rows.copy()
    frame.loc[[0, 7, 21], [f.name for f in blankable]] = ""
    typed = _load(contract, frame, tmp_path)
    for feature in blankable:
        column = typed[feature.name]
        if feature.blank.rule == "derive":
            inputs = {n: typed[n].to_numpy() for n in feature.blank.expression.columns}
            expected = feature.blank.expression.evaluate(inputs)
            np.testing.assert_allclose(column.iloc[[0, 7, 21]], expected[[0, 7, 21]])
        elif feature.numeric:
            assert column.iloc[[0, 7, 21]].isna().all()
        else:
            assert (column.iloc[[0, 7, 21]] == BLANK_CATEGORY).all()


def test_whitespace_only_is_blank_and_padding_is_not_a_category(contract, rows, tmp_path):
    category = next((f for f in contract.features if f.kind == "category"), None)
    if category is None:
        pytest.skip("no category column")
    padded = rows.copy()
    padded.loc[0, category.name] = f" {padded.loc[0, category.name]}"
    with pytest.raises(DataValidationError, match="unknown category"):
        _load(contract, padded, tmp_path)


def test_later_blocks_name_lines_of_the_whole_file(contract, rows, tmp_path):
    """Checked in blocks (as `churn score` does), a problem names its line in the file."""
    import pyarrow as pa

    from churn.contract import rules, text

    defect = next(d for d in defects(contract) if d.name == "unknown target label")
    bad = pa.Table.from_pandas(defect.mutate(rows), preserve_index=False)
    with pytest.raises(DataValidationError) as caught:
        text.check_arrow(contract, bad, with_target=True, rows=rules.RowNames("line", 1000))
    assert "line 1003 ('Maybe')" in str(caught.value)


def test_the_whole_real_table_passes(contract, raw_csv):
    typed = table.load(contract, raw_csv)
    assert len(typed) == len(read_text(raw_csv))
    assert typed[contract.id.name].is_unique
    assert pd.Series(typed[contract.target.name]).nunique() == 2


def test_an_invalid_id_is_not_also_called_a_duplicate(contract, rows, tmp_path):
    """Invalid ids are refused as such; they are not compared with each other."""
    frame = rows.copy()
    bad = "+5" if contract.id.type == "integer" else " padded"
    frame.loc[[3, 4], contract.id.name] = bad
    with pytest.raises(DataValidationError) as caught:
        _load(contract, frame, tmp_path)
    assert "duplicate" not in str(caught.value)
    assert "line 5" in str(caught.value)
