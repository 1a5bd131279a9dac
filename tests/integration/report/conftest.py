"""Real git repositories for the PR report: a baseline on `main`, candidates on branches.

The pipeline runs for real (`dvc repro`), once per repository state, and every repository
shares one DVC cache, so a branch only retrains what its change invalidates. `main` carries a
deliberately weak model so that the normal model is a clear, significant improvement over it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from tests.conftest import PROJECT_ROOT, copy_project, git, run

# The baseline: two shallow boosting rounds, clearly weaker than the default logistic regression.
WEAK = {
    "kind": "hist_gradient_boosting",
    "learning_rate": 0.1,
    "max_iter": 2,
    "max_depth": 2,
    "min_samples_leaf": 20,
    "l2_regularization": 0.0,
    "random_state": 0,
}
# A single stump: clearly weaker than WEAK, yet above the floors below.
WORSE = {**WEAK, "max_iter": 1, "max_depth": 1}
# Floors low enough that every model here passes them: the comparison decides the verdict.
FLOORS = {"roc_auc": 0.6, "average_precision": 0.3}
NO_LOCK_TAG = "before-first-run"
# What the report reads is `evaluate` and what it depends on (the split, the model, the metrics):
# each repository here reproduces only that. `compile` (the service's ONNX form) is no input of
# the report, and skipping it spares a stage run per repository.
REPORTED = "evaluate"


def edit_params(repo: Path, change: Callable[[dict], None], name: str = "params.yaml") -> None:
    path = repo / name
    params = yaml.safe_load(path.read_text())
    change(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def edit_gate(repo: Path, change: Callable[[dict], None]) -> None:
    edit_params(repo, change, "gate.yaml")


def _set_classifier(classifier: dict) -> Callable[[dict], None]:
    def change(params: dict) -> None:
        params["train"]["classifier"] = dict(classifier)

    return change


@pytest.fixture(scope="session")
def dvc_remote(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("report-remote")


@pytest.fixture(scope="session")
def main_repo(
    tmp_path_factory: pytest.TempPathFactory, raw_csv: Path, dvc_remote: Path, contract
) -> Path:
    """The template with a weak model, committed first without a pipeline run (tagged), then
    with the run's dvc.lock and metrics, on `main`."""
    repo = copy_project(tmp_path_factory.mktemp("report") / "main")
    (repo / "dvc.lock").unlink(missing_ok=True)
    if (repo / "eval").exists():
        shutil.rmtree(repo / "eval")
    raw = repo / contract.data_path
    raw.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(raw_csv, raw)
    cache = tmp_path_factory.mktemp("report-cache")

    edit_params(repo, _set_classifier(WEAK))
    edit_gate(repo, lambda gate: gate.update(floors=dict(FLOORS)))
    git(repo, "init", "-q", "-b", "main")
    run(repo, "dvc", "config", "--local", "cache.dir", str(cache))
    run(repo, "dvc", "remote", "modify", "--local", "local", "url", str(dvc_remote))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "template, before the first pipeline run")
    git(repo, "tag", NO_LOCK_TAG)
    run(repo, "dvc", "commit", "--force", "data.dvc")
    run(repo, "dvc", "repro", REPORTED)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "baseline: weak model")
    return repo


def make_branch(main_repo: Path, dest: Path, name: str, change: Callable[[Path], None]) -> Path:
    """Copy `main_repo`, apply `change` on a new branch, rerun the pipeline, and commit."""
    shutil.copytree(main_repo, dest, symlinks=True)
    git(dest, "checkout", "-q", "-b", name)
    change(dest)
    run(dest, "dvc", "repro", REPORTED)
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", name)
    return dest


@pytest.fixture(scope="session")
def improved_repo(main_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """(a) The project's normal logistic regression replaces the weak model."""
    default = {"kind": "logistic_regression", "C": 0.5, "max_iter": 2000, "class_weight": None}
    return make_branch(
        main_repo,
        tmp_path_factory.mktemp("report") / "improved",
        "improve-model",
        lambda repo: edit_params(repo, _set_classifier(default)),
    )


@pytest.fixture(scope="session")
def worse_repo(main_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """(b) A single stump; the branch also tries to lower its own bar in `gate:`."""

    def change(repo: Path) -> None:
        edit_params(repo, _set_classifier(WORSE))
        edit_gate(repo, lambda gate: gate.update(max_regression=0.5, floors={}))

    return make_branch(
        main_repo, tmp_path_factory.mktemp("report") / "worse", "worse-model", change
    )


@pytest.fixture(scope="session")
def unchanged_repo(main_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """(c) A documentation change: the model stays exactly the same."""

    def change(repo: Path) -> None:
        with (repo / "README.md").open("a") as readme:
            readme.write("\nA note that changes no model.\n")

    return make_branch(
        main_repo, tmp_path_factory.mktemp("report") / "unchanged", "docs-only", change
    )


def first_number(contract) -> str:
    return next(f.name for f in contract.features if f.kind == "number")


@pytest.fixture(scope="session")
def new_data_repo(main_repo: Path, tmp_path_factory: pytest.TempPathFactory, contract) -> Path:
    """(e) The rows in the lowest tenth of the first number column are dropped from the data."""

    def change(repo: Path) -> None:
        import pandas as pd

        raw = repo / contract.data_path
        frame = pd.read_csv(raw, dtype=str, keep_default_na=False)
        column = pd.to_numeric(frame[first_number(contract)], errors="coerce")
        kept = frame[~(column <= column.quantile(0.1))]
        raw.unlink()  # the workspace copy may be a link into the DVC cache
        kept.to_csv(raw, index=False, lineterminator="\n")
        run(repo, "dvc", "add", "data")

    return make_branch(
        main_repo, tmp_path_factory.mktemp("report") / "new-data", "new-data", change
    )


@pytest.fixture(scope="session")
def resplit_repo(improved_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """(f) Only the split's seed changes: most new test rows trained `improve-model`'s model."""
    return make_branch(
        improved_repo,
        tmp_path_factory.mktemp("report") / "resplit",
        "resplit",
        lambda repo: edit_params(repo, lambda p: p["prepare"].update(random_state=7)),
    )


@pytest.fixture(scope="session")
def wide_split_repo(improved_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """(g) Half the rows held out with another seed: enough of them are new to the base."""
    return make_branch(
        improved_repo,
        tmp_path_factory.mktemp("report") / "wide-split",
        "wide-split",
        lambda repo: edit_params(
            repo, lambda p: p["prepare"].update(random_state=7, test_size=0.5)
        ),
    )


TINY_C = 0.0003


@pytest.fixture(scope="session")
def tiny_c_repo(improved_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """(h) The issue's example: the default model with C=0.0003. Its base is `default-gate`, the
    default model under the project's own gate.yaml (with its F1 floor)."""
    dest = tmp_path_factory.mktemp("report") / "tiny-c"
    shutil.copytree(improved_repo, dest, symlinks=True)
    git(dest, "checkout", "-q", "-b", "default-gate")
    shutil.copy(PROJECT_ROOT / "gate.yaml", dest / "gate.yaml")
    git(dest, "commit", "-q", "-am", "the project's default gate")
    git(dest, "checkout", "-q", "-b", "tiny-c")
    edit_params(dest, lambda p: p["train"]["classifier"].update(C=TINY_C))
    run(dest, "dvc", "repro", REPORTED)
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "tiny C")
    return dest


@pytest.fixture(scope="session")
def new_contract_repo(main_repo: Path, tmp_path_factory: pytest.TempPathFactory, contract) -> Path:
    """A column is dropped from the table and from the contract: the base model needs it."""
    dropped = first_number(contract)

    def change(repo: Path) -> None:
        import pandas as pd

        raw = repo / contract.data_path
        frame = pd.read_csv(raw, dtype=str, keep_default_na=False).drop(columns=[dropped])
        raw.unlink()
        frame.to_csv(raw, index=False, lineterminator="\n")
        declared = yaml.safe_load((repo / "contract.yaml").read_text())
        del declared["features"][dropped]
        for spec in declared["features"].values():
            derive = (spec.get("blank") or {}) if isinstance(spec.get("blank"), dict) else {}
            if dropped in str(derive.get("derive", "")):
                spec["blank"] = "median"
        (repo / "contract.yaml").write_text(yaml.safe_dump(declared, sort_keys=False))
        run(repo, "dvc", "add", "data")

    return make_branch(
        main_repo, tmp_path_factory.mktemp("report") / "new-contract", "new-contract", change
    )
