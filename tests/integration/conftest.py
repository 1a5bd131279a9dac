"""Servers the integration tests talk to, started for real on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` with its own SQLite store and artifact root."""
    root: Path = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = (root / "server.log").open("w")
    process = subprocess.Popen(
        [
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            (root / "artifacts").as_uri(),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/health", process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@dataclass(frozen=True)
class Trained:
    model_dir: Path
    test_split: Path
    raw_csv: Path


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, raw_csv: Path) -> Trained:
    """The pipeline's own stages, run in-process once per session on the real data."""
    from churn import params
    from churn.artifacts import prepared_split
    from churn.stages import prepare, train

    root = tmp_path_factory.mktemp("pipeline")
    settings = params.load(PROJECT_ROOT / "params.yaml")
    prepare.run(settings.prepare, raw_csv, root / "prepared")
    train.run(settings.train, root / "prepared", root / "model")
    return Trained(root / "model", root / "prepared" / prepared_split.TEST_FILE, raw_csv)
