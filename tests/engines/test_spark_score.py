"""`churn score --engine spark` on a real Spark standalone cluster (a master and two workers on
127.0.0.1, from the PySpark in `.venv-spark`), against the pandas engine on the same rows.

One cluster for the module. The first test submits its own application with `--master`; the
others are clients of one Spark Connect server on the cluster and share its warm executors, as
the jobs of a Databricks cluster do (each application's JVMs cost about 40 s of CPU here). The
failures reach a client that has no JVM as the same one message; the text they travel in from a
classic driver is tests/unit/test_spark_tasks.py's. Inputs are split into many
small partitions, and the scheduler waits for both executors, so every run spreads its tasks over
both workers and a bad row sits in a late partition: naming its line needs the rows of every
block before it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import PROJECT_ROOT
from tests.generated import read_text
from tests.integration import conftest as integration
from tests.integration.conftest import Pipeline

from churn.artifacts import saved_model
from churn.artifacts.score_store import ScoreStore
from churn.contract import table
from churn.engines.spark import standalone as spark_cluster

pytestmark = pytest.mark.slow
# The session's pipeline run (prepare, train, compile, and the pandas engine's store of the raw
# table): the model and the reference scores.
pipeline = integration.pipeline

EXACT = 1e-9
# Small splits: the example's CSV (0.8 MB) becomes five partitions and its typed Parquet two,
# so both workers run tasks and a late row has blocks before it. Smaller splits add tasks, and
# each costs its fixed overhead (64 KB splits: 4-5 s more per run). A task failed by a bad row
# fails again on every retry (a cluster's default is 4 attempts): the tests do not wait for those.
# The JVMs live for one run of 7,043 rows, so they would spend most of their CPU in the optimizing
# JIT compiler and parallel GC threads: C1 only and a serial GC (the module: 204 s of CPU -> 145 s).
SPARK_DEFAULTS = """
spark.sql.files.maxPartitionBytes 196608
spark.executor.memory 1g
spark.cores.max 2
spark.scheduler.minRegisteredResourcesRatio 1.0
spark.scheduler.maxRegisteredResourcesWaitingTime 120s
spark.ui.enabled false
spark.task.maxFailures 1
spark.driver.extraJavaOptions -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
spark.executor.extraJavaOptions -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
"""
LATE_ROW = 6_500
SPARK_PYTHON = PROJECT_ROOT / ".venv-spark" / "bin" / "python"
RUN_SECONDS = 600


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[spark_cluster.Cluster]:
    root = tmp_path_factory.mktemp("spark")
    with spark_cluster.standalone(root, SPARK_PYTHON, workers=2) as running:
        yield running


@pytest.fixture(scope="module")
def conf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("spark-conf")
    (directory / "spark-defaults.conf").write_text(SPARK_DEFAULTS)
    return directory


@dataclass(frozen=True)
class ChurnSpark:
    """`churn score --engine spark` as a person runs it, from .venv-spark, on the cluster: with
    `--master`, or through the Spark Connect server at `remote` (given as SPARK_REMOTE)."""

    cluster: spark_cluster.Cluster
    conf_dir: Path
    remote: str | None = None

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
        env.update(SPARK_CONF_DIR=str(self.conf_dir), SPARK_LOCAL_IP="127.0.0.1")
        churn = spark_cluster.spark_bin(self.cluster.python, "churn")
        argv = [str(churn), "score", "--engine", "spark"]
        if self.remote is None:
            argv += ["--master", self.cluster.url]
        else:
            env["SPARK_REMOTE"] = self.remote
        return subprocess.run(
            [*argv, "--no-progress", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=RUN_SECONDS,
        )


@pytest.fixture(scope="module")
def submitted(cluster, conf_dir) -> ChurnSpark:
    """Its own application on the cluster (`--master`)."""
    return ChurnSpark(cluster, conf_dir)


@pytest.fixture(scope="module")
def connected(cluster, conf_dir, tmp_path_factory) -> Iterator[ChurnSpark]:
    """A client of a Spark Connect server running on the cluster."""
    with spark_cluster.connect_server(
        cluster, tmp_path_factory.mktemp("spark-connect"), conf_dir
    ) as address:
        yield ChurnSpark(cluster, conf_dir, remote=address)


def stored(path: Path, keys: list) -> np.ndarray:
    with ScoreStore.open(path) as store:
        return np.array([store.get(k) for k in keys], dtype=float)


def ran_tasks(work_dir: Path) -> bool:
    """Did this worker's executors run tasks (their log says so)?"""
    return any(
        "Running task" in log.read_text(errors="replace")
        for app in spark_cluster.apps_run_by(work_dir)
        for log in app.glob("*/stderr")
    )


def test_scores_equal_the_pandas_engine_on_two_workers(
    submitted, pipeline: Pipeline, contract, tmp_path
):
    """The raw table typed, as Parquet in many row groups (its values become text in the tasks),
    scored with the ONNX graph `churn compile` vouched for, into the store and Parquet: the ids
    and scores of the pandas engine's store within 1e-9; both workers ran tasks. (CSV input: the
    tests below.)"""
    assert submitted.cluster.alive_workers() == 2
    store, parquet = tmp_path / "scores.sqlite", tmp_path / "scores.parquet"
    typed = tmp_path / "typed.parquet"
    table.load(contract, pipeline.raw_csv).to_parquet(typed, index=False, row_group_size=500)

    done = submitted(
        *("--model", str(pipeline.model_dir), "--input", str(typed)),
        *("--compiled", str(pipeline.compiled_dir), "--predictor", "onnx"),
        *("--out", str(store), "--out-parquet", str(parquet), "--chunk-rows", "100"),
    )

    assert done.returncode == 0, done.stderr
    assert "(onnx)" in done.stdout
    ids = read_text(pipeline.raw_csv)[contract.id.name].astype(int).tolist()
    assert f"scored {len(ids)} rows" in done.stdout
    expected = stored(pipeline.scores_db, ids)
    assert not np.isnan(expected).any()
    np.testing.assert_allclose(stored(store, ids), expected, rtol=0, atol=EXACT)
    with ScoreStore.open(store) as opened:
        info = opened.info()
    assert info["rows"] == len(ids)
    assert info["model_digest"] == saved_model.read(pipeline.model_dir).digest

    written = pd.read_parquet(parquet)
    assert list(written.columns) == [contract.id.name, contract.probability_field]
    assert sorted(written[contract.id.name]) == sorted(ids)
    by_id = written.set_index(contract.id.name)[contract.probability_field]
    np.testing.assert_allclose(by_id.loc[ids].to_numpy(), expected, rtol=0, atol=EXACT)
    assert all(ran_tasks(work_dir) for work_dir in submitted.cluster.work_dirs)


def test_a_bad_row_fails_the_job_naming_column_value_and_line(
    connected, pipeline: Pipeline, contract, tmp_path
):
    """A word in a number column of a late partition: exit 2, one message naming the column,
    the value and the line in the file, no traceback; the previous outputs stay as they were."""
    number = next(f.name for f in contract.features if f.kind == "number")
    raw = read_text(pipeline.raw_csv)
    raw.loc[LATE_ROW, number] = "twelve"
    bad = tmp_path / "bad.csv"
    raw.to_csv(bad, index=False)
    store, parquet = tmp_path / "scores.sqlite", tmp_path / "scores.parquet"
    shutil.copy(pipeline.scores_db, store)
    parquet.mkdir()
    (parquet / "part-0.parquet").write_bytes(b"previous output")
    before = store.read_bytes()

    done = connected(
        *("--model", str(pipeline.model_dir), "--input", str(bad)),
        *("--out", str(store), "--out-parquet", str(parquet)),
    )

    assert done.returncode == 2, done.stdout + done.stderr
    line = f"column '{number}': not a number in 1 row(s): line {LATE_ROW + 2} ('twelve')"
    assert line in done.stderr
    assert done.stderr.rstrip().splitlines()[-1].strip() == f"- {line}"
    assert "Traceback" not in done.stderr
    assert store.read_bytes() == before
    assert [p.name for p in parquet.iterdir()] == ["part-0.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bad.csv",
        "scores.parquet",
        "scores.sqlite",
    ]


def test_an_id_repeated_in_another_partition_fails_the_parquet_output(
    connected, pipeline: Pipeline, contract, tmp_path
):
    """Two rows far apart share an id: each partition alone is fine, the output is not."""
    raw = read_text(pipeline.raw_csv)
    repeated = raw.loc[10, contract.id.name]
    raw.loc[LATE_ROW, contract.id.name] = repeated
    source = tmp_path / "repeated.csv"
    raw.to_csv(source, index=False)
    parquet = tmp_path / "scores.parquet"

    done = connected(
        *("--model", str(pipeline.model_dir), "--input", str(source)),
        *("--out-parquet", str(parquet)),
    )

    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"column '{contract.id.name}': duplicate id: {int(repeated)!r} (2 rows)" in done.stderr
    assert not parquet.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["repeated.csv"]


def test_a_spark_connect_client_scores_the_raw_csv_alike(
    connected, pipeline: Pipeline, contract, tmp_path
):
    """SPARK_REMOTE names a Spark Connect server on the cluster; the raw CSV (label included, as
    `make score` reads it): the client has no JVM, the checks and the pipeline run in the
    cluster's tasks, and the scores are the pandas engine's."""
    store, parquet = tmp_path / "scores.sqlite", tmp_path / "scores.parquet"
    done = connected(
        *("--model", str(pipeline.model_dir), "--input", str(pipeline.raw_csv)),
        *("--out", str(store), "--out-parquet", str(parquet)),
    )

    assert done.returncode == 0, done.stderr
    ids = read_text(pipeline.raw_csv)[contract.id.name].astype(int).tolist()
    expected = stored(pipeline.scores_db, ids)
    np.testing.assert_allclose(stored(store, ids), expected, rtol=0, atol=EXACT)
    by_id = pd.read_parquet(parquet).set_index(contract.id.name)[contract.probability_field]
    np.testing.assert_allclose(by_id.loc[ids].to_numpy(), expected, rtol=0, atol=EXACT)
