"""The pipeline on Apache Airflow: DAGs generated from dvc.yaml, run on two Celery workers.

The scheduled retraining runs for real on a Celery executor with Redis as the broker and two
workers, each serving its own queue from its own checkout and DVC cache; the stages alternate
between the queues, so every hand-over goes through the DVC remote. Its pull request must carry
the `dvc.lock`, `.dvc` file and metrics that a plain `dvc repro` on the same data writes.
`airflow dags test` (the quick path, no scheduler) runs the pipeline DAG at main, beside the
Celery run, to main's own `dvc.lock`, and the daily re-score at the retraining's branch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import PROJECT_ROOT, git
from tests.engines.conftest import AirflowHome, Origin, stage_names
from tests.github_api import StandInGitHub

RESULT_FILES = ("dvc.lock", "data.dvc", "eval/metrics.json")
TOKEN = "airflow-test-token"

# ---- The quick path: `airflow dags test` ---------------------------------------------------------


def dags_test(
    home: AirflowHome, dag_id: str, conf: dict, checkout: Path, env: dict | None = None
) -> subprocess.CompletedProcess:
    return home.airflow(
        "dags",
        "test",
        dag_id,
        "-c",
        json.dumps(conf),
        env={"CHURN_CHECKOUT": str(checkout), **(env or {})},
        check=False,
    )


@dataclass(frozen=True)
class QuickRun:
    result: subprocess.CompletedProcess
    out: Path  # results_dir, or the score store

    @property
    def log(self) -> str:
        return self.result.stdout[-4000:] + self.result.stderr[-4000:]


# ---- The scheduled retraining on Celery --------------------------------------------------------


@dataclass(frozen=True)
class Retrain:
    state: str
    task_states: dict[str, str]
    payloads: dict[str, dict]
    checkouts: dict[str, Path]
    github: StandInGitHub
    origin: Origin
    reference: Path  # plain `dvc repro` on the same data, in its own checkout
    new_table: Path
    unchanged_run: dict[str, str]  # task states of a second run, on the data main already pins
    diagnostics: str

    @property
    def branch(self) -> str:
        (pull,) = self.github.pulls
        return pull["head"]["ref"]


def _reference_repro(origin: Origin, dest: Path, table: Path, mlflow_uri: str) -> Path:
    """What a person gets on one machine: new data, `dvc commit`, `dvc repro`."""
    origin.clone(dest, venv=False)
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri}

    def dvc(*args: str) -> None:
        subprocess.run(["dvc", *args], cwd=dest, env=env, check=True, capture_output=True)

    dvc("pull", "data.dvc")
    raw = dest / origin.raw_table.relative_to(origin.author)
    raw.unlink()
    shutil.copyfile(table, raw)
    dvc("commit", "--force", "data.dvc")
    dvc("repro")
    return dest


@pytest.fixture(scope="session")
def quick_pipeline(airflow_home, origin, tmp_path_factory) -> Iterator[Future[QuickRun]]:
    """`airflow dags test` of the pipeline DAG at main, in the background: it shares nothing with
    the Celery run (its own checkout, its own copy of the database; the DVC remote holds only
    content-addressed files), so the retraining starts beside it rather than after it."""
    root = tmp_path_factory.mktemp("quick-pipeline")
    results = root / "results"
    home = airflow_home.copy(root / "home")
    checkout = origin.clone(root / "checkout")
    conf = {"revision": "main", "results_dir": str(results)}
    # Its own tracking store: two processes creating one SQLite store's tables at once collide.
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(
            lambda: QuickRun(dags_test(home, "churn_pipeline", conf, checkout, env), results)
        )


@pytest.fixture(scope="session")
def retrain(celery_cluster, origin, quick_pipeline, tmp_path_factory) -> Retrain:
    root = tmp_path_factory.mktemp("retrain")
    lines = origin.raw_table.read_text().splitlines(keepends=True)
    new_table = root / "latest.csv"
    new_table.write_text("".join(lines[:-300]))  # the latest table: 300 customers fewer

    with StandInGitHub(repository="acme/churn", token=TOKEN, git_dir=origin.bare) as github:
        connection = json.dumps({"conn_type": "http", "host": github.url, "password": TOKEN})
        cluster = celery_cluster({"AIRFLOW_CONN_CHURN_GITHUB": connection})
        with ThreadPoolExecutor(1) as pool:
            reference = pool.submit(
                _reference_repro,
                origin,
                root / "reference",
                new_table,
                f"sqlite:///{root / 'reference-mlflow.db'}",
            )
            run_id = cluster.api.trigger(
                "churn_retrain",
                {"base": "main", "data_source": new_table.as_uri(), "github_repo": "acme/churn"},
            )
            state = cluster.api.wait("churn_retrain", run_id, cluster.processes.alive)
            reference_dir = reference.result()
        states = cluster.api.task_states("churn_retrain", run_id)
        payloads = {
            task: cluster.api.xcom("churn_retrain", run_id, task)
            for task, task_state in states.items()
            if task_state == "success"
        }
        # Next week, nothing new: the run stops after looking at the data.
        again = cluster.api.trigger(
            "churn_retrain",
            {"data_source": str(origin.raw_table), "github_repo": "acme/churn"},
        )
        cluster.api.wait("churn_retrain", again, cluster.processes.alive)
        unchanged_run = cluster.api.task_states("churn_retrain", again)
    return Retrain(
        state=state,
        task_states=states,
        payloads=payloads,
        checkouts=cluster.checkouts,
        github=github,
        origin=origin,
        reference=reference_dir,
        new_table=new_table,
        unchanged_run=unchanged_run,
        diagnostics=f"{states}\n{cluster.processes.tail()}",
    )


def test_retraining_on_two_celery_workers_writes_what_dvc_repro_writes(retrain):
    assert retrain.state == "success", retrain.diagnostics
    for name in RESULT_FILES:
        proposed = git(retrain.origin.bare, "show", f"{retrain.branch}:{name}")
        assert proposed == (retrain.reference / name).read_text().rstrip("\n"), name
    for plot in sorted((retrain.reference / "eval" / "plots").iterdir()):
        proposed = git(retrain.origin.bare, "show", f"{retrain.branch}:eval/plots/{plot.name}")
        assert proposed == plot.read_text().rstrip("\n"), plot.name
    # The data really changed, and so did the model: this is not main's lock replayed.
    assert git(retrain.origin.bare, "diff", "--name-only", "main", retrain.branch).split() != []
    assert retrain.payloads["refresh_data"]["changed"] is True


def test_both_workers_ran_stages_sharing_only_git_and_the_dvc_remote(retrain):
    assert retrain.state == "success", retrain.diagnostics
    stages = stage_names(PROJECT_ROOT)
    ran_in = {retrain.payloads[stage]["worker"].split(":", 1)[1] for stage in stages}
    assert ran_in == {str(path) for path in retrain.checkouts.values()}
    # Each worker's own DVC cache: neither checkout shares the other's.
    caches = [path / ".dvc" / "cache" for path in retrain.checkouts.values()]
    assert all(cache.is_dir() for cache in caches)
    assert caches[0].resolve() != caches[1].resolve()


def test_retraining_opens_one_pull_request_with_the_new_pins(retrain):
    assert retrain.state == "success", retrain.diagnostics
    (pull,) = retrain.github.pulls
    assert pull["base"]["ref"] == "main"
    assert pull["head"]["sha"] == git(retrain.origin.bare, "rev-parse", retrain.branch)
    assert retrain.payloads["open_pull_request"]["number"] == pull["number"]
    metrics = json.loads((retrain.reference / "eval" / "metrics.json").read_text())
    assert "| eval/metrics.json | roc_auc |" in pull["body"]
    assert str(metrics["roc_auc"]) in pull["body"]
    posted = [r for r in retrain.github.requests if r.method == "POST"]
    assert len(posted) == 1


def test_a_retraining_on_unchanged_data_skips_everything_after_the_refresh(retrain):
    assert retrain.state == "success", retrain.diagnostics
    assert set(retrain.unchanged_run.values()) == {"skipped"}, retrain.unchanged_run
    assert len(retrain.github.pulls) == 1


@pytest.fixture(scope="module")
def quick_rescore(retrain, airflow_home, tmp_path_factory) -> QuickRun:
    """`airflow dags test` of the daily re-score at the retraining's branch, in its own
    checkout and its own copy of the database."""
    assert retrain.state == "success", retrain.diagnostics
    root = tmp_path_factory.mktemp("quick-rescore")
    store = root / "served" / "scores.sqlite"
    store.parent.mkdir()
    store.write_text("yesterday's store")
    result = dags_test(
        airflow_home.copy(root / "home"),
        "churn_rescore",
        {"revision": retrain.branch, "score_store": str(store)},
        retrain.origin.clone(root / "checkout"),
    )
    return QuickRun(result, store)


def test_dags_test_runs_the_pipeline_dag_to_mains_lock(quick_pipeline, origin):
    """main's `dvc.lock` and metrics are what `dvc repro` wrote on main's data."""
    ran = quick_pipeline.result()
    assert ran.result.returncode == 0, ran.log
    assert "state=success" in ran.result.stdout + ran.result.stderr
    for name in ("dvc.lock", "eval/metrics.json"):
        committed = git(origin.bare, "show", f"main:{name}")
        assert (ran.out / name).read_text().rstrip("\n") == committed, name


def test_daily_rescore_replaces_the_score_store_with_the_released_model(retrain, quick_rescore):
    from churn.artifacts import saved_model
    from churn.artifacts.score_store import ScoreStore

    ran = quick_rescore
    assert ran.result.returncode == 0, ran.log
    with ScoreStore.open(ran.out) as scores:
        info = scores.info()
    rows = len(retrain.new_table.read_text().splitlines()) - 1
    assert info["rows"] == rows
    model = saved_model.load(retrain.reference / "models" / "model")
    assert info["model_digest"] == model.digest


def test_the_workers_track_their_runs_where_mlflow_tracking_uri_points(retrain, isolated_mlflow):
    """The stages ran by the workers log to the tracking store the deployment names."""
    import hashlib

    from mlflow.tracking import MlflowClient

    assert retrain.state == "success", retrain.diagnostics
    client = MlflowClient(tracking_uri=isolated_mlflow)
    runs = [
        run
        for experiment in client.search_experiments()
        for run in client.search_runs([experiment.experiment_id])
    ]
    new_data = hashlib.sha256(retrain.new_table.read_bytes()).hexdigest()
    assert new_data in {run.data.tags.get("data_sha256") for run in runs}
