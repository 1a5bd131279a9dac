"""Real engines on 127.0.0.1: Apache Airflow (its own environment), Celery workers, Redis.

Run by `make test-engines` (which builds `.venv-airflow`, installs Redis, and sets AIRFLOW_BIN),
never by `make test`. One Airflow home (a migrated SQLite database) serves the whole session;
reading the DAG files needs no database.
The "GitHub" of these tests is a bare git repository plus the REST stand-in of
tests/github_api.py; the DVC remote is a local directory; each worker has its own clone and
DVC cache and shares nothing else with the others.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.conftest import PROJECT_ROOT, copy_project, git, make, run
from tests.integration.conftest import free_port

DAGS_FOLDER = PROJECT_ROOT / "airflow" / "dags"
# Generous, and never a pass criterion: a DAG run on a loaded 2-core machine. Below pytest's own
# timeout, so that a stuck run still fails with the processes' logs.
RUN_DEADLINE_S = 480


@pytest.fixture(scope="session")
def airflow_bin() -> Path:
    value = os.environ.get("AIRFLOW_BIN", "")
    if not value or not (Path(value) / "airflow").is_file():
        pytest.fail(
            "AIRFLOW_BIN must name .venv-airflow/bin: run these through `make test-engines`"
        )
    return Path(value)


@dataclass
class AirflowHome:
    path: Path
    bin: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def database(self) -> Path:
        return self.path / "airflow.db"  # Airflow's default SQLite metadata database

    def copy(self, dest: Path) -> AirflowHome:
        """Another home with a copy of this one's database, as it is now: a separate `airflow
        dags test` run then shares no SQLite file (and no lock) with running processes."""
        dest.mkdir(parents=True)
        with sqlite3.connect(self.database) as source, sqlite3.connect(dest / "airflow.db") as copy:
            source.backup(copy)
        return AirflowHome(path=dest, bin=self.bin, env={**self.env, "AIRFLOW_HOME": str(dest)})

    def airflow(
        self, *args: str, env: dict | None = None, check: bool = True, timeout: float = 600
    ):
        result = subprocess.run(
            [str(self.bin / "airflow"), *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"airflow {args} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result


@pytest.fixture(scope="session")
def airflow_settings(tmp_path_factory: pytest.TempPathFactory, airflow_bin: Path) -> AirflowHome:
    """The session's Airflow settings in a home without a metadata database: enough to parse the
    DAG files as the DAG processor does, which needs none (migrating one costs 6 s of CPU)."""
    path = tmp_path_factory.mktemp("airflow-settings")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(path),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # Processes of one deployment sign each other's tokens with the same secret.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "CHURN_PROJECT_DIR": str(PROJECT_ROOT),
    }
    env.pop("PYTHONPATH", None)
    # Airflow's environment only: the project's tools come from each checkout's `.venv`.
    project_bin = str(Path(sys.executable).parent)
    paths = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != project_bin]
    env["PATH"] = os.pathsep.join([str(airflow_bin), *paths])
    return AirflowHome(path=path, bin=airflow_bin, env=env)


@pytest.fixture(scope="session")
def airflow_home(
    airflow_settings: AirflowHome, tmp_path_factory: pytest.TempPathFactory
) -> AirflowHome:
    """One migrated Airflow metadata database (SQLite) for the session."""
    path = tmp_path_factory.mktemp("airflow-home")
    env = {**airflow_settings.env, "AIRFLOW_HOME": str(path)}
    migrated = AirflowHome(path=path, bin=airflow_settings.bin, env=env)
    migrated.airflow("db", "migrate")
    return migrated


@dataclass(frozen=True)
class Origin:
    """The project as a team would have it: a git remote (bare) and a DVC remote with data."""

    bare: Path
    dvc_remote: Path
    author: Path  # the clone that made it, with the raw data in its workspace

    @property
    def raw_table(self) -> Path:
        """The raw table's workspace copy, where the data contract puts it."""
        from churn import contract

        return self.author / contract.load(self.author / "contract.yaml").data_path

    def clone(self, dest: Path, *, venv: bool = True) -> Path:
        """A worker's checkout: its own clone and DVC cache; the project's environment."""
        git(dest.parent, "clone", "-q", str(self.bare), str(dest))
        if venv:
            (dest / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
        return dest


@pytest.fixture(scope="session")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Origin:
    root = tmp_path_factory.mktemp("origin")
    author = copy_project(root / "author")
    remote = root / "dvc-remote"
    git(author, "init", "-q", "-b", "main")
    run(author, "dvc", "remote", "modify", "local", "url", str(remote))
    git(author, "add", "-A")
    git(author, "commit", "-q", "-m", "template")
    fetched = make(author, "data")
    assert "pushed it" in fetched.stdout
    bare = root / "churn.git"
    git(root, "clone", "-q", "--bare", str(author), str(bare))
    return Origin(bare=bare, dvc_remote=remote, author=author)


def _wait_for(
    probe: Callable[[], bool],
    what: str,
    process: subprocess.Popen | None = None,
    deadline_s: float = 120,
) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {process.returncode}")
        if probe():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready within {deadline_s} s")


@dataclass
class Processes:
    """Long-running processes a fixture owns; stopped (then killed) in reverse order."""

    logs: Path
    started: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        with (self.logs / f"{name}.log").open("w") as log:  # the child keeps its own descriptor
            process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started.append((name, process))
        return process

    def stop(self) -> None:
        for _, process in reversed(self.started):
            if process.poll() is None:
                os.killpg(process.pid, 15)
        for _, process in reversed(self.started):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()

    def alive(self) -> bool:
        return all(process.poll() is None for _, process in self.started)

    def tail(self, lines: int = 40) -> str:
        out = []
        for name, _ in self.started:
            text = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()
            out.append(f"--- {name} ---\n" + "\n".join(text[-lines:]))
        return "\n".join(out)


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class AirflowAPI:
    """Airflow's public REST API (v2), as any client would use it."""

    url: str

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.url}/api/v2{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=2):
                return True
        except (OSError, urllib.error.URLError):
            return False

    def trigger(self, dag_id: str, conf: dict) -> str:
        self.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})
        made = self.call("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        return made["dag_run_id"]

    def wait(
        self,
        dag_id: str,
        run_id: str,
        alive: Callable[[], bool] = lambda: True,
        deadline_s: float = RUN_DEADLINE_S,
    ) -> str:
        """The run's final state; "unfinished" past the deadline or once a process died."""
        quoted = urllib.request.quote(run_id, safe="")
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline and alive():
            state = self.call("GET", f"/dags/{dag_id}/dagRuns/{quoted}")["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(1)
        return "unfinished"

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        quoted = urllib.request.quote(run_id, safe="")
        found = self.call("GET", f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in found["task_instances"]}

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> object:
        quoted = urllib.request.quote(run_id, safe="")
        path = f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/xcomEntries/return_value"
        value = self.call("GET", f"{path}?deserialize=true")["value"]
        return json.loads(value) if isinstance(value, str) else value


@dataclass
class CeleryCluster:
    api: AirflowAPI
    checkouts: dict[str, Path]  # queue -> that worker's checkout
    processes: Processes


@pytest.fixture(scope="session")
def celery_cluster(
    airflow_home: AirflowHome, origin: Origin, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[dict[str, str]], CeleryCluster]]:
    """Start Redis, Airflow's API server and scheduler, and two Celery workers, each serving its
    own queue from its own checkout. A factory: the caller adds environment (connections)."""
    root = tmp_path_factory.mktemp("celery")
    processes = Processes(logs=root)
    started: list[CeleryCluster] = []

    def start(extra_env: dict[str, str]) -> CeleryCluster:
        redis_port, api_port = free_port(), free_port()
        queues = ["stages-a", "stages-b"]
        env = {
            **airflow_home.env,
            **extra_env,
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+sqlite:///{root / 'celery-results.db'}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "CHURN_AIRFLOW_QUEUES": ",".join(queues),
        }
        redis = processes.start(
            "redis",
            [
                "redis-server",
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(root),
            ],
            env,
        )
        _wait_for(lambda: _redis_ping(redis_port), "redis", redis)
        # The DAGs are serialized once; no DAG processor needs to keep running.
        airflow_home.airflow("dags", "reserialize", env=env)
        api = AirflowAPI(f"http://127.0.0.1:{api_port}")
        server = processes.start(
            "api-server",
            [
                str(airflow_home.bin / "airflow"),
                "api-server",
                "--host",
                "127.0.0.1",
                "--port",
                str(api_port),
                "--workers",
                "1",
            ],
            env,
        )
        processes.start("scheduler", [str(airflow_home.bin / "airflow"), "scheduler"], env)
        checkouts = {}
        for index, queue in enumerate(queues):
            checkout = origin.clone(root / f"worker-{index}")
            checkouts[queue] = checkout
            processes.start(
                f"worker-{index}",
                [
                    str(airflow_home.bin / "airflow"),
                    "celery",
                    "worker",
                    "--queues",
                    queue,
                    "--concurrency",
                    "1",
                    "--skip-serve-logs",
                    "--celery-hostname",
                    f"{queue}@%h",
                    "--without-gossip",
                    "--without-mingle",
                ],
                {**env, "CHURN_CHECKOUT": str(checkout)},
            )
        _wait_for(api.up, "airflow api-server", server, deadline_s=300)
        cluster = CeleryCluster(api=api, checkouts=checkouts, processes=processes)
        started.append(cluster)
        return cluster

    try:
        yield start
    finally:
        processes.stop()


def stage_names(project: Path) -> list[str]:
    out = subprocess.run(
        ["dvc", "stage", "list", "--names-only"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()
