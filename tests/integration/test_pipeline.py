"""The real pipeline, end to end, in a temporary copy of the project with a local DVC remote:
fetching the pinned data, reproducibility, and what happens when data or a stage goes wrong."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.conftest import copy_project, git, make, run
from tests.generated import defects, read_text

from churn.artifacts import saved_model

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
    """A fresh 'clone' of the template: `make data` on an empty remote, then `make repro`.

    Its DVC cache lives outside it, so the copies the tests below make share it (as checkouts of
    one machine can, `cache.dir`): a stage one test ran is restored from the run-cache in the
    next that needs it, instead of rerun."""
    repo = copy_project(tmp_path_factory.mktemp("project"))
    git(repo, "init", "-q", "-b", "main")
    run(repo, "dvc", "remote", "modify", "local", "url", str(remote))
    run(repo, "dvc", "config", "--local", "cache.dir", str(tmp_path_factory.mktemp("dvc-cache")))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "template")
    fetched = make(repo, "data")
    assert "rebuilt the data from its source (it matches the pin) and pushed it" in fetched.stdout
    make(repo, "repro")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", "pipeline run")
    return repo


def _copy(pipeline_repo: Path, dest: Path) -> Path:
    shutil.copytree(pipeline_repo, dest, symlinks=True)
    return dest


def _raw(repo: Path, contract) -> Path:
    return repo / contract.data_path


def _rewrite(path: Path, text: str) -> None:
    path.unlink()  # the workspace copy may be a link into the DVC cache
    path.write_text(text)


def test_fetch_rebuilds_pinned_data_and_pushes_it(pipeline_repo, remote, contract):
    """On an empty remote the data is rebuilt, matches data.dvc, and lands in the remote; then
    a second `make data` says plainly that there is nothing to do."""
    assert _raw(pipeline_repo, contract).is_file()
    assert any(p.is_file() for p in remote.rglob("*"))
    again = make(pipeline_repo, "data")
    assert "the data already matches data.dvc: nothing to fetch" in again.stdout


def test_a_fresh_clone_pulls_the_data_from_the_remote(pipeline_repo, tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(pipeline_repo), str(clone)], check=True)
    pulled = make(clone, "data")
    assert "pulled the data pinned by data.dvc from the DVC remote" in pulled.stdout


def test_fetch_refuses_a_rebuild_that_does_not_match_the_pin(tmp_path):
    repo = copy_project(tmp_path / "repo")
    git(repo, "init", "-q")
    run(repo, "dvc", "remote", "modify", "local", "url", str(tmp_path / "empty-remote"))
    dvc_file = repo / "data.dvc"
    dvc_file.write_text(dvc_file.read_text().replace("md5: ", "md5: 0", 1).replace(".dir", "x.dir"))
    pinned = dvc_file.read_text()
    result = make(repo, "data", check=False)
    assert result.returncode == 2
    assert "does not hash to it" in result.stderr
    assert "Nothing was kept, nothing re-pinned" in result.stderr
    assert not (repo / "data").exists()
    assert dvc_file.read_text() == pinned


def test_pipeline_runs_and_is_up_to_date(pipeline_repo):
    metrics = json.loads((pipeline_repo / "eval" / "metrics.json").read_text())
    assert set(metrics) == {"roc_auc", "average_precision", "accuracy", "f1", "log_loss", "brier"}
    for name in ("roc.json", "precision_recall.json", "calibration.json", "confusion.json"):
        assert (pipeline_repo / "eval" / "plots" / name).is_file()
    assert "up to date" in run(pipeline_repo, "dvc", "status").stdout


def test_the_model_carries_its_threshold_and_contract(pipeline_repo, contract):
    card = saved_model.read(pipeline_repo / "models" / "model")
    params = yaml.safe_load((pipeline_repo / "params.yaml").read_text())
    assert card.threshold == params["train"]["threshold"]
    assert card.contract.read_text() == (pipeline_repo / "contract.yaml").read_text()
    assert card.metadata["contract_sha256"] == contract.digest
    example = json.loads(card.input_example.read_text())  # strict JSON: no NaN
    assert example["dataframe_split"]["columns"] == list(contract.feature_names)


def test_second_repro_reruns_nothing(pipeline_repo):
    # Python writes bytecode next to the code it imports (unless PYTHONDONTWRITEBYTECODE is set;
    # compiled here whatever the environment says): it is not part of a stage's code dependency.
    run(pipeline_repo, sys.executable, "-m", "compileall", "-q", "src")
    again = make(pipeline_repo, "repro")
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


def test_changed_raw_data_stops_make_repro_and_never_moves_the_pin(
    pipeline_repo, tmp_path, contract
):
    """Data that differs from its pin (here corrupt) stops `make repro` and `make data` before
    anything runs, names the file and both ways out, and leaves data.dvc and the outputs as
    they were (DVC itself would re-pin the corrupt file on `dvc repro`)."""
    repo = _copy(pipeline_repo, tmp_path / "bad")
    before = {d: tree_digest(repo / d) for d in ("artifacts/prepared", "models/model")}
    pin = (repo / "data.dvc").read_text()
    raw = _raw(repo, contract)
    defect = next(d for d in defects(contract) if d.name == "unknown target label")
    _rewrite(raw, defect.mutate(read_text(raw)).to_csv(index=False, lineterminator="\n"))

    for target in ("repro", "data"):
        result = make(repo, target, check=False)
        assert result.returncode == 2, target
        assert f"differs from what data.dvc pins ({contract.data_path})" in result.stderr
        assert "dvc add data" in result.stderr
        assert "dvc checkout --force data.dvc" in result.stderr
        assert "Running stage" not in result.stdout
    assert (repo / "data.dvc").read_text() == pin
    assert {d: tree_digest(repo / d) for d in before} == before

    # Keeping it on purpose (`dvc add`) is how a user brings new data: then the contract speaks.
    run(repo, "dvc", "add", "data")
    result = make(repo, "repro", check=False)
    assert result.returncode != 0
    for fragment in defect.expected:
        assert fragment.split(" (")[0] in result.stderr + result.stdout
    assert {d: tree_digest(repo / d) for d in before} == before


def test_a_failing_stage_keeps_the_last_model_and_the_run_cache(pipeline_repo, tmp_path):
    """A classifier setting that makes `train` fail: `make repro` fails, the previous model is
    back in place (no `persist`), and the next good run is served from the run-cache."""
    repo = _copy(pipeline_repo, tmp_path / "failing")
    model_before = tree_digest(repo / "models" / "model")
    params_file = repo / "params.yaml"
    good = params_file.read_text()
    params = yaml.safe_load(good)
    params["train"]["classifier"] = {**params["train"]["classifier"], "kind": "logistic_regression"}
    params["train"]["classifier"]["max_iter"] = 1
    params["train"]["classifier"]["class_weight"] = {"0": 1}  # not a valid sklearn weight spec
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))

    failed = make(repo, "repro", check=False)
    assert failed.returncode != 0
    assert "outputs of the last successful run are back in place" in failed.stderr
    assert tree_digest(repo / "models" / "model") == model_before
    dvc_yaml = yaml.safe_load((repo / "dvc.yaml").read_text())
    assert not any(
        isinstance(out, dict) and any(v.get("persist") for v in out.values())
        for stage in dvc_yaml["stages"].values()
        for out in stage.get("outs", [])
    )

    params_file.write_text(good)
    again = make(repo, "repro")
    assert "Running stage 'train'" not in again.stdout


def test_an_experiment_lands_in_the_projects_mlflow_store_and_leaves_git_alone(
    pipeline_repo, tmp_path, monkeypatch
):
    """`dvc exp run --temp` runs in a throw-away copy, but its MLflow run is recorded in the
    project's own store, named after the experiment, with its params; HEAD and the workspace
    stay as they were. A run from an edited working tree says which files it differs in."""
    from mlflow.tracking import MlflowClient

    repo = _copy(pipeline_repo, tmp_path / "exp")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # the project's default store, as a user has it
    head = git(repo, "rev-parse", "HEAD")
    run(repo, "dvc", "exp", "run", "--temp", "-S", "train.threshold=0.4")
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""
    shown = json.loads(run(repo, "dvc", "exp", "show", "--json").stdout)
    assert '"threshold": 0.4' in json.dumps(shown)

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlruns' / 'mlflow.db'}")
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string="tags.`dvc.experiment` != ''",
    )
    (experiment,) = runs
    assert experiment.data.params["train.threshold"] == "0.4"
    assert experiment.info.run_name == experiment.data.tags["dvc.experiment"]
    assert experiment.data.tags["dvc.baseline_rev"] == head
    assert experiment.data.tags["git.changed_files"] == "params.yaml"


def test_hooks_work_from_a_plain_shell_and_a_branch_switch_brings_its_model(
    pipeline_repo, tmp_path
):
    """After `make install`, committing works without the virtual environment on PATH, and
    `git checkout` brings the checked-out commit's model (DVC's hook through pre-commit), so
    `make serve` never serves another branch's model; without the hooks it refuses to."""
    repo = _copy(pipeline_repo, tmp_path / "hooks")
    (repo / ".venv").symlink_to(Path(sys.executable).parents[1])
    run(repo, ".venv/bin/pre-commit", "install", "--install-hooks")
    # A shell without the virtual environment; like the suite's other DVC commands it sends no
    # usage report (each hook's DVC would start a process to send one: 2 s of CPU here).
    plain = {
        "PATH": "/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "DVC_NO_ANALYTICS": "1",
    }

    def shell(*cmd: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(cmd, cwd=repo, env=plain, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{cmd}: {done.stdout}\n{done.stderr}"
        return done

    main_model = tree_digest(repo / "models" / "model")
    shell("git", "checkout", "-q", "-b", "lower-threshold")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["threshold"] = 0.4
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    make(repo, "repro")
    branch_model = tree_digest(repo / "models" / "model")
    assert branch_model != main_model
    shell("git", "add", "-A")
    committed = shell("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-m", "x")
    assert "ruff check" in committed.stdout + committed.stderr  # the hooks ran

    shell("git", "checkout", "-q", "main")
    assert tree_digest(repo / "models" / "model") == main_model
    make(repo, "current-model")

    git(repo, "-c", "core.hooksPath=/dev/null", "checkout", "-q", "lower-threshold")
    assert tree_digest(repo / "models" / "model") == main_model  # no hook: the other model
    refused = make(repo, "serve", check=False)
    assert refused.returncode == 2
    assert "models/ is not what dvc.lock pins for this commit" in refused.stderr
    assert "`dvc checkout`" in refused.stderr


def test_mlflow_run_recorded_in_a_real_tracking_server(
    pipeline_repo, tmp_path, mlflow_server, contract
):
    """One pipeline run = one MLflow run with params, metrics, model, commit and data hash."""
    from mlflow.tracking import MlflowClient

    repo = _copy(pipeline_repo, tmp_path / "tracked")
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
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert logged.data.metrics == pytest.approx(metrics)
    assert logged.data.params["train.classifier.kind"] == params["train"]["classifier"]["kind"]
    assert "prepare.test_size" in logged.data.params
    assert logged.data.tags["mlflow.source.git.commit"] == git(repo, "rev-parse", "HEAD")
    raw_sha = hashlib.sha256(_raw(repo, contract).read_bytes()).hexdigest()
    assert logged.data.tags["data_sha256"] == raw_sha
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id, "model")}
    assert "model/MLmodel" in artifacts
