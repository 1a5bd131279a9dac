"""Our service against `mlflow models serve`, same model, same machine, same run: prints ratios.

    python benchmarks/bench_serve.py --model models/model --compiled models/compiled \
        --data artifacts/prepared [--seconds 15]

Each server is started twice: the first start warms the bytecode and file caches (the image
compiles bytecode at install time), the second is timed from process start to the first 200 on
`/ping`. Then two closed-loop loads over keep-alive connections on 127.0.0.1:
single-row requests at concurrency 16, and 1,000-row requests at concurrency 4. Resident memory
is the peak (VmHWM) summed over the server's process tree. Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
import loadgen

HOST = "127.0.0.1"
SINGLE_CONCURRENCY = 16
BATCH_CONCURRENCY = 4
BATCH_ROWS = 1_000

# The targets of the service issue; ratios are against mlflow measured in this same run.
TARGET_RPS_RATIO = 20.0
TARGET_P99_S = 0.025
TARGET_ROWS_RATIO = 3.0
TARGET_READY_S = 2.0
TARGET_RSS_MIB = 200.0


@dataclass
class Server:
    name: str
    command: list[str]
    process: subprocess.Popen | None = None
    port: int = 0
    ready_s: float = float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _tree(pid: int) -> list[int]:
    children = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    return [pid, *(p for child in children for p in _tree(int(child)))]


def _rss_mib(pid: int, field: str = "VmHWM") -> float:
    total = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
    return total / 1024


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPYCACHEPREFIX=str(cache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("SCORES_DB", None)
    return env


def _ping(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/ping", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def running(server: Server, env: dict[str, str], timeout: float = 120) -> Iterator[Server]:
    server.port = _free_port()
    command = [part.replace("{port}", str(server.port)) for part in server.command]
    started = time.perf_counter()
    server.process = subprocess.Popen(
        command,
        env=env | {"PORT": str(server.port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while not _ping(server.port):
            if server.process.poll() is not None or time.perf_counter() - started > timeout:
                raise RuntimeError(f"{server.name} did not start: {' '.join(command)}")
            time.sleep(0.02)
        server.ready_s = time.perf_counter() - started
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()


def _bodies(data_dir: Path) -> tuple[list[bytes], list[bytes]]:
    test = pd.read_parquet(data_dir / "test.parquet")
    features = test.drop(columns=["customer_id", "churn"])

    def split(frame: pd.DataFrame) -> bytes:
        return json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split"))}).encode()

    singles = [split(features.iloc[[i]]) for i in range(256)]
    batches = [split(features.iloc[i : i + BATCH_ROWS]) for i in range(0, 400, 100)]
    return singles, batches


def _scenario(
    server: Server, bodies: list[bytes], rows: int, concurrency: int, seconds: float
) -> loadgen.Result:
    messages = [
        loadgen.request_bytes(HOST, server.port, "/invocations", body, "application/json")
        for body in bodies
    ]
    load = {"rows_per_request": rows, "concurrency": concurrency}
    loadgen.run(HOST, server.port, messages, **load, seconds=min(2.0, seconds))  # warm-up
    return loadgen.run(HOST, server.port, messages, **load, seconds=seconds)


def _predictions(server: Server, body: bytes) -> list[float]:
    request = urllib.request.Request(
        f"http://{HOST}:{server.port}/invocations",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return [row[1] for row in json.load(response)["predictions"]]


def measure(server: Server, env: dict[str, str], singles, batches, seconds: float) -> dict:
    with running(server, env):
        pass  # first start: fills the bytecode and page caches
    with running(server, env):
        single = _scenario(server, singles, 1, SINGLE_CONCURRENCY, seconds)
        batch = _scenario(server, batches, BATCH_ROWS, BATCH_CONCURRENCY, seconds)
        predictions = _predictions(server, batches[0])
        assert server.process is not None
        rss = _rss_mib(server.process.pid)
    return {
        "ready_s": server.ready_s,
        "rss_mib": rss,
        "single": single,
        "batch": batch,
        "predictions": predictions,
    }


def _line(name: str, r: dict) -> str:
    s, b = r["single"], r["batch"]
    return (
        f"{name:<8} ready {r['ready_s']:5.2f} s  rss {r['rss_mib']:6.1f} MiB  "
        f"single c{SINGLE_CONCURRENCY}: {s.rps:8.1f} req/s p50 {s.percentile(50) * 1e3:6.1f} ms "
        f"p99 {s.percentile(99) * 1e3:7.1f} ms errors {s.errors}  "
        f"batch c{BATCH_CONCURRENCY}: {b.rows_per_s:9.0f} rows/s "
        f"p99 {b.percentile(99) * 1e3:7.1f} ms errors {b.errors}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--compiled", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="prepared data directory")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--seconds", type=float, default=15.0, help="per load scenario")
    args = parser.parse_args(argv)

    singles, batches = _bodies(args.data)
    bin_dir = Path(sys.executable).parent
    ours = Server(
        "churn",
        [
            sys.executable,
            "-m",
            "churn",
            "serve",
            "--model",
            str(args.model),
            "--compiled",
            str(args.compiled),
            "--params",
            str(args.params),
        ],
    )
    mlflow = Server(
        "mlflow",
        [
            str(bin_dir / "mlflow"),
            "models",
            "serve",
            "-m",
            str(args.model),
            "--env-manager",
            "local",
            "-h",
            HOST,
            "-p",
            "{port}",
        ],
    )
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as cache:
        env = _env(Path(cache))
        results = {s.name: measure(s, env, singles, batches, args.seconds) for s in (mlflow, ours)}

    base, mine = results["mlflow"], results["churn"]
    print(f"same model ({args.model}), {os.cpu_count()} cores, {args.seconds:g} s per scenario")
    print(_line("mlflow", base))
    print(_line("churn", mine))
    difference = max(
        abs(a - b) for a, b in zip(base["predictions"], mine["predictions"], strict=True)
    )
    rps_ratio = mine["single"].rps / base["single"].rps
    rows_ratio = mine["batch"].rows_per_s / base["batch"].rows_per_s
    p99 = mine["single"].percentile(99)
    checks = [
        (f"single-row req/s ratio {rps_ratio:.1f}x (target >= {TARGET_RPS_RATIO:g}x)",
         rps_ratio >= TARGET_RPS_RATIO),
        (f"single-row p99 {p99 * 1e3:.1f} ms (target <= {TARGET_P99_S * 1e3:g} ms)",
         p99 <= TARGET_P99_S),
        (f"1,000-row rows/s ratio {rows_ratio:.1f}x (target >= {TARGET_ROWS_RATIO:g}x)",
         rows_ratio >= TARGET_ROWS_RATIO),
        (f"ready after {mine['ready_s']:.2f} s, mlflow {base['ready_s']:.2f} s "
         f"(target <= {TARGET_READY_S:g} s)", mine["ready_s"] <= TARGET_READY_S),
        (f"peak RSS {mine['rss_mib']:.0f} MiB, mlflow {base['rss_mib']:.0f} MiB "
         f"(target <= {TARGET_RSS_MIB:g} MiB)", mine["rss_mib"] <= TARGET_RSS_MIB),
        (f"max |difference| from mlflow's predictions {difference:.1e} (target <= 1e-6)",
         difference <= 1e-6),
        ("no errors under load",
         not any(r[k].errors for r in results.values() for k in ("single", "batch"))),
    ]  # fmt: skip
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'MISS'}] {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
