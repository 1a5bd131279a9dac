"""Servers the integration tests talk to, started for real on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import PROJECT_ROOT, built_once, one_per_run, started_alone, stop_group

from churn.artifacts import prepared_split
from churn.contract import load as load_contract
from churn.contract import table


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


def _start_mlflow_server(root: Path) -> tuple[int, str]:
    port = free_port()
    with (root / "server.log").open("w") as log:
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
            # As `make mlflow`: no job runner, which only slows the start.
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            # A session of its own (the server runs its app in a child process): it outlives the
            # worker that started it while another uses it, and goes as one group.
            start_new_session=True,
        )
    group = started_alone(process)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/health", process)
    except BaseException:
        stop_group(group)
        raise
    return group, url


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` with its own SQLite store and artifact root, one for the run: each
    costs 7 s of CPU to start. Killed at the end, not stopped: its store is thrown away. The
    tests that read it back name their own experiment or registered model."""
    with one_per_run(tmp_path_factory, "mlflow-server", _start_mlflow_server) as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def tracked_on_a_server(mlflow_server: str) -> Iterator[str]:
    """Every run the integration tests make (stages under `dvc repro`, act jobs, the release
    steps) is tracked by the real server, as in a team's setup. It also spares each stage
    process the SQLite store's own start-up (about a second of CPU each, ~50 stage runs)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
        yield mlflow_server


@dataclass(frozen=True)
class Pipeline:
    """The project's pipeline run once per session on its real data, through the `churn` CLI:
    prepare -> train -> compile, and the table pre-scored."""

    root: Path
    raw_csv: Path
    model_dir: Path
    compiled_dir: Path
    prepared_dir: Path
    scores_db: Path
    params: Path

    @property
    def test_split(self) -> pd.DataFrame:
        return prepared_split.test_rows(self.prepared_dir)

    @property
    def features(self) -> pd.DataFrame:
        contract = load_contract(PROJECT_ROOT / "contract.yaml")
        return table.features(contract, self.test_split)


def _run(*argv: str) -> None:
    from churn import cli

    assert cli.main(list(argv)) == 0, f"churn {' '.join(argv)} failed"


def _pipeline_at(root: Path, raw_csv: Path) -> Pipeline:
    return Pipeline(
        root=root,
        raw_csv=raw_csv,
        model_dir=root / "models" / "model",
        compiled_dir=root / "models" / "compiled",
        prepared_dir=root / "prepared",
        scores_db=root / "scores.sqlite",
        params=root / "params.yaml",
    )


def _build_pipeline(p: Pipeline) -> None:
    shutil.copy(PROJECT_ROOT / "params.yaml", p.params)
    contract = str(PROJECT_ROOT / "contract.yaml")
    prepared, model, params = str(p.prepared_dir), str(p.model_dir), str(p.params)
    _run("prepare", "--contract", contract, "--raw", str(p.raw_csv), "--out", prepared,
         "--params", params)  # fmt: skip
    _run("train", "--contract", contract, "--data", prepared, "--model", model, "--params", params)
    _run("compile", "--model", model, "--data", prepared, "--out", str(p.compiled_dir))
    _run("score", "--model", model, "--input", str(p.raw_csv), "--out", str(p.scores_db),
         "--no-progress")  # fmt: skip


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory, raw_csv: Path) -> Pipeline:
    """Built once for the whole run (both workers read it): tests only read its files."""
    root = built_once(
        tmp_path_factory, "pipeline", lambda root: _build_pipeline(_pipeline_at(root, raw_csv))
    )
    return _pipeline_at(root, raw_csv)


@dataclass(frozen=True)
class Trained:
    model_dir: Path
    test_split: Path
    raw_csv: Path


@pytest.fixture(scope="session")
def trained(pipeline: Pipeline) -> Trained:
    """The session's pipeline, seen as the files the score and wheel tests need."""
    return Trained(
        pipeline.model_dir, prepared_split.test_file(pipeline.prepared_dir), pipeline.raw_csv
    )
