"""The prediction log of a real service: the rows it writes are the requests' (from the loop and
from the worker process alike), personal columns never reach the files, the sample is the
seeded one, an unwritable directory fails no request, and rotated files read back as one table.

Stopping the server writes and closes everything, so each test reads the files after it."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from tests.generated import records
from tests.integration.conftest import free_port
from tests.integration.serve.conftest import (
    Pipeline,
    Server,
    metric,
    running,
    serve_argv,
    server_env,
    wait_until,
)

from churn.artifacts import prediction_log, saved_model

pytestmark = pytest.mark.slow

OFFLOAD_KB = 1  # bodies of 1 KiB or more go to the worker process, one-row requests do not


@contextlib.contextmanager
def logging_server(
    pipeline: Pipeline, log_dir: Path, *extra: str, output: Path | None = None
) -> Iterator[Server]:
    argv = serve_argv(
        "--model", str(pipeline.model_dir),
        "--compiled", str(pipeline.compiled_dir),
        "--offload-kb", str(OFFLOAD_KB),
        "--log-dir", str(log_dir),
        *extra,
    )  # fmt: skip
    env = server_env(free_port())
    output = output or log_dir.with_name(f"{log_dir.name}.server.log")
    with running(argv, env, pipeline.root, output) as s:
        yield s


def _lines(log_dir: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in prediction_log.files(log_dir)
        for line in path.read_text().splitlines()
    ]


def _invoke(server: Server, rows: list[dict], request_id: str) -> httpx.Response:
    response = server.client.post(
        "/invocations", json={"dataframe_records": rows}, headers={"X-Request-ID": request_id}
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == request_id
    return response


def test_logged_rows_are_the_requests_and_never_personal(
    pipeline: Pipeline, tmp_path: Path, contract, model: saved_model.SavedModel
) -> None:
    rows = records(contract, pipeline.features.iloc[:60])
    # A table without personal columns still shows exclusion through `--log-exclude` (and
    # tests/unit/test_serve_log_settings.py marks personal columns of its own).
    personal = set(contract.personal)
    extra = next(n for n in contract.feature_names if n not in personal)
    log_dir = tmp_path / "predictions"
    sent: dict[str, tuple[str, list[dict], list, list[float]]] = {}
    with logging_server(pipeline, log_dir, "--log-exclude", extra) as server:
        health = server.client.get("/health").json()["prediction_log"]
        assert set(health["excluded"]) == personal | {extra}
        for i in range(5):  # one row each: on the event loop
            answer = _invoke(server, rows[i : i + 1], f"single-{i}")
            sent[f"single-{i}"] = ("/invocations", rows[i : i + 1], [None], _p(answer))
        answer = _invoke(server, rows[10:50], "bulk")  # 40 rows: in the worker process
        sent["bulk"] = ("/invocations", rows[10:50], [None] * 40, _p(answer))
        for request_id, chunk in (("ids-3", rows[50:53]), ("ids-1", rows[53:54])):
            ids = [7000 + i for i in range(len(chunk))]
            body = {
                "records": [{contract.id.name: k, **r} for k, r in zip(ids, chunk, strict=True)]
            }
            answer = server.client.post("/predict", json=body, headers={"X-Request-ID": request_id})
            assert answer.status_code == 200
            predictions = answer.json()["predictions"]
            probabilities = [p[contract.probability_field] for p in predictions]
            sent[request_id] = ("/predict", chunk, ids, probabilities)
        refused = server.client.post("/invocations", json={"dataframe_records": [{"x": 1}]})
        assert refused.status_code == 422
        made_up = server.client.post(
            "/invocations",
            json={"dataframe_records": rows[:1]},
            headers={"X-Request-ID": "not a token\tat all"},  # not kept: one is made up
        )
        assert made_up.headers["x-request-id"] not in ("", "not a token\tat all")
        sent[made_up.headers["x-request-id"]] = ("/invocations", rows[:1], [None], _p(made_up))
    assert not [p for p in prediction_log.files(log_dir) if p.name.endswith(".open")]
    lines = _lines(log_dir)
    assert sum(len(chunk) for _, chunk, _, _ in sent.values()) == len(lines)
    forbidden = personal | {extra}
    assert not [line for line in lines if forbidden & set(line)]
    threshold = saved_model.read(pipeline.model_dir).threshold
    for line in lines:
        endpoint, chunk, ids, probabilities = sent[line["request_id"]]
        row = line["row"]
        assert line["endpoint"] == endpoint
        assert line["model_version"] == model.digest
        assert line[contract.id.name] == ids[row]
        assert line["probability"] == probabilities[row]
        assert line["label"] == (probabilities[row] >= threshold)
        for name in set(contract.feature_names) - forbidden:
            sent_value, logged = chunk[row][name], line[name]
            assert sent_value == logged or _both_blank(sent_value, logged), name
    frame = prediction_log.read(log_dir)
    assert len(frame) == len(lines)
    assert frame["time"].is_monotonic_increasing


def _p(response: httpx.Response) -> list[float]:
    return [pair[1] for pair in response.json()["predictions"]]


def _both_blank(a, b) -> bool:
    return a is None and (b is None or (isinstance(b, float) and math.isnan(b)))


def _sampled_run(pipeline: Pipeline, log_dir: Path, rows: list[dict]) -> set:
    settings = ("--log-sample-rate", "0.25", "--log-seed", "3")
    with logging_server(pipeline, log_dir, *settings) as server:
        for i in range(300):
            _invoke(server, rows[i % len(rows) : i % len(rows) + 1], f"one-{i}")
        for i in range(2):
            _invoke(server, rows[:100], f"hundred-{i}")
    return {(line["request_id"], line["row"]) for line in _lines(log_dir)}


def test_the_sample_rate_holds_and_the_seed_repeats_it(
    pipeline: Pipeline, tmp_path: Path, contract
) -> None:
    rows = records(contract, pipeline.features.iloc[:100])
    first = _sampled_run(pipeline, tmp_path / "first", rows)
    again = _sampled_run(pipeline, tmp_path / "again", rows)
    assert first == again
    total, rate = 300 + 2 * 100, 0.25
    assert abs(len(first) - total * rate) < 5 * math.sqrt(total * rate * (1 - rate))
    assert {request for request, _ in first} & {"hundred-0", "hundred-1"}


def test_an_unwritable_directory_fails_no_request_and_is_logged_once(
    pipeline: Pipeline, tmp_path: Path, contract
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the log's directory should be")
    rows = records(contract, pipeline.features.iloc[:40])
    output = tmp_path / "server.log"
    with logging_server(pipeline, blocker / "predictions", output=output) as server:
        for i, chunk in enumerate((rows[:1], rows, rows[1:2], rows[2:3])):
            _invoke(server, chunk, f"r{i}")
        wait_until(
            lambda: metric(server, "churn_prediction_log_rows_total", outcome="failed") == 43
        )
        assert metric(server, "churn_prediction_log_errors_total") >= 1
        assert metric(server, "churn_prediction_log_rows_total", outcome="written") == 0
        assert server.alive()
        complaints = [
            line for line in server.log.read_text().splitlines() if "cannot write" in line
        ]
        assert len(complaints) == 1, complaints
        assert "Traceback" not in server.log.read_text()


def test_rotated_files_read_back_as_one_table(pipeline: Pipeline, tmp_path: Path, contract) -> None:
    rows = records(contract, pipeline.features.iloc[:12])
    log_dir = tmp_path / "predictions"
    with logging_server(pipeline, log_dir, "--log-rotate-mb", "0.002") as server:
        for i in range(12):
            _invoke(server, rows[i : i + 1], f"r{i:02d}")
            # One write per request, so that the size limit is checked between them.
            wait_until(
                lambda i=i: (
                    metric(server, "churn_prediction_log_rows_total", outcome="written") == i + 1
                )
            )
    files = prediction_log.files(log_dir)
    assert len(files) >= 2
    # Each file but the last was closed because it had reached the size limit.
    assert all(path.stat().st_size >= 0.002 * 1024 * 1024 for path in files[:-1])
    assert not [p for p in files if p.name.endswith(".open")]
    frame = prediction_log.read(log_dir)
    assert list(frame["request_id"]) == [f"r{i:02d}" for i in range(12)]
    assert isinstance(frame["time"].dtype, pd.DatetimeTZDtype)


def test_there_is_no_log_unless_asked(server: Server) -> None:
    assert server.client.get("/health").json()["prediction_log"] is None
    assert "x-request-id" not in server.client.get("/ping").headers
