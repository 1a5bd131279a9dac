"""One set of rules at three speeds: the PyArrow path (files), the Python path (CSV requests)
and the JSON path (requests, the wheel) must give the verdict the per-cell rule gives, for any
cell. Property-tested on each feature of the project's contract."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churn.contract import DataValidationError, complete, rules, text, values
from churn.contract.spec import Feature, parse

CONTRACT = parse(
    """
data: {path: data/t.csv}
id: {column: key, type: integer}
target: {column: label, positive: "yes", negative: "no"}
features:
  amount: {kind: number, min: -5, max: 120}
  free: {kind: number}
  flag: {kind: binary}
  colour: {kind: category, categories: [red, green, "No"]}
  spare: {kind: number, min: 0, blank: median}
  shade: {kind: category, categories: [dark, light], blank: {fill: missing}}
  doubled: {kind: number, min: 5, max: 1000, blank: {derive: amount * 2 + 10}}
"""
)

TEXT_CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "1",
            "1.0",
            "2",
            "-5",
            "120",
            "121",
            "1e2",
            "1E9",
            ".5",
            "5.",
            "+3",
            "inf",
            "-inf",
            "nan",
            "NaN",
            "1_0",
            " 7",
            "7 ",
            "0x10",
            "1e999",
            "red",
            "No",
            "no",
            "dark",
            " dark",
            "twelve",
            "٣",
        ]
    ),
    st.text(max_size=6),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**12), 10**12).map(str),
)
JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(),
    st.sampled_from(["", " ", "red", "No", "dark", "1", "light"]),
    st.text(max_size=4),
    st.lists(st.integers(), max_size=2),
)


def _arrow_verdicts(feature: Feature, cells: list[str]) -> list[bool]:
    verdicts = []
    for cell in cells:  # one row at a time, so a bad row cannot hide another's verdict
        table = pa.table(
            {
                "key": ["1"],
                **{f.name: [_good_text(f)] for f in CONTRACT.features},
                feature.name: [cell],
            }
        )
        try:
            text.check_arrow(CONTRACT, table, with_target=False)
        except DataValidationError:
            verdicts.append(False)
        else:
            verdicts.append(True)
    return verdicts


def _good_value(feature: Feature) -> object:
    """A value every rule of `feature` accepts."""
    if feature.categories:
        return feature.categories[0]
    return 1 if feature.minimum is None else feature.minimum


def _good_text(feature: Feature) -> str:
    return str(_good_value(feature))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=st.lists(TEXT_CELLS, min_size=1, max_size=6))
@pytest.mark.parametrize("name", [f.name for f in CONTRACT.features])
def test_files_and_csv_requests_judge_each_cell_as_the_rule_does(name, cells):
    feature = CONTRACT.feature(name)
    expected = [rules.text_problem(feature, c) is None for c in cells]
    assert _arrow_verdicts(feature, cells) == expected
    columns = {f.name: [_good_text(f)] * len(cells) for f in CONTRACT.features} | {name: cells}
    if all(expected):
        text.check_cells(CONTRACT, columns, len(cells))
        return
    with pytest.raises(DataValidationError) as caught:
        text.check_cells(CONTRACT, columns, len(cells))
    assert caught.value.problems.count == expected.count(False)


@settings(max_examples=80, deadline=None)
@given(data=st.lists(JSON_VALUES, min_size=1, max_size=80))
@pytest.mark.parametrize("name", [f.name for f in CONTRACT.features])
def test_json_values_are_judged_as_the_rule_does_at_both_speeds(name, data):
    """80 values cross the length where the check switches from plain Python to NumPy."""
    feature = CONTRACT.feature(name)
    expected_bad = sum(rules.value_problem(feature, v) is not None for v in data)
    columns = {f.name: [_good_value(f)] * len(data) for f in CONTRACT.features} | {name: data}
    if expected_bad:
        with pytest.raises(DataValidationError) as caught:
            values.check(CONTRACT, columns)
        assert caught.value.problems.count == expected_bad
        return
    typed, _ = values.check(CONTRACT, columns)
    if feature.numeric:
        assert all(isinstance(v, int | float) for v in typed[name])


def test_a_blank_becomes_nan_or_the_blank_category_and_derived_ones_are_computed():
    columns = {f.name: [_good_value(f)] * 3 for f in CONTRACT.features}
    columns |= {"spare": [None, 2.0, ""], "shade": ["", None, "dark"], "doubled": [None, 40, None]}
    columns["amount"] = [1, 2, 3]
    typed, _ = values.check(CONTRACT, columns)
    assert math.isnan(typed["spare"][0])
    assert math.isnan(typed["spare"][2])
    assert typed["shade"] == ["", "", "dark"]
    filled = complete.derive_blanks(CONTRACT, typed)
    assert list(filled["doubled"]) == [12.0, 40.0, 16.0]


def test_a_derived_value_outside_the_column_is_refused_with_its_row():
    columns = {f.name: [_good_value(f)] * 2 for f in CONTRACT.features}
    columns |= {"amount": [1, -5], "doubled": [None, None]}
    typed, _ = values.check(CONTRACT, columns)
    with pytest.raises(DataValidationError) as caught:
        complete.derive_blanks(CONTRACT, typed)
    assert "amount * 2 + 10 gives a value outside [5, 1000] in 1 row(s): row 2 (0.0)" in str(
        caught.value
    )


def test_ids_in_a_request_are_checked_by_the_id_parser():
    columns = {f.name: [_good_value(f)] * 4 for f in CONTRACT.features}
    sent = [7, values.ABSENT, None, "8"]
    with pytest.raises(DataValidationError) as caught:
        values.check(CONTRACT, columns, ids_column=sent)
    assert caught.value.problems.count == 2  # null and "8": an integer id is a JSON integer
    _, ids = values.check(CONTRACT, columns, ids_column=[7, values.ABSENT, 0, 9])
    assert ids == [7, None, 0, 9]
