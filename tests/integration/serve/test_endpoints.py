"""Every endpoint of the real server, and predictions identical to the pipeline's."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.generated import json_value
from tests.integration.serve.conftest import GIT_SHA, MAX_ROWS, Pipeline, Server

from churn.artifacts import saved_model
from churn.artifacts.score_store import ScoreStore

pytestmark = pytest.mark.slow


def _records(frame: pd.DataFrame) -> list[dict]:
    # Blanks as a client sends them: null for a number (NaN), "" or null for a category.
    return json.loads(frame.to_json(orient="records"))


def _bodies(frame: pd.DataFrame) -> dict[str, tuple[str, bytes]]:
    """The same rows in every request format `/invocations` accepts."""
    records = _records(frame)
    # A blank number is null, as in the other formats (NaN is not JSON).
    columnar = {name: [json_value(v) for v in frame[name]] for name in frame.columns}
    as_json = {
        "dataframe_split": json.loads(frame.to_json(orient="split", index=False)),
        "dataframe_records": records,
        "instances": records,
        "inputs": columnar,
    }
    bodies = {
        key: ("application/json", json.dumps({key: value}).encode())
        for key, value in as_json.items()
    }
    bodies["csv"] = ("text/csv", frame.to_csv(index=False).encode())
    return bodies


def _chunks(frame: pd.DataFrame, size: int = MAX_ROWS):
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]


def test_ping(server: Server) -> None:
    response = server.client.get("/ping")
    assert response.status_code == 200


def test_health_names_the_model_commit_data_and_params(
    server: Server, model: saved_model.SavedModel, pipeline: Pipeline
) -> None:
    health = server.client.get("/health").json()
    assert health["status"] == "ok"
    assert health["model_version"] == model.digest
    assert health["predictor"] == "onnx"
    assert health["git_commit"] == GIT_SHA
    assert health["data_sha256"] == model.metadata["data_sha256"]
    assert health["train_rows"] == model.metadata["train_rows"]
    assert health["params"]["train"] == model.metadata["params"]
    assert health["params"]["serve"]["threshold"] == model.threshold
    assert health["scores_store"]["model_digest"] == model.digest
    assert health["uptime_seconds"] > 0


@pytest.mark.parametrize(
    "fmt", ["dataframe_split", "dataframe_records", "instances", "inputs", "csv"]
)
def test_invocations_match_the_pipeline_on_the_whole_test_split(
    server: Server, pipeline: Pipeline, model: saved_model.SavedModel, fmt: str
) -> None:
    features = pipeline.features
    served = []
    for chunk in _chunks(features):
        content_type, body = _bodies(chunk)[fmt]
        response = server.client.post(
            "/invocations", content=body, headers={"Content-Type": content_type}
        )
        assert response.status_code == 200, response.text
        served.extend(response.json()["predictions"])
    served = np.array(served)
    expected = model.predict_proba(features)
    assert served.shape == (len(features), 2)
    np.testing.assert_allclose(served[:, 1], expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(served.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_predict_gives_probability_label_and_echoes_ids(
    server: Server, pipeline: Pipeline, model: saved_model.SavedModel, contract
) -> None:
    """Named as the contract names them: `<target>_probability`, `<target>`, `<id>`."""
    threshold = model.threshold
    id_name = contract.id.name
    rows = pipeline.test_split.iloc[:MAX_ROWS]
    features = rows[list(contract.feature_names)]
    records = _records(rows[[id_name, *features.columns]])
    records[1].pop(id_name)  # the id is optional, record by record
    response = server.client.post("/predict", json={"records": records})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["threshold"] == threshold
    expected = model.predict_proba(features)
    got = [p[contract.probability_field] for p in body["predictions"]]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    labels = [p[contract.target.name] for p in body["predictions"]]
    assert labels == list(expected >= threshold)
    ids = [p.get(id_name) for p in body["predictions"]]
    assert ids[0] == rows[id_name].iloc[0]
    assert ids[1] is None
    assert ids[2:] == rows[id_name].iloc[2:].tolist()


def test_empty_input_scores_nothing(server: Server) -> None:
    response = server.client.post("/predict", json={"records": []})
    assert response.status_code == 200
    assert response.json()["predictions"] == []


def test_scores_come_from_the_pre_scored_store(
    server: Server, pipeline: Pipeline, contract
) -> None:
    key = pipeline.test_split[contract.id.name].iloc[0].item()
    with ScoreStore.open(pipeline.scores_db) as store:
        stored = store.get(key)
    response = server.client.get(f"/scores/{key}")
    assert response.status_code == 200, response.text
    assert response.json()[contract.id.name] == key
    assert response.json()[contract.probability_field] == stored


def test_an_absent_id_is_a_404_naming_it(server: Server, contract) -> None:
    absent = "999999999" if contract.id.type == "integer" else "no-such-id"
    response = server.client.get(f"/scores/{absent}")
    assert response.status_code == 404
    assert absent in response.json()["message"]


@pytest.mark.parametrize("path", ["%201%20", "+5", "1_0", "%20x"])
def test_a_path_that_is_not_an_id_is_a_counted_422_in_the_usual_shape(
    server: Server, contract, path: str
) -> None:
    before = _metrics(server)
    response = server.client.get(f"/scores/{path}")
    if contract.id.type == "string" and path in ("+5", "1_0"):
        assert response.status_code == 404  # valid string ids, simply not stored
        return
    assert response.status_code == 422
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert contract.id.name in body["message"]
    after = _metrics(server)
    errors = "churn_request_errors_total"
    route = f"/scores/{{{contract.id.name}}}"
    labels = {"endpoint": route, "reason": "invalid_input"}
    counted = _value(after["churn_request_errors"], errors, **labels)
    assert counted - _value(before.get("churn_request_errors", []), errors, **labels) == 1


def test_openapi_documents_every_endpoint_and_the_columns(server: Server, contract) -> None:
    spec = server.client.get("/openapi.json").json()
    lookup = f"/scores/{{{contract.id.name}}}"
    assert {"/ping", "/health", "/metrics", "/invocations", "/predict", lookup} <= set(
        spec["paths"]
    )
    (parameter,) = spec["paths"][lookup]["get"]["parameters"]
    assert parameter["name"] == contract.id.name
    record = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    properties = record["schema"]["properties"]["records"]["items"]["properties"]
    assert set(properties) == {contract.id.name, *contract.feature_names}
    for path, method in (("/predict", "post"), ("/invocations", "post")):
        assert "413" in spec["paths"][path][method]["responses"]
    assert server.client.get("/docs").status_code == 200


def _metrics(server: Server) -> dict[str, list]:
    text = server.client.get("/metrics").text
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def _value(samples, name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def test_metrics_count_requests_rows_errors_and_scores(
    server: Server, pipeline: Pipeline, model: saved_model.SavedModel
) -> None:
    before = _metrics(server)
    chunk = pipeline.features.iloc[:7]
    content_type, body = _bodies(chunk)["dataframe_split"]
    for _ in range(3):
        ok = server.client.post(
            "/invocations", content=body, headers={"Content-Type": content_type}
        )
        assert ok.status_code == 200
    bad = server.client.post(
        "/invocations", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert bad.status_code == 400
    after = _metrics(server)

    def delta(family: str, name: str, **labels: str) -> float:
        return _value(after[family], name, **labels) - _value(
            before.get(family, []), name, **labels
        )

    requests = "churn_http_requests_total"
    assert delta("churn_http_requests", requests, endpoint="/invocations", status="200") == 3
    assert delta("churn_http_requests", requests, endpoint="/invocations", status="400") == 1
    assert delta("churn_rows_scored", "churn_rows_scored_total", endpoint="/invocations") == 21
    errors = "churn_request_errors_total"
    assert delta("churn_request_errors", errors, endpoint="/invocations", reason="bad_request") == 1
    latency = "churn_http_request_duration_seconds_count"
    assert delta("churn_http_request_duration_seconds", latency, endpoint="/invocations") == 4
    assert delta("churn_prediction_score", "churn_prediction_score_count") == 21
    scores = model.predict_proba(chunk)
    assert delta("churn_prediction_score", "churn_prediction_score_sum") == pytest.approx(
        3 * scores.sum()
    )
    at_most_half = delta("churn_prediction_score", "churn_prediction_score_bucket", le="0.5")
    assert at_most_half == 3 * int((scores <= 0.5).sum())
    info = after["churn_model_info"][0]
    assert info.labels["version"] == model.digest
    assert info.labels["predictor"] == "onnx"
    assert info.labels["git_commit"] == GIT_SHA
    assert "process_resident_memory_bytes" in after
