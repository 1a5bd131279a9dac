"""The real service, started as a subprocess on 127.0.0.1, over a model the real pipeline trained
once per session (prepare -> train -> compile -> score, through the `churn` CLI)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.conftest import Pipeline, free_port, wait_until_up

from churn.artifacts import saved_model

# Small limits on the main server make the 413 cases cheap to provoke.
MAX_ROWS = 50
MAX_BODY_MB = 0.05
GIT_SHA = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def alive(self) -> bool:
        return self.process.poll() is None and self.client.get("/ping").status_code == 200


def metric(server: Server, name: str, **labels: str) -> float:
    """The value of one sample of the server's /metrics (0 when it has none yet)."""
    text = server.client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def wait_until(condition: Callable[[], object], timeout: float = 60) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds (a deadlock guard, not a
    measurement: every condition waited for here becomes true in milliseconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {condition}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def model(pipeline: Pipeline) -> saved_model.SavedModel:
    return saved_model.load(pipeline.model_dir)


def server_env(port: int, **extra: str) -> dict[str, str]:
    """The subprocess environment: our port, one OpenMP thread. Bytecode is the environment's
    own, compiled at install: a PYTHONPYCACHEPREFIX would hide it, and each new prefix cost the
    first server there 4 s of CPU recompiling the ~1,500 modules a server imports."""
    env = {k: v for k, v in os.environ.items() if k not in ("SCORES_DB", "HOST", "GIT_SHA")}
    return env | {"PORT": str(port), "OMP_NUM_THREADS": "1", **extra}


@contextlib.contextmanager
def running(
    argv: list[str], env: dict[str, str], cwd: Path, log: Path, stop: int = signal.SIGINT
) -> Iterator[Server]:
    """Start `argv` (a server listening on env PORT), wait for /ping, stop it afterwards with
    `stop` sent to its process group (Ctrl-C by default; SIGTERM is what `docker stop` sends)."""
    with log.open("w") as out:
        # Its own session, so stopping it stops what it started (`make serve` runs `churn`).
        process = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{env['PORT']}"
    try:
        wait_until_up(f"{url}/ping", process, timeout=90)
        server = Server(url, process, log)
        yield server
        server.client.close()
    finally:
        # The service exits 0 after a graceful stop on either signal, so atexit still saves the
        # subprocess's coverage.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, stop)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def serve_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "churn", "serve", *args]


@pytest.fixture(scope="session")
def server(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The main server: ONNX predictor, the pre-scored store, small request limits."""
    port = free_port()
    argv = serve_argv(
        "--model", str(pipeline.model_dir),
        "--compiled", str(pipeline.compiled_dir),
        "--scores", str(pipeline.scores_db),
        "--max-rows", str(MAX_ROWS),
        "--max-body-mb", str(MAX_BODY_MB),
    )  # fmt: skip
    env = server_env(port, GIT_SHA=GIT_SHA)
    log = tmp_path_factory.mktemp("server") / "server.log"  # the pipeline is shared: read-only
    with running(argv, env, pipeline.root, log) as started:
        yield started
