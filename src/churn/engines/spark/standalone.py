"""A Spark standalone cluster on this machine (127.0.0.1): one master and N workers, and if wanted
a Spark Connect server on it, started with the scripts of the PySpark installed beside a given
Python (`.venv-spark`, `make spark-env`), on free ports, with work directories under a root.

For trying the engine on a real cluster without one: the Spark tests and `make bench-scale` run
on it. Standard library only (it drives PySpark's scripts, it does not import PySpark).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

READY_SECONDS = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def require_spark(python: Path) -> Path:
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
        # The master and the workers only place executors: the quick JIT tier and one GC thread
        # are all they need, and they leave the two cores to the executors.
        SPARK_DAEMON_JAVA_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    )
    return env


@contextlib.contextmanager
def standalone(
    root: Path, python: Path, workers: int = 2, worker_memory: str = "1536m"
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


@contextlib.contextmanager
def connect_server(cluster: Cluster, root: Path, conf_dir: Path | None = None) -> Iterator[str]:
    """A Spark Connect server running its sessions on `cluster`; yields its `sc://` address.
    `conf_dir` (SPARK_CONF_DIR): its spark-defaults.conf configures the server's driver and its
    sessions' executors, as it would a `spark-submit`."""
    port = free_port()
    # A driver, not a daemon: the daemons' small heap and quick JIT tier are not for a driver.
    env = {k: v for k, v in _env(cluster.python).items() if not k.startswith("SPARK_DAEMON_")}
    if conf_dir is not None:
        env["SPARK_CONF_DIR"] = str(conf_dir)
    submit = spark_bin(cluster.python, "spark-submit")
    log = (root / "connect-server.log").open("w")
    argv = [
        *(str(submit), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer"),
        *("--name", "Spark Connect server", "--master", cluster.url, "--driver-memory", "1g"),
        *("--conf", f"spark.connect.grpc.binding.port={port}"),
        *("--conf", "spark.connect.grpc.binding.address=127.0.0.1"),
        *("--conf", "spark.ui.enabled=false"),
    ]
    process = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + READY_SECONDS
        while not _accepts(port):
            if process.poll() is not None:
                raise RuntimeError(f"the Spark Connect server exited early; log in {root}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no Spark Connect server on port {port}; log in {root}")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0
