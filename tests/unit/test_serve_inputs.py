"""Request parsing: every format, every refusal, named by column and row, for any contract.

The good record is a real row of the project's table; the bad values are chosen from the kinds
of column the contract declares."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from tests.generated import records, request_bodies, sample, write

from churn.contract import table
from churn.deliver.serve.inputs import InputSpec, RequestError, json_schema


@pytest.fixture(scope="module")
def spec(contract) -> InputSpec:
    return InputSpec(contract, max_rows=500)


@pytest.fixture(scope="module")
def good(contract, raw_csv, tmp_path_factory) -> list[dict[str, Any]]:
    """Real feature rows as a client sends them (blanks as null)."""
    path = write(sample(raw_csv), tmp_path_factory.mktemp("rows") / "raw.csv")
    typed = table.load(contract, path)
    return records(contract, table.features(contract, typed))


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


def _refusal(spec: InputSpec, body: bytes, content_type: str = "application/json") -> RequestError:
    with pytest.raises(RequestError) as caught:
        spec.parse_invocation(body, content_type)
    return caught.value


FORMATS = ["dataframe_split", "dataframe_records", "instances", "inputs columnar", "csv"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_gives_the_same_columns(contract, spec, good, fmt):
    content_type, body = request_bodies(contract, good[:3])[fmt]
    batch = spec.parse_invocation(body, content_type)
    assert batch.rows == 3
    content_type, body = request_bodies(contract, good[:3])["dataframe_records"]
    reference = spec.parse_invocation(body, content_type)
    for name in contract.feature_names:
        got, want = list(batch.columns[name]), list(reference.columns[name])
        assert len(got) == 3
        for a, b in zip(got, want, strict=True):
            assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), name


def test_predict_records_may_carry_ids(contract, spec, good):
    key = 7 if contract.id.type == "integer" else "A-7"
    batch = spec.parse_predict(_json({"records": [{**good[0], contract.id.name: key}, good[1]]}))
    assert batch.ids == [key, None]
    assert spec.parse_predict(_json({"records": [good[0]]})).ids is None


@pytest.mark.parametrize("sent", [None, "7 ", True, 7.5, [7]])
def test_an_invalid_id_is_refused_naming_the_column(contract, spec, good, sent):
    """null included: the schema says what an id is, and null is not one."""
    with pytest.raises(RequestError) as caught:
        spec.parse_predict(_json({"records": [{**good[0], contract.id.name: sent}]}))
    assert caught.value.status == 422
    assert f"column '{contract.id.name}'" in caught.value.message


def test_ids_are_not_model_input_for_invocations(contract, spec, good):
    key = 7 if contract.id.type == "integer" else "A-7"
    error = _refusal(spec, _json({"dataframe_records": [{**good[0], contract.id.name: key}]}))
    assert error.status == 422
    assert contract.id.name in error.message


def _bad_values(contract) -> list[tuple[str, Any, str]]:
    """(column, value, words of the refusal) for each kind of column the contract has."""
    out = []
    for feature in contract.features:
        if feature.kind == "number":
            out.append((feature.name, "12", "expected a number"))
            out.append((feature.name, [1], "expected a number"))
            if feature.maximum is not None:
                out.append((feature.name, feature.maximum + 0.5, "outside ["))
        elif feature.kind == "binary":
            out += [(feature.name, True, "expected a number"), (feature.name, 2, "must be 0 or 1")]
            out.append((feature.name, 0.5, "must be 0 or 1"))
        else:
            out += [
                (feature.name, "No-such", "unknown category"),
                (feature.name, 1, "expected text"),
            ]
        if feature.blank is None:
            out.append((feature.name, None, "blank value"))
    return out


def pytest_generate_tests(metafunc):
    if "bad" in metafunc.fixturenames:
        from tests.conftest import PROJECT_ROOT

        from churn.contract import load

        found = _bad_values(load(PROJECT_ROOT / "contract.yaml"))
        metafunc.parametrize("bad", found, ids=[f"{c}={v!r}" for c, v, _ in found])


@pytest.mark.parametrize("rows", [3, 100], ids=["value by value", "vectorized"])
def test_a_bad_value_is_named_by_column_and_row(spec, good, rows, bad):
    column, value, words = bad
    body = [good[i % len(good)] for i in range(rows)]
    body[-1] = {**body[-1], column: value}
    error = _refusal(spec, _json({"dataframe_records": body}))
    assert error.status == 422
    assert f"column '{column}': {words}" in error.message
    assert f"row {rows} (" in error.message


def test_infinity_in_csv_is_called_infinite(contract, spec, good):
    number = next((f for f in contract.features if f.kind == "number"), None)
    if number is None:
        pytest.skip("no number column")
    content_type, body = request_bodies(contract, [{**good[0], number.name: "inf"}])["csv"]
    error = _refusal(spec, body, content_type)
    assert error.status == 422
    assert f"column '{number.name}': not a finite number" in error.message


def test_the_count_is_of_every_bad_value_even_those_not_listed(contract, spec, good):
    """60 bad values in one column: the message says 60, however few rows it lists."""
    category = next((f for f in contract.features if f.kind == "category"), None)
    name = category.name if category else contract.features[0].name
    body = [{**good[i % len(good)], name: "No-such"} for i in range(60)]
    error = _refusal(spec, _json({"dataframe_records": body}))
    assert error.message.startswith("60 problem(s)")


def test_problems_in_two_columns_are_both_listed(contract, spec, good):
    first, second = contract.features[0].name, contract.features[1].name
    error = _refusal(spec, _json({"dataframe_records": [{**good[0], first: [0], second: [0]}]}))
    assert len(error.problems) == 2
    assert error.message.startswith("2 problem(s)")


def test_missing_and_extra_columns_are_named(contract, spec, good):
    dropped = contract.features[0].name
    record = {k: v for k, v in good[0].items() if k != dropped} | {"shoe_size": 44}
    error = _refusal(spec, _json({"dataframe_records": [record]}))
    assert error.status == 422
    assert f"missing column(s): {dropped}" in error.message
    assert "unexpected column(s): shoe_size" in error.message


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{", "application/json", 400),
        (b"[]", "application/json", 400),
        (b'{"dataframe_split": {"columns": ["a", "a"], "data": []}}', "application/json", 400),
        (b'{"dataframe_split": {"columns": [], "data": {}}}', "application/json", 400),
        (b'{"dataframe_split": {"columns": [], "data": [], "extra": 1}}', "application/json", 400),
        (b'{"dataframe_records": {}}', "application/json", 400),
        (b'{"instances": 3}', "application/json", 400),
        (b'{"inputs": [], "params": {"k": 1}}', "application/json", 400),
        (b"", "text/csv", 400),
        (b"a,a\n1,2\n", "text/csv", 400),
        (b"x", "application/xml", 415),
        (b"x", "", 415),
    ],
)
def test_malformed_requests_are_4xx(spec, body, content_type, status):
    assert _refusal(spec, body, content_type).status == status


def test_csv_with_a_short_row_names_the_row(contract, spec):
    names = ",".join(contract.feature_names)
    error = _refusal(spec, f"{names}\n1,2\n".encode(), "text/csv")
    assert error.status == 400
    assert "CSV row 1" in error.message


def test_more_rows_than_the_limit_is_413(spec, good):
    error = _refusal(spec, _json({"dataframe_records": [good[0]] * 501}))
    assert error.status == 413
    assert "500" in error.message


def test_empty_inputs_give_an_empty_batch(contract, spec):
    assert spec.parse_invocation(_json({"dataframe_records": []}), "application/json").rows == 0
    header = ",".join(contract.feature_names).encode() + b"\n"
    assert spec.parse_invocation(header, "text/csv").rows == 0


def test_error_bodies_follow_mlflow_error_codes(contract, spec, good):
    assert _refusal(spec, b"{").body()["error_code"] == "BAD_REQUEST"
    bad = {**good[0], contract.features[0].name: [1]}
    body = _refusal(spec, _json({"dataframe_records": [bad]})).body()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert body["problems"]


def test_blanks_are_accepted_exactly_where_the_contract_allows(contract, spec, good):
    blank = {f.name: None for f in contract.features if f.blank is not None}
    if not blank:
        pytest.skip("this contract allows no blank")
    batch = spec.parse_invocation(
        _json({"dataframe_records": [{**good[0], **blank}]}), "application/json"
    )
    for feature in contract.features:
        value = batch.columns[feature.name][0]
        if feature.name in blank and feature.blank.rule == "derive":
            assert not math.isnan(value)  # filled from the row before the model sees it
        elif feature.name in blank and feature.numeric:
            assert math.isnan(value)  # the model's imputer fills it
        elif feature.name in blank:
            assert value == ""


def test_the_schema_documents_what_the_check_enforces(contract):
    for feature in contract.features:
        schema = json_schema(feature)
        if feature.blank is not None:
            assert {"type": "null"} in schema["anyOf"]
            schema = schema["anyOf"][0]
        if feature.kind == "binary":
            assert schema == {"type": "integer", "enum": [0, 1]}
        elif feature.kind == "category":
            assert schema["enum"] == list(feature.categories)
        elif feature.maximum is not None:
            assert schema["maximum"] == feature.maximum


def test_a_path_id_follows_the_id_parser(contract, spec):
    if contract.id.type == "integer":
        assert spec.parse_id("42") == 42
        bad = ["%201%20", " 1 ", "+5", "1_0", "1e3", "007"]
    else:
        assert spec.parse_id("A-42") == "A-42"
        bad = [" A", "A ", ""]
    for text in bad:
        with pytest.raises(RequestError) as caught:
            spec.parse_id(text)
        assert caught.value.status == 422
        assert contract.id.name in caught.value.message
