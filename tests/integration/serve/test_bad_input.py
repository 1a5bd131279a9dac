"""Every kind of bad request gets a 4xx that names the problem, and the server stays up."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from tests.integration.serve.conftest import MAX_BODY_MB, MAX_ROWS, Pipeline, Server

pytestmark = pytest.mark.slow

Row = dict[str, Any]


@pytest.fixture(scope="module")
def good_row(pipeline: Pipeline) -> Row:
    return json.loads(pipeline.features.iloc[:1].to_json(orient="records"))[0]


def _with(**changes: Any) -> Callable[[Row], Row]:
    return lambda row: {**row, **changes}


def _without(name: str) -> Callable[[Row], Row]:
    return lambda row: {k: v for k, v in row.items() if k != name}


def _row_cases(contract) -> list[tuple[str, Callable[[Row], Row], list[str]]]:
    """(case, change to a good row, words the 422 must contain), from the contract's columns."""
    first = {}
    for feature in contract.features:
        first.setdefault(feature.kind, feature.name)
    strict = next((f.name for f in contract.features if f.blank is None), None)
    name = contract.features[0].name
    cases = [
        ("missing column", _without(name), ["missing", name]),
        ("extra column", _with(shoe_size=44), ["unexpected", "shoe_size"]),
        ("list as a value", _with(**{name: [1]}), [name]),
    ]
    if "number" in first:
        number = first["number"]
        cases.append(("string for a number", _with(**{number: "twelve"}), [number, "a number"]))
    if "category" in first:
        category = first["category"]
        cases += [
            ("number for a string", _with(**{category: 2}), [category, "expected text"]),
            ("unknown category", _with(**{category: "Weekly"}), [category, "unknown", "Weekly"]),
        ]
    if "binary" in first:
        binary = first["binary"]
        cases += [
            ("boolean for a number", _with(**{binary: True}), [binary, "expected a number"]),
            ("not 0 or 1", _with(**{binary: 2}), [binary, "0 or 1"]),
            ("fraction in a binary", _with(**{binary: 0.5}), [binary, "0 or 1"]),
        ]
    if strict is not None:
        cases.append(("null where no blank is allowed", _with(**{strict: None}), [strict, "blank"]))
    return cases


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        from tests.conftest import PROJECT_ROOT

        from churn.contract import load

        cases = _row_cases(load(PROJECT_ROOT / "contract.yaml"))
        metafunc.parametrize("case", cases, ids=[name for name, _, _ in cases])


@pytest.mark.parametrize("endpoint", ["/invocations", "/predict"])
def test_bad_values_are_refused_naming_the_column(
    server: Server, good_row: Row, endpoint: str, case
) -> None:
    _, change, words = case
    rows = [good_row, change(good_row)]
    body = {"dataframe_records": rows} if endpoint == "/invocations" else {"records": rows}
    response = server.client.post(endpoint, json=body)
    assert response.status_code == 422, response.text
    message = response.json()["message"]
    for word in words:
        assert word in message
    assert "row 2" in message


def test_nan_and_blanks_in_csv_are_judged_by_the_contract(
    server: Server, pipeline: Pipeline, contract
) -> None:
    number = next((f for f in contract.features if f.kind == "number"), None)
    strict = next((f for f in contract.features if f.blank is None and f.numeric), None)
    if number is None or strict is None:
        pytest.skip("no number column, or none that refuses blanks")
    frame = pipeline.features.iloc[:3].astype(str).replace("nan", "")
    frame.loc[frame.index[1], number.name] = "NaN"
    frame.loc[frame.index[2], strict.name] = ""
    response = server.client.post(
        "/invocations", content=frame.to_csv(index=False), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert any(f"'{number.name}': not a finite number" in p and "row 2" in p for p in problems)
    assert any(f"'{strict.name}': blank value" in p and "row 3" in p for p in problems)


def _post(server: Server, body: bytes, content_type: str = "application/json"):
    return server.client.post("/invocations", content=body, headers={"Content-Type": content_type})


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        pytest.param(b"{not json", "application/json", 400, ["invalid JSON"], id="bad json"),
        pytest.param(b"[1, 2]", "application/json", 400, ["dataframe_split"], id="not an object"),
        pytest.param(b"{}", "application/json", 400, ["exactly one of"], id="no format key"),
        pytest.param(b'{"dataframe_split": {}, "inputs": {}}', "application/json", 400,
                     ["exactly one of"], id="two format keys"),
        pytest.param(b'{"rows": []}', "application/json", 400, ["unexpected key", "rows"],
                     id="unknown key"),
        pytest.param(b'{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}',
                     "application/json", 400, ["row 1"], id="ragged split"),
        pytest.param(b'{"instances": [[0, 1]]}', "application/json", 400, ["object"],
                     id="rows without names"),
        pytest.param(b'{"inputs": {"tenure": [1], "contract": [1, 2]}}', "application/json",
                     400, ["same length"], id="ragged columns"),
        pytest.param(b"a,b\n1,2\n", "text/csv", 422, ["missing column", "unexpected column"],
                     id="csv wrong header"),
        pytest.param(b"\xff\xfe", "text/csv", 400, ["CSV"], id="csv not utf-8"),
        pytest.param(b"x", "text/plain", 415, ["text/plain"], id="unsupported media type"),
    ],
)  # fmt: skip
def test_malformed_bodies_are_refused(
    server: Server, body: bytes, content_type: str, status: int, words: list[str]
) -> None:
    response = _post(server, body, content_type)
    assert response.status_code == status, response.text
    for word in words:
        assert word in response.json()["message"]


def test_too_many_rows_is_413(server: Server, good_row: Row) -> None:
    response = server.client.post("/predict", json={"records": [good_row] * (MAX_ROWS + 1)})
    assert response.status_code == 413
    assert str(MAX_ROWS) in response.json()["message"]


def test_body_over_the_limit_is_413_with_or_without_a_length(server: Server) -> None:
    limit = int(MAX_BODY_MB * 1024 * 1024)
    big = b" " * (limit + 1)
    declared = _post(server, big)
    assert declared.status_code == 413
    assert str(limit) in declared.json()["message"]

    def chunks():  # no Content-Length: the server counts as it reads
        for _ in range(4):
            yield b" " * (limit // 2)

    streamed = server.client.post(
        "/invocations", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


def test_a_bad_path_parameter_is_422(server: Server, contract) -> None:
    bad = "not-a-number" if contract.id.type == "integer" else "%20padded"
    assert server.client.get(f"/scores/{bad}").status_code == 422


def test_bad_requests_do_not_take_the_server_down(server: Server, pipeline: Pipeline) -> None:
    nested = b"[" * 5000 + b"]" * 5000
    for body in (b"\x00" * 100, nested, b'{"inputs": ' * 2000, b'{"dataframe_records": [null]}'):
        assert _post(server, body).status_code in (400, 422)
    assert server.alive()
    good = pipeline.features.iloc[:2].to_json(orient="split", index=False)
    response = _post(server, f'{{"dataframe_split": {good}}}'.encode())
    assert response.status_code == 200
    assert "Traceback" not in server.log.read_text()
