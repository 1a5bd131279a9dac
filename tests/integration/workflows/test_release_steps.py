"""Release steps that need what act cannot give here (Docker, an MLflow server), run directly
on the model release.yml built."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests.integration.conftest import free_port, wait_until_up
from tests.integration.workflows.conftest import Github, Release

pytestmark = pytest.mark.slow


def smoke(url: str, example: Path, timeout: str = "30") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "churn.release.smoke",
            "--url",
            url,
            "--example",
            str(example),
            "--timeout",
            timeout,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_smoke_passes_against_the_real_service(github: Github, release: Release):
    """What `make smoke` checks in the container, against the command the container runs."""
    port = free_port()
    model = release.artifact / "models" / "model"
    server = subprocess.Popen(
        ["churn", "serve", "--model", str(model), "--port", str(port)],
        cwd=github.origin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", server)
        result = smoke(f"http://127.0.0.1:{port}", model / "serving_input_example.json")
    finally:
        server.terminate()
        server.wait(timeout=15)
    assert result.returncode == 0, result.stderr
    assert "smoke test passed" in result.stdout


class OneScoreTooFew(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"predictions": [[0.5, 0.5]]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_smoke_fails_on_a_wrong_answer(release: Release):
    server = ThreadingHTTPServer(("127.0.0.1", 0), OneScoreTooFew)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        example = release.artifact / "models" / "model" / "serving_input_example.json"
        result = smoke(f"http://127.0.0.1:{server.server_port}", example)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    assert "for 5 row(s)" in result.stderr


def test_smoke_fails_when_nothing_listens(release: Release):
    example = release.artifact / "models" / "model" / "serving_input_example.json"
    result = smoke(f"http://127.0.0.1:{free_port()}", example, timeout="1")
    assert result.returncode == 1
    assert "did not answer 200" in result.stderr


def register(release: Release, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "churn",
            "register",
            "--model",
            "models/model",
            "--metrics",
            "eval/metrics.json",
            "--name",
            "churn-test",
            "--alias",
            "champion",
        ],
        cwd=release.artifact,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )


def test_register_in_process_into_the_local_store(release: Release, tmp_path, monkeypatch):
    """The same registration against the session's SQLite store (MLFLOW_TRACKING_URI)."""
    from mlflow import MlflowClient

    from churn.release import register

    monkeypatch.chdir(tmp_path)
    artifact = release.artifact
    message = register.run(
        artifact / "models" / "model", artifact / "eval" / "metrics.json", "churn-local", "champion"
    )
    assert message.startswith("registered churn-local version ")
    client = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    champion = client.get_model_version_by_alias("churn-local", "champion")
    assert message.endswith(f"version {champion.version}; alias 'champion' now points at it")


def test_register_points_champion_at_each_new_release(release: Release, mlflow_server: str):
    first = register(release, MLFLOW_TRACKING_URI=mlflow_server)
    second = register(release, MLFLOW_TRACKING_URI=mlflow_server)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "version 1;" in first.stdout
    assert "version 2;" in second.stdout

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    champion = client.get_model_version_by_alias("churn-test", "champion")
    assert champion.version == "2"
    assert len(champion.tags["data_sha256"]) == 64
