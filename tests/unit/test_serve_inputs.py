"""Request parsing and validation: every format, every refusal, both checking strategies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from churn.contract import schema
from churn.deliver.serve.inputs import InputSpec, RequestError

# The signature `train` saves: binary columns as long, numbers as double, categories as string.
SIGNATURE = [
    {
        "name": c.name,
        "type": {"binary": "long", "number": "double", "category": "string"}[c.kind],
        "required": True,
    }
    for c in schema.FEATURES
]
GOOD: dict[str, Any] = {
    "female": 0,
    "senior_citizen": 1,
    "partner": 0,
    "dependents": 0,
    "tenure": 12.0,
    "phone_service": 1,
    "multiple_lines": "No",
    "internet_service": "Fiber optic",
    "online_security": "No",
    "online_backup": "Yes",
    "device_protection": "No",
    "tech_support": "No internet service",
    "streaming_tv": "Yes",
    "streaming_movies": "No",
    "contract": "Month-to-month",
    "paperless_billing": 1,
    "payment_method": "Electronic check",
    "monthly_charges": 70.35,
    "total_charges": 844.2,
}
SPEC = InputSpec.from_signature(SIGNATURE, max_rows=500)


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


def _refusal(body: bytes, content_type: str = "application/json") -> RequestError:
    with pytest.raises(RequestError) as caught:
        SPEC.parse_invocation(body, content_type)
    return caught.value


def _formats(rows: list[dict[str, Any]]) -> dict[str, tuple[str, bytes]]:
    names = list(GOOD)
    split = {"columns": names, "data": [[r[n] for n in names] for r in rows]}
    columnar = {n: [r[n] for r in rows] for n in names}
    csv = ",".join(names) + "\n" + "".join(",".join(str(r[n]) for n in names) + "\n" for r in rows)
    return {
        "dataframe_split": ("application/json", _json({"dataframe_split": split})),
        "dataframe_records": ("application/json", _json({"dataframe_records": rows})),
        "instances": ("application/json", _json({"instances": rows})),
        "inputs columnar": ("application/json", _json({"inputs": columnar})),
        "csv": ("text/csv; charset=utf-8", csv.encode()),
    }


@pytest.mark.parametrize("fmt", list(_formats([GOOD])))
def test_every_format_gives_the_same_columns(fmt: str) -> None:
    rows = [GOOD, {**GOOD, "tenure": 3, "contract": "Two year"}]
    content_type, body = _formats(rows)[fmt]
    batch = SPEC.parse_invocation(body, content_type)
    assert batch.rows == 2
    assert list(batch.columns["tenure"]) == [12.0, 3.0]
    assert list(batch.columns["contract"]) == ["Month-to-month", "Two year"]
    assert list(batch.columns["female"]) == [0, 0]


def test_predict_records_may_carry_ids() -> None:
    body = _json({"records": [{**GOOD, "customer_id": 7}, GOOD]})
    batch = SPEC.parse_predict(body)
    assert batch.ids == [7, None]
    without = SPEC.parse_predict(_json({"records": [GOOD]}))
    assert without.ids is None


def test_a_non_integer_id_is_refused() -> None:
    with pytest.raises(RequestError) as caught:
        SPEC.parse_predict(_json({"records": [{**GOOD, "customer_id": "7"}]}))
    assert caught.value.status == 422
    assert "customer_id" in caught.value.message


def test_ids_are_not_model_input_for_invocations() -> None:
    error = _refusal(_json({"dataframe_records": [{**GOOD, "customer_id": 7}]}))
    assert error.status == 422
    assert "customer_id" in error.message


BAD_VALUES = [
    ("tenure", "12", "expected a number"),
    ("tenure", None, "missing value"),
    ("tenure", -1, "outside [0, 120]"),
    ("tenure", 121.5, "outside [0, 120]"),
    ("partner", True, "expected a number"),
    ("partner", 2, "must be 0 or 1"),
    ("partner", 0.5, "must be 0 or 1"),
    ("contract", "Weekly", "unknown category"),
    ("contract", 1, "expected a string"),
    ("contract", None, "missing value"),
    ("contract", ["Two year"], "expected a string"),
    ("total_charges", None, "missing value"),
]


@pytest.mark.parametrize("rows", [3, 100], ids=["value by value", "vectorized"])
@pytest.mark.parametrize(("column", "value", "words"), BAD_VALUES)
def test_a_bad_value_is_named_by_column_and_row(
    rows: int, column: str, value: Any, words: str
) -> None:
    records = [GOOD] * rows
    records[-1] = {**GOOD, column: value}
    error = _refusal(_json({"dataframe_records": records}))
    assert error.status == 422
    assert f"column '{column}', row {rows}: {words}" in error.message


@pytest.mark.parametrize("rows", [1, 100])
def test_infinity_and_nan_from_csv_are_refused(rows: int) -> None:
    names = list(GOOD)
    line = ",".join(str(GOOD[n]) for n in names)
    bad = line.replace("844.2", "inf").replace("70.35", "nan")
    body = ",".join(names) + "\n" + (line + "\n") * (rows - 1) + bad + "\n"
    error = _refusal(body.encode(), "text/csv")
    assert error.status == 422
    assert any("total_charges" in p and "finite" in p for p in error.problems)
    assert any("monthly_charges" in p and "missing value" in p for p in error.problems)


def test_problems_in_many_columns_are_all_listed() -> None:
    error = _refusal(_json({"dataframe_records": [{**GOOD, "tenure": "x", "contract": "y"}]}))
    assert len(error.problems) == 2
    assert error.message.startswith("2 problem(s)")


def test_missing_and_extra_columns_are_named() -> None:
    record = {k: v for k, v in GOOD.items() if k != "tenure"} | {"shoe_size": 44}
    error = _refusal(_json({"dataframe_records": [record]}))
    assert error.status == 422
    assert "missing column(s): tenure" in error.message
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
        (b"tenure,tenure\n1,2\n", "text/csv", 400),
        (b"x", "application/xml", 415),
        (b"x", "", 415),
    ],
)
def test_malformed_requests_are_4xx(body: bytes, content_type: str, status: int) -> None:
    assert _refusal(body, content_type).status == status


def test_csv_with_a_short_row_names_the_row() -> None:
    names = ",".join(GOOD)
    error = _refusal(f"{names}\n1,2\n".encode(), "text/csv")
    assert error.status == 400
    assert "CSV row 1" in error.message


def test_more_rows_than_the_limit_is_413() -> None:
    error = _refusal(_json({"dataframe_records": [GOOD] * 501}))
    assert error.status == 413
    assert "500" in error.message


def test_empty_inputs_give_an_empty_batch() -> None:
    assert SPEC.parse_invocation(_json({"dataframe_records": []}), "application/json").rows == 0
    header = ",".join(GOOD).encode() + b"\n"
    assert SPEC.parse_invocation(header, "text/csv").rows == 0


def test_error_bodies_follow_mlflow_error_codes() -> None:
    assert _refusal(b"{").body()["error_code"] == "BAD_REQUEST"
    body = _refusal(_json({"dataframe_records": [{**GOOD, "tenure": "x"}]})).body()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert body["problems"]


def test_the_schema_documents_what_the_check_enforces() -> None:
    field = {f.name: f for f in SPEC.fields}
    assert field["partner"].json_schema() == {"type": "integer", "enum": [0, 1]}
    assert field["tenure"].json_schema() == {"type": "number", "minimum": 0, "maximum": 120}
    assert field["contract"].json_schema()["enum"] == list(schema.column("contract").categories)


def test_an_unsupported_signature_type_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="unsupported type"):
        InputSpec.from_signature([{"name": "x", "type": "binary"}], max_rows=1)


numbers = st.one_of(
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
)


@given(values=st.lists(numbers, min_size=1, max_size=80))
def test_both_strategies_agree_on_what_is_valid(values: list[Any]) -> None:
    """Short columns are checked value by value, long ones with NumPy: same verdict."""
    records = [{**GOOD, "tenure": v} for v in values]
    # NaN fails both comparisons, so this also says "no NaN".
    valid = all(type(v) in (int, float) and 0 <= v <= 120 for v in values)
    short_verdicts = []
    for record in records:
        try:
            SPEC.parse_invocation(_json({"dataframe_records": [record]}), "application/json")
            short_verdicts.append(True)
        except RequestError:
            short_verdicts.append(False)
    assert all(short_verdicts) == valid
    padded = records + [GOOD] * 64
    try:
        SPEC.parse_invocation(
            json.dumps({"dataframe_records": padded}, allow_nan=True).encode(), "application/json"
        )
        long_verdict = True
    except RequestError:
        long_verdict = False
    assert long_verdict == valid
