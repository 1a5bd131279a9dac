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


# (case, change to a good row, status, words the message must contain)
ROW_CASES = [
    ("missing column", _without("tenure"), 422, ["missing", "tenure"]),
    ("extra column", _with(shoe_size=44), 422, ["unexpected", "shoe_size"]),
    ("string for a number", _with(tenure="twelve"), 422, ["tenure", "expected a number"]),
    ("number for a string", _with(contract=2), 422, ["contract", "expected a string"]),
    ("boolean for an integer", _with(partner=True), 422, ["partner", "expected a number"]),
    ("not 0 or 1", _with(partner=2), 422, ["partner", "0 or 1"]),
    ("fraction in an integer", _with(senior_citizen=0.5), 422, ["senior_citizen"]),
    ("unknown category", _with(contract="Weekly"), 422, ["contract", "unknown category", "Weekly"]),
    ("null total", _with(total_charges=None), 422, ["total_charges", "missing value"]),
    ("out of range", _with(tenure=-3), 422, ["tenure", "outside"]),
    ("list as a value", _with(internet_service=["DSL"]), 422, ["internet_service"]),
]


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [pytest.param(c, s, w, id=name) for name, c, s, w in ROW_CASES],
)
@pytest.mark.parametrize("endpoint", ["/invocations", "/predict"])
def test_bad_values_are_refused_naming_the_column(
    server: Server, good_row: Row, *, endpoint: str, change, status: int, words: list[str]
) -> None:
    rows = [good_row, change(good_row)]
    body = {"dataframe_records": rows} if endpoint == "/invocations" else {"records": rows}
    response = server.client.post(endpoint, json=body)
    assert response.status_code == status, response.text
    message = response.json()["message"]
    for word in words:
        assert word in message
    assert "row 2" in message


def test_nan_in_csv_is_refused(server: Server, pipeline: Pipeline) -> None:
    frame = pipeline.features.iloc[:3].astype(str)
    frame.loc[frame.index[1], "monthly_charges"] = "NaN"
    frame.loc[frame.index[2], "tenure"] = ""
    response = server.client.post(
        "/invocations", content=frame.to_csv(index=False), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert any("'tenure', row 3" in p and "missing value (empty)" in p for p in problems)
    assert any("'monthly_charges', row 2" in p and "missing value" in p for p in problems)


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


def test_a_bad_path_parameter_is_422(server: Server) -> None:
    assert server.client.get("/scores/not-a-number").status_code == 422


def test_bad_requests_do_not_take_the_server_down(server: Server, pipeline: Pipeline) -> None:
    nested = b"[" * 5000 + b"]" * 5000
    for body in (b"\x00" * 100, nested, b'{"inputs": ' * 2000, b'{"dataframe_records": [null]}'):
        assert _post(server, body).status_code in (400, 422)
    assert server.alive()
    good = pipeline.features.iloc[:2].to_json(orient="split", index=False)
    response = _post(server, f'{{"dataframe_split": {good}}}'.encode())
    assert response.status_code == 200
    assert "Traceback" not in server.log.read_text()
