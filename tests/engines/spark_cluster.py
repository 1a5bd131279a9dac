"""A real Spark standalone cluster on 127.0.0.1: one master and N workers, started with the
`spark-class` of the PySpark installed in `.venv-spark` (`make spark-env`), on free ports, with
temporary work directories. Used by the Spark tests and by `make bench-scale`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import PROJECT_ROOT
from tests.integration.conftest import free_port

SPARK_PYTHON = PROJECT_ROOT / ".venv-spark" / "bin" / "python"
READY_SECONDS = 180


@dataclass(frozen=True)
class Cluster:
    url: str  # spark://127.0.0.1:PORT, for --master
    ui: str  # the master's web UI, whose /json/ lists the workers
    work_dirs: tuple[Path, ...]  # one per worker: executors leave a directory per app here
    python: Path

    def alive_workers(self) -> int:
        with urllib.request.urlopen(f"{self.ui}/json/", timeout=5) as answer:
            state = json.load(answer)
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")


def spark_bin(python: Path, name: str) -> Path:
    """A script of the PySpark installed beside `python` (spark-class, spark-submit, ...)."""
    return python.parent / name


def require_spark(python: Path = SPARK_PYTHON) -> Path:
    if not spark_bin(python, "spark-class").is_file():
        raise AssertionError(f"no PySpark at {python.parent}: run `make spark-env` first")
    return python


def spark_home(python: Path) -> str:
    """The Spark distribution inside the installed PySpark (spark-class would otherwise look
    for it with whatever `python3` comes first on PATH)."""
    code = "import os, pyspark; print(os.path.dirname(pyspark.__file__))"
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def _env(python: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    env.update(
        SPARK_HOME=spark_home(python),
        PYSPARK_PYTHON=str(python),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_DAEMON_MEMORY="256m",
    )
    return env


@contextlib.contextmanager
def standalone(
    root: Path, workers: int = 2, python: Path = SPARK_PYTHON, worker_memory: str = "1536m"
) -> Iterator[Cluster]:
    """Master and `workers` workers (1 core each) until the block ends; their logs in `root`."""
    spark_class = str(spark_bin(require_spark(python), "spark-class"))
    port, ui_port = free_port(), free_port()
    processes: list[subprocess.Popen] = []
    logs = []
    env = _env(python)

    def launch(name: str, argv: list[str]) -> None:
        log = (root / f"{name}.log").open("w")
        logs.append(log)
        # Own process group: stopping it stops the JVM spark-class execs, and nothing else.
        processes.append(
            subprocess.Popen(
                [spark_class, *argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        )

    master = "org.apache.spark.deploy.master.Master"
    worker = "org.apache.spark.deploy.worker.Worker"
    url = f"spark://127.0.0.1:{port}"
    cluster = Cluster(
        url=url,
        ui=f"http://127.0.0.1:{ui_port}",
        work_dirs=tuple(root / f"worker-{i}" for i in range(workers)),
        python=python,
    )
    try:
        launch(
            "master",
            [master, "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui_port)],
        )
        for index, work_dir in enumerate(cluster.work_dirs):
            work_dir.mkdir(parents=True)
            launch(
                f"worker-{index}",
                [
                    worker,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(free_port()),
                    "--webui-port",
                    str(free_port()),
                    "--cores",
                    "1",
                    "--memory",
                    worker_memory,
                    "--work-dir",
                    str(work_dir),
                    url,
                ],
            )
        _wait_for_workers(cluster, workers, processes, root)
        yield cluster
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for log in logs:
            log.close()


def _wait_for_workers(
    cluster: Cluster, workers: int, processes: list[subprocess.Popen], root: Path
) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        exited = [p for p in processes if p.poll() is not None]
        if exited:
            raise RuntimeError(f"a Spark daemon exited early; logs in {root}")
        with contextlib.suppress(OSError, ValueError):
            if cluster.alive_workers() == workers:
                return
        time.sleep(0.5)
    raise TimeoutError(
        f"{workers} workers did not register within {READY_SECONDS} s; logs in {root}"
    )


def apps_run_by(work_dir: Path) -> list[Path]:
    """The application directories a worker made for the executors it ran."""
    return sorted(p for p in work_dir.glob("app-*") if p.is_dir())
