"""Large bodies are parsed and scored in the worker process, off the event loop: the loop keeps
answering while one is in progress, the worker answers exactly as the loop does, and a worker
that dies costs the requests it held a 503, not the service.

"In progress" is made certain, not timed: the worker process is stopped (SIGSTOP) while it holds
the large request, so that request cannot finish until the test resumes it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests.generated import records, request_bodies
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

from churn.artifacts import saved_model

pytestmark = pytest.mark.slow

# Bodies of 1 KiB or more go to the worker; a one-row request (about 600 bytes) stays on the loop.
OFFLOAD_KB = 1


@pytest.fixture(scope="module")
def offloading(pipeline: Pipeline, tmp_path_factory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("offloading")
    argv = serve_argv(
        "--model", str(pipeline.model_dir),
        "--compiled", str(pipeline.compiled_dir),
        "--offload-kb", str(OFFLOAD_KB),
    )  # fmt: skip
    with running(argv, server_env(free_port()), pipeline.root, root / "server.log") as s:
        yield s


def _worker(server: Server) -> int:
    """The worker process's id, once it has loaded the model."""
    wait_until(lambda: server.client.get("/health").json()["offload"]["ready"])
    (pid,) = server.client.get("/health").json()["offload"]["pids"]
    return pid


def _in_flight(server: Server) -> float:
    return metric(server, "churn_offload_in_flight")


def _split(frame) -> bytes:
    return json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split", index=False))})


def _post(server: Server, body: bytes | str) -> httpx.Response:
    return server.client.post(
        "/invocations", content=body, headers={"Content-Type": "application/json"}
    )


def test_the_loop_answers_while_the_worker_holds_a_large_request(
    offloading: Server, pipeline: Pipeline, model: saved_model.SavedModel
) -> None:
    features = pipeline.features
    large, small = _split(features), _split(features.iloc[:1])
    assert len(small) < OFFLOAD_KB * 1024 <= len(large)
    worker = _worker(offloading)
    os.kill(worker, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(_post, offloading, large)
            # The loop has read the large body and handed it to the stopped worker...
            wait_until(lambda: _in_flight(offloading) == 1)
            # ...and answers everything else meanwhile.
            assert offloading.client.get("/ping").status_code == 200
            answered = _post(offloading, small)
            assert answered.status_code == 200
            assert answered.json()["predictions"][0][1] == pytest.approx(
                model.predict_proba(features.iloc[:1])[0], abs=1e-6
            )
            assert not pending.done()  # it cannot finish while the worker is stopped
            os.kill(worker, signal.SIGCONT)
            response = pending.result(timeout=120)
    finally:
        os.kill(worker, signal.SIGCONT)
    assert response.status_code == 200
    served = np.array(response.json()["predictions"])[:, 1]
    np.testing.assert_allclose(served, model.predict_proba(features), rtol=0, atol=1e-6)
    assert _in_flight(offloading) == 0


def test_the_worker_answers_exactly_as_the_loop_does(
    offloading: Server, server: Server, pipeline: Pipeline, contract
) -> None:
    """The main server (bodies under 50 KiB, offload from 64 KiB) handles everything on the
    loop; this one sends every body but the smallest to the worker."""
    rows = records(contract, pipeline.features.iloc[:40])
    for name, (content_type, body) in request_bodies(contract, rows).items():
        assert len(body) >= OFFLOAD_KB * 1024
        answers = [
            s.client.post("/invocations", content=body, headers={"Content-Type": content_type})
            for s in (server, offloading)
        ]
        assert [a.status_code for a in answers] == [200, 200], name
        assert answers[0].content == answers[1].content, name
    with_ids = {"records": [{contract.id.name: 1000 + i, **row} for i, row in enumerate(rows)]}
    answers = [s.client.post("/predict", json=with_ids) for s in (server, offloading)]
    assert answers[0].status_code == 200
    assert answers[0].content == answers[1].content
    bad = [dict(row) for row in rows]
    bad[7][contract.features[0].name] = "not a value"
    refusals = [
        s.client.post("/invocations", json={"instances": bad}) for s in (server, offloading)
    ]
    assert [r.status_code for r in refusals] == [422, 422]
    assert refusals[0].json() == refusals[1].json()
    assert metric(offloading, "churn_rows_scored_total", endpoint="/predict") >= 40


def test_a_dead_worker_costs_its_request_a_503_and_is_replaced(
    offloading: Server, pipeline: Pipeline
) -> None:
    large = _split(pipeline.features)
    worker = _worker(offloading)
    restarts = metric(offloading, "churn_offload_worker_restarts_total")
    os.kill(worker, signal.SIGSTOP)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_post, offloading, large)
        wait_until(lambda: _in_flight(offloading) == 1)
        os.kill(worker, signal.SIGKILL)
        lost = pending.result(timeout=120)
    assert lost.status_code == 503
    assert lost.headers["retry-after"] == "1"
    assert "retry" in lost.json()["message"]
    assert metric(offloading, "churn_offload_worker_restarts_total") == restarts + 1
    assert _worker(offloading) != worker
    assert _post(offloading, large).status_code == 200
    assert offloading.alive()
    assert "Traceback" not in offloading.log.read_text()


def test_a_worker_does_not_outlive_a_killed_service(pipeline: Pipeline, tmp_path: Path) -> None:
    argv = serve_argv("--model", str(pipeline.model_dir), "--compiled", str(pipeline.compiled_dir))
    env = server_env(free_port())
    with running(argv, env, pipeline.root, tmp_path / "server.log") as server:
        worker = _worker(server)
        server.process.kill()  # SIGKILL: no shutdown runs, nobody stops the worker
        server.process.wait()
        wait_until(lambda: not _alive(worker))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its new parent) counts as gone.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False
