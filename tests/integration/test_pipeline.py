"""The real pipeline, end to end, in a temporary copy of the project with a local DVC remote."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import copy_project, git, run

pytestmark = pytest.mark.slow


def tree_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dvc-remote")


@pytest.fixture(scope="module")
def pipeline_repo(tmp_path_factory: pytest.TempPathFactory, remote: Path) -> Path:
    """A fresh 'clone' of the template: data obtained by `churn fetch`, pipeline run once."""
    repo = copy_project(tmp_path_factory.mktemp("project"))
    git(repo, "init", "-q", "-b", "main")
    run(repo, "dvc", "remote", "modify", "local", "url", str(remote))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "template")
    fetched = run(repo, "churn", "fetch", "--dvc-file", "data.dvc", "--out", "data/wa_churn.csv")
    assert "rebuilt from the public source and pushed" in fetched.stdout
    run(repo, "dvc", "repro")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", "pipeline run")
    return repo


def test_fetch_rebuilds_pinned_data_and_pushes_it(pipeline_repo, remote):
    """On an empty remote the data is rebuilt, matches data.dvc, and lands in the remote."""
    assert (pipeline_repo / "data" / "wa_churn.csv").is_file()
    assert any(p.is_file() for p in remote.rglob("*"))
    again = run(
        pipeline_repo, "churn", "fetch", "--dvc-file", "data.dvc", "--out", "data/wa_churn.csv"
    )
    assert "pulled from the DVC remote" in again.stdout


def test_fetch_refuses_data_that_does_not_match_the_pin(tmp_path):
    repo = copy_project(tmp_path / "repo")
    git(repo, "init", "-q")
    run(repo, "dvc", "remote", "modify", "local", "url", str(tmp_path / "empty-remote"))
    dvc_file = repo / "data.dvc"
    dvc_file.write_text(dvc_file.read_text().replace("md5: ", "md5: 0", 1).replace(".dir", "x.dir"))
    result = run(
        repo, "churn", "fetch", "--dvc-file", "data.dvc", "--out", "data/wa_churn.csv", check=False
    )
    assert result.returncode == 2
    assert "but data.dvc pins" in result.stderr
    assert not (repo / "data" / "wa_churn.csv").exists()


def test_pipeline_meets_quality_bar_and_is_up_to_date(pipeline_repo):
    metrics = json.loads((pipeline_repo / "eval" / "metrics.json").read_text())
    assert set(metrics) == {"roc_auc", "average_precision", "accuracy", "f1", "log_loss", "brier"}
    assert metrics["roc_auc"] >= 0.83
    for name in ("roc.json", "precision_recall.json", "calibration.json", "confusion.json"):
        assert (pipeline_repo / "eval" / "plots" / name).is_file()
    assert "up to date" in run(pipeline_repo, "dvc", "status").stdout


def test_second_repro_reruns_nothing(pipeline_repo):
    again = run(pipeline_repo, "dvc", "repro")
    assert "Running stage" not in again.stdout
    assert git(pipeline_repo, "status", "--porcelain") == ""


def test_push_then_pull_into_fresh_clone_reproduces_identically(pipeline_repo, tmp_path):
    """Another machine gets the same outputs from the remote, and retraining from scratch there
    gives byte-identical models and identical metrics."""
    run(pipeline_repo, "dvc", "push")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(pipeline_repo), str(clone)], check=True)
    run(clone, "dvc", "pull")
    assert tree_digest(clone / "models" / "model") == tree_digest(
        pipeline_repo / "models" / "model"
    )
    assert "up to date" in run(clone, "dvc", "status").stdout

    shutil.rmtree(clone / "models")
    shutil.rmtree(clone / "artifacts")
    run(clone, "dvc", "repro", "--force")
    assert (clone / "eval" / "metrics.json").read_text() == (
        pipeline_repo / "eval" / "metrics.json"
    ).read_text()
    assert (clone / "dvc.lock").read_text() == (pipeline_repo / "dvc.lock").read_text()


def test_bad_raw_data_stops_pipeline_and_keeps_previous_outputs(pipeline_repo, tmp_path):
    repo = tmp_path / "bad"
    shutil.copytree(pipeline_repo, repo, symlinks=True)
    before = {d: tree_digest(repo / d) for d in ("artifacts/prepared", "models/model")}
    raw = repo / "data" / "wa_churn.csv"
    raw.chmod(0o644)
    lines = raw.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace("Month-to-month", "Fortnightly")
    raw.unlink()  # the workspace copy may be a link into the DVC cache
    raw.write_text("".join(lines))

    result = run(repo, "dvc", "repro", check=False)

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "column 'contract': unknown category" in output
    assert "line 4 ('Fortnightly')" in output
    assert {d: tree_digest(repo / d) for d in before} == before


def test_experiment_leaves_committed_state_untouched(pipeline_repo, tmp_path):
    repo = tmp_path / "exp"
    shutil.copytree(pipeline_repo, repo, symlinks=True)
    head = git(repo, "rev-parse", "HEAD")
    run(repo, "dvc", "exp", "run", "--temp", "-S", "train.classifier.C=0.05")
    shown = json.loads(run(repo, "dvc", "exp", "show", "--json").stdout)
    params_seen = json.dumps(shown)
    assert '"C": 0.05' in params_seen
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""


def test_mlflow_run_recorded_in_a_real_tracking_server(pipeline_repo, tmp_path, mlflow_server):
    """One pipeline run = one MLflow run with params, metrics, model, commit and data hash."""
    from mlflow.tracking import MlflowClient

    repo = tmp_path / "tracked"
    shutil.copytree(pipeline_repo, repo, symlinks=True)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": mlflow_server,
        "MLFLOW_EXPERIMENT_NAME": "server-test",
    }
    result = subprocess.run(
        ["dvc", "repro", "--force", "evaluate", "--single-item"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr

    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("server-test")
    (logged,) = client.search_runs([experiment.experiment_id])
    metrics = json.loads((repo / "eval" / "metrics.json").read_text())
    assert logged.data.metrics == pytest.approx(metrics)
    assert logged.data.params["train.classifier.kind"] == "logistic_regression"
    assert "prepare.test_size" in logged.data.params
    assert logged.data.tags["mlflow.source.git.commit"] == git(repo, "rev-parse", "HEAD")
    raw_sha = hashlib.sha256((repo / "data" / "wa_churn.csv").read_bytes()).hexdigest()
    assert logged.data.tags["data_sha256"] == raw_sha
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id, "model")}
    assert "model/MLmodel" in artifacts


def test_exploration_notebook_runs_against_the_package(pipeline_repo, monkeypatch):
    """The notebook imports the package and runs top to bottom on the pipeline's data."""
    notebook = json.loads((pipeline_repo / "notebooks" / "01-explore-churn.ipynb").read_text())
    assert all(not cell.get("outputs") for cell in notebook["cells"])
    monkeypatch.chdir(pipeline_repo / "notebooks")
    namespace: dict[str, object] = {}
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            exec("".join(cell["source"]), namespace)
    assert namespace["customers"].shape[0] == 7043
