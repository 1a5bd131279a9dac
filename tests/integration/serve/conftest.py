"""The real service, started as a subprocess on 127.0.0.1, over a model the real pipeline trained
once per session (prepare -> train -> compile -> score, through the `churn` CLI)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import PROJECT_ROOT
from tests.integration.conftest import free_port, wait_until_up

from churn import cli
from churn import contract as data_contract
from churn.artifacts import prepared_split, saved_model

# Small limits on the main server make the 413 cases cheap to provoke.
MAX_ROWS = 50
MAX_BODY_MB = 0.05
GIT_SHA = "0123456789abcdef0123456789abcdef01234567"


@dataclass(frozen=True)
class Pipeline:
    root: Path
    model_dir: Path
    compiled_dir: Path
    prepared_dir: Path
    scores_db: Path
    params: Path

    @property
    def features(self) -> pd.DataFrame:
        """The test split's model inputs, in the order the contract lists them."""
        names = list(data_contract.load(saved_model.read(self.model_dir).contract).feature_names)
        return self.test_split[names]

    @property
    def test_split(self) -> pd.DataFrame:
        return pd.read_parquet(self.prepared_dir / prepared_split.TEST_FILE)


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


def _run(*argv: str) -> None:
    assert cli.main(list(argv)) == 0, f"churn {' '.join(argv)} failed"


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory, raw_csv: Path) -> Pipeline:
    root = tmp_path_factory.mktemp("serve-pipeline")
    params = root / "params.yaml"
    shutil.copy(PROJECT_ROOT / "params.yaml", params)
    p = Pipeline(
        root=root,
        model_dir=root / "models" / "model",
        compiled_dir=root / "models" / "compiled",
        prepared_dir=root / "prepared",
        scores_db=root / "scores.sqlite",
        params=params,
    )
    _run("prepare", "--raw", str(raw_csv), "--out", str(p.prepared_dir), "--params", str(params))
    _run(
        "train", "--data", str(p.prepared_dir), "--model", str(p.model_dir), "--params", str(params)
    )
    _run(
        "compile",
        "--model",
        str(p.model_dir),
        "--data",
        str(p.prepared_dir),
        "--out",
        str(p.compiled_dir),
    )
    _run(
        "score",
        "--model",
        str(p.model_dir),
        "--input",
        str(raw_csv),
        "--out",
        str(p.scores_db),
        "--no-progress",
    )
    return p  # fmt: skip


@pytest.fixture(scope="session")
def model(pipeline: Pipeline) -> saved_model.SavedModel:
    return saved_model.load(pipeline.model_dir)


def server_env(port: int, cache: Path, **extra: str) -> dict[str, str]:
    """The subprocess environment: our port, one OpenMP thread, bytecode cached between starts."""
    env = {k: v for k, v in os.environ.items() if k not in ("SCORES_DB", "HOST", "GIT_SHA")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env | {
        "PORT": str(port),
        "OMP_NUM_THREADS": "1",
        "PYTHONPYCACHEPREFIX": str(cache),
        **extra,
    }


@pytest.fixture(scope="session")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pycache")


@contextlib.contextmanager
def running(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[Server]:
    """Start `argv` (a server listening on env PORT), wait for /ping, stop it afterwards."""
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
        # SIGINT, not SIGTERM: uvicorn shuts down gracefully on both, then re-raises the signal,
        # and only SIGINT (KeyboardInterrupt) still lets atexit save the subprocess's coverage.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def serve_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "churn", "serve", *args]


@pytest.fixture(scope="session")
def server(pipeline: Pipeline, pycache: Path) -> Iterator[Server]:
    """The main server: ONNX predictor, the pre-scored store, small request limits."""
    port = free_port()
    argv = serve_argv(
        "--model", str(pipeline.model_dir),
        "--compiled", str(pipeline.compiled_dir),
        "--scores", str(pipeline.scores_db),
        "--max-rows", str(MAX_ROWS),
        "--max-body-mb", str(MAX_BODY_MB),
    )  # fmt: skip
    env = server_env(port, pycache, GIT_SHA=GIT_SHA)
    with running(argv, env, pipeline.root, pipeline.root / "server.log") as started:
        yield started
