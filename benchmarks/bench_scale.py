"""`make bench-scale`: the pipeline, the report and scoring on a generated table of ROWS rows and of
ROWS / 10, in one run: each step's wall time and peak memory at both sizes, and their ratios.

    python benchmarks/bench_scale.py --project . --rows 1000000 \
        [--spark-python .venv-spark/bin/python] [--work DIR]

For each size, in a scratch copy of the project (its git-tracked files, a fresh git repository):

1. the table: the project's own, resampled to that size (`resample.py`, seeded), `dvc add`ed;
2. the base: the pipeline (every stage of dvc.yaml, one `dvc repro --single-item` each, measured)
   at another params setting (the classifier's C, or the split's seed), committed;
3. the candidate: the project's own params, reproduced; then `churn report --base <base>`, which
   scores both real models on the candidate's test rows with the paired bootstrap;
4. `churn score` of the whole table (pandas engine), and at the large size the Spark engine on a
   standalone cluster of 1 and of 2 workers (PySpark from `--spark-python`).

Each step is a fresh process, timed from start to exit; peak memory is the largest resident set
among its processes (for Spark: the driver's; executors run under the workers). Targets (issue
"Scale", for 10x the rows): wall time at most `TIME_RATIO` x, flat peak memory (`FLAT`) for the
report and scoring; the report within `REPORT_SECONDS` and `REPORT_MIB` when the test split has
200,000 rows (ROWS = 1M). Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import resample
from churn.contract import load as load_contract
from measure import CommandError, run_measured

TIME_RATIO = 12.0
FLAT = 1.25
REPORT_SECONDS, REPORT_MIB, REPORT_TEST_ROWS = 60.0, 1024.0, 200_000
# Steps whose peak memory must not grow with the rows.
BOUNDED = ("report", "score (pandas)")
# A step over this fails by itself rather than draw the OOM killer onto a shared machine.
MEMORY_CAP_MIB = 12 * 1024
SPARK_DEFAULTS = "spark.executor.memory 1536m\nspark.driver.memory 1g\n"


@dataclass
class Measured:
    rows: int
    steps: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (s, MiB)
    failed: dict[str, str] = field(default_factory=dict)  # name -> why
    test_rows: int = 0


def _git(root: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=root, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def scratch_copy(project: Path, dest: Path) -> Path:
    """The project's git-visible files in a new git repository at `dest`."""
    listed = _git(project, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        source = project / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "scratch copy")
    return dest


def base_params(params: Path) -> str:
    """Move one knob so the base is a different real model; return what moved."""
    settings = yaml.safe_load(params.read_text())
    classifier = settings["train"]["classifier"]
    if "C" in classifier:
        classifier["C"] = classifier["C"] / 5
        moved = f"train.classifier.C={classifier['C']}"
    else:
        settings["prepare"]["random_state"] += 1
        moved = f"prepare.random_state={settings['prepare']['random_state']}"
    params.write_text(yaml.safe_dump(settings, sort_keys=False))
    return moved


def stages(root: Path) -> list[str]:
    return list(yaml.safe_load((root / "dvc.yaml").read_text())["stages"])


class Bench:
    def __init__(
        self,
        project: Path,
        work: Path,
        spark_python: Path | None,
        limit_mib: int,
        scoring_only: bool = False,
    ) -> None:
        self.limit_mib = limit_mib
        self.scoring_only = scoring_only
        self.project = project
        self.work = work
        self.spark_python = spark_python
        self.bin = Path(sys.executable).parent
        self.contract = load_contract(project / "contract.yaml")

    def env(self, root: Path) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        }

    def step(self, result: Measured, name: str, command: list[str], root: Path, ok=(0,)) -> None:
        """Measure one command; one that fails (e.g. over the memory cap) is recorded as such."""
        try:
            seconds, peak = run_measured(
                command, cwd=root, env=self.env(root), ok=ok, limit_mib=self.limit_mib
            )
        except CommandError as error:
            result.failed[name] = str(error).splitlines()[0]
            print(f"  {name:<28} {result.rows:>12,} rows FAILED: {result.failed[name]}", flush=True)
            return
        result.steps[name] = (seconds, peak)
        print(f"  {name:<28} {result.rows:>12,} rows {seconds:9.1f} s {peak:9.0f} MiB", flush=True)

    def size(self, rows: int, spark_workers: tuple[int, ...]) -> Measured:
        result = Measured(rows)
        root = scratch_copy(self.project, self.work / f"rows{rows}")
        data = root / self.contract.data_path
        print(f"\n{rows:,} rows in {root}", flush=True)
        resample.write(self.contract, self.project / self.contract.data_path, rows, data)
        if self.scoring_only:
            # The project's own model scores the generated rows (no pipeline, no report).
            for part in ("model", "compiled"):
                shutil.copytree(self.project / "models" / part, root / "models" / part)
        else:
            self.pipeline_and_report(result, root)
        score = [
            *(str(self.bin / "churn"), "score", "--model", "models/model"),
            *("--input", self.contract.data_path, "--out", "scores/scores.sqlite", "--no-progress"),
        ]
        self.step(result, "score (pandas)", score, root)
        for workers in spark_workers:
            for predictor in ("sklearn", "onnx") if workers == max(spark_workers) else ("sklearn",):
                name = f"score (spark, {workers} worker{'s' * (workers > 1)}, {predictor})"
                with self.cluster(root, workers) as (url, conf):
                    spark = [
                        *(str(self.spark_python.parent / "churn"), "score", "--engine", "spark"),
                        *("--master", url, "--model", "models/model", "--no-progress"),
                        *("--compiled", "models/compiled", "--predictor", predictor),
                        *("--input", self.contract.data_path, "--out-parquet", "scores/spark"),
                    ]
                    env = {**self.env(root), "SPARK_CONF_DIR": str(conf)}
                    # No address-space cap: the JVMs reserve far more than they use.
                    try:
                        seconds, peak = run_measured(spark, cwd=root, env=env)
                    except CommandError as error:
                        result.failed[name] = str(error).splitlines()[0]
                        print(f"  {name:<28} {rows:>12,} rows FAILED: {result.failed[name]}")
                        continue
                result.steps[name] = (seconds, peak)
                print(f"  {name:<28} {rows:>12,} rows {seconds:9.1f} s {peak:9.0f} MiB (driver)")
        return result

    def pipeline_and_report(self, result: Measured, root: Path) -> None:
        tracked = yaml.safe_load((root / "data.dvc").read_text())["outs"][0]["path"]
        self.step(result, "dvc add", [str(self.bin / "dvc"), "add", "--quiet", tracked], root)

        moved = base_params(root / "params.yaml")
        print(f"  base: {moved}")
        for stage in stages(root):
            command = [str(self.bin / "dvc"), "repro", "--quiet", "--single-item", stage]
            self.step(result, f"stage {stage}", command, root)
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", f"base: {moved}")
        base = _git(root, "rev-parse", "HEAD")
        shutil.copy2(self.project / "params.yaml", root / "params.yaml")
        candidate = Measured(result.rows)  # not reported: the same stages again
        self.step(candidate, "candidate", [str(self.bin / "dvc"), "repro", "--quiet"], root)
        if candidate.failed:
            result.failed["candidate pipeline"] = candidate.failed["candidate"]
            return
        manifest = yaml.safe_load((root / "artifacts" / "prepared" / "manifest.json").read_text())
        result.test_rows = int(manifest["test_rows"])

        report = [
            *(str(self.bin / "churn"), "report", "--base", base, "--model", "models/model"),
            *("--data", "artifacts/prepared", "--raw", self.contract.data_path),
            *("--metrics", "eval/metrics.json", "--params", "params.yaml"),
            *("--out", "reports/report.md", "--json", "reports/report.json"),
        ]
        # 1: the gate failed, which is a verdict, not a failure to make the report.
        self.step(result, "report", report, root, ok=(0, 1))

    @contextlib.contextmanager
    def cluster(self, root: Path, workers: int) -> Iterator[tuple[str, Path]]:
        from churn.engines.spark import standalone

        home = Path(tempfile.mkdtemp(prefix=f"spark-{workers}w-", dir=root))
        conf = home / "conf"
        conf.mkdir()
        (conf / "spark-defaults.conf").write_text(SPARK_DEFAULTS)
        with standalone.standalone(
            home, self.spark_python, workers=workers, worker_memory="2g"
        ) as running:
            yield running.url, conf


def compare(small: Measured, big: Measured) -> list[str]:
    """Print the table; return the targets missed."""
    scale = big.rows / small.rows
    allowed = TIME_RATIO * scale / 10
    print(f"\n{'step':<30}{'time':>22}{'ratio':>8}{'peak MiB':>22}{'ratio':>8}")
    print(f"{'':<30}{f'{small.rows:,} / {big.rows:,}':>22}{'':>8}{'':>22}")
    missed = [f"{n} at {m.rows:,} rows: {why}" for m in (small, big) for n, why in m.failed.items()]
    for name, (seconds, peak) in big.steps.items():
        if name not in small.steps:
            print(f"{name:<30}{f'- / {seconds:.1f} s':>22}{'':>8}{f'- / {peak:.0f}':>22}")
            continue
        small_seconds, small_peak = small.steps[name]
        time_ratio, memory_ratio = seconds / small_seconds, peak / small_peak
        print(
            f"{name:<30}{f'{small_seconds:.1f} / {seconds:.1f} s':>22}{time_ratio:>7.1f}x"
            f"{f'{small_peak:.0f} / {peak:.0f}':>22}{memory_ratio:>7.2f}x"
        )
        if time_ratio > allowed:
            missed.append(f"{name}: {time_ratio:.1f}x the time for {scale:.0f}x the rows")
        if name in BOUNDED and memory_ratio > FLAT:
            missed.append(f"{name}: peak memory {memory_ratio:.2f}x for {scale:.0f}x the rows")
    for measured in (small, big):
        if measured.test_rows == REPORT_TEST_ROWS and "report" in measured.steps:
            seconds, peak = measured.steps["report"]
            print(
                f"\nreport at {measured.test_rows:,} test rows: {seconds:.1f} s, {peak:.0f} MiB "
                f"(targets {REPORT_SECONDS:.0f} s, {REPORT_MIB:.0f} MiB)"
            )
            if seconds > REPORT_SECONDS or peak > REPORT_MIB:
                missed.append(f"report at {measured.test_rows:,} test rows: {seconds:.0f} s")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path.cwd())
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--spark-python", type=Path, help="a Python with PySpark (.venv-spark)")
    parser.add_argument("--work", type=Path, help="keep the scratch projects here")
    parser.add_argument(
        "--scoring-only",
        action="store_true",
        help="only score (the project's models/model): no pipeline, no report",
    )
    parser.add_argument(
        "--memory-cap-mib",
        type=int,
        default=MEMORY_CAP_MIB,
        help="address-space cap per step (0: none); a step over it fails alone",
    )
    args = parser.parse_args()
    project = args.project.resolve()
    # Absolute, not resolved: a virtual environment's python is a symlink out of it.
    spark_python = None if args.spark_python is None else args.spark_python.absolute()
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scale-")))
        work.mkdir(parents=True, exist_ok=True)
        bench = Bench(project, work.resolve(), spark_python, args.memory_cap_mib, args.scoring_only)
        small = bench.size(max(args.rows // 10, 1), ())
        big = bench.size(args.rows, (1, 2) if spark_python else ())
        missed = compare(small, big)
    for reason in missed:
        print(f"FAIL: {reason}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
