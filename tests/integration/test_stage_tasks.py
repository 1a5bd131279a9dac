"""`churn task ...`: stages run in separate checkouts that share only git and a DVC remote.

A small DVC project (two stages, a tracked raw folder, an uncached metrics file) keeps this
fast; the Airflow tests in tests/engines run the real pipeline through the same commands.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from tests.conftest import git, run
from tests.github_api import serve

pytestmark = pytest.mark.slow

DVC_YAML = """\
stages:
  double:
    cmd: python double.py raw/numbers.txt out/doubled.txt
    deps:
      - raw/numbers.txt
      - double.py
    outs:
      - out/doubled.txt
  total:
    cmd: python total.py out/doubled.txt metrics.json
    deps:
      - out/doubled.txt
      - total.py
    metrics:
      - metrics.json:
          cache: false
"""
DOUBLE = """\
import sys
numbers = open(sys.argv[1]).read().split()
import os; os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
open(sys.argv[2], "w").write("\\n".join(str(2 * int(n)) for n in numbers) + "\\n")
"""
TOTAL = """\
import json, sys
numbers = [int(n) for n in open(sys.argv[1]).read().split()]
open(sys.argv[2], "w").write(json.dumps({"total": sum(numbers), "count": len(numbers)}))
"""


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare git remote holding the small project, and its DVC remote holding the raw data."""
    root = tmp_path_factory.mktemp("tasks")
    work = root / "author"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    run(work, "dvc", "init", "-q")
    run(work, "dvc", "remote", "add", "-d", "shared", str(root / "dvc-remote"))
    (work / "dvc.yaml").write_text(DVC_YAML)
    (work / "double.py").write_text(DOUBLE)
    (work / "total.py").write_text(TOTAL)
    (work / "raw").mkdir()
    (work / "raw" / "numbers.txt").write_text("1\n2\n3\n")
    run(work, "dvc", "add", "raw")
    run(work, "dvc", "push")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "small project")
    bare = root / "origin.git"
    git(root, "clone", "-q", "--bare", str(work), str(bare))
    return bare


def clone(origin: Path, dest: Path) -> Path:
    git(dest.parent, "clone", "-q", str(origin), str(dest))
    return dest


def task(checkout: Path, *args: str, inputs: list | None = None, env: dict | None = None):
    result = subprocess.run(
        ["churn", "task", *args],
        cwd=checkout,
        input=None if inputs is None else json.dumps(inputs),
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    return result


def ok(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def reference(origin: Path, dest: Path, new_numbers: str | None = None) -> Path:
    """What a person gets with plain DVC in one checkout."""
    repo = clone(origin, dest)
    run(repo, "dvc", "pull", "raw.dvc")
    if new_numbers is not None:
        target = repo / "raw" / "numbers.txt"
        target.unlink()
        target.write_text(new_numbers)
        run(repo, "dvc", "commit", "--force", "raw.dvc")
    run(repo, "dvc", "repro")
    return repo


def test_stages_on_separate_checkouts_assemble_the_lock_dvc_repro_writes(origin, tmp_path):
    first, second, third = (clone(origin, tmp_path / n) for n in ("w1", "w2", "w3"))

    doubled = ok(task(first, "stage", "double", inputs=[]))
    total = ok(task(second, "stage", "total", inputs=[doubled]))
    assembled = ok(
        task(third, "assemble", "--out", str(tmp_path / "result"), inputs=[doubled, total])
    )

    plain = reference(origin, tmp_path / "plain")
    assert (third / "dvc.lock").read_text() == (plain / "dvc.lock").read_text()
    assert (third / "metrics.json").read_text() == (plain / "metrics.json").read_text()
    assert json.loads((plain / "metrics.json").read_text()) == {"total": 12, "count": 3}
    files = {entry["path"]: entry["text"] for entry in assembled["files"]}
    assert files["dvc.lock"] == (plain / "dvc.lock").read_text()
    assert (tmp_path / "result" / "metrics.json").read_text() == files["metrics.json"]
    # Each stage really ran where it was sent: the second checkout never ran `double`.
    assert doubled["worker"].endswith(str(first))
    assert total["worker"].endswith(str(second))
    assert total["lock"]["deps"][0]["md5"] == doubled["lock"]["outs"][0]["md5"]


@pytest.fixture(scope="module")
def refreshed_run(origin, tmp_path_factory) -> tuple[list[dict], Path]:
    """New raw data, then each stage on another checkout: the payloads of a retraining run."""
    root = tmp_path_factory.mktemp("refreshed")
    source = root / "latest.txt"
    source.write_text("10\n20\n")
    first, second = clone(origin, root / "w1"), clone(origin, root / "w2")
    refreshed = ok(task(first, "refresh-data", "--source", source.as_uri()))
    doubled = ok(task(second, "stage", "double", inputs=[refreshed]))
    total = ok(task(first, "stage", "total", inputs=[refreshed, doubled]))
    return [refreshed, doubled, total], source


def test_refreshed_data_flows_through_the_stages(origin, refreshed_run, tmp_path):
    inputs, _ = refreshed_run
    assert inputs[0]["changed"] is True
    final = clone(origin, tmp_path / "final")
    ok(task(final, "assemble", inputs=inputs))

    plain = reference(origin, tmp_path / "plain", new_numbers="10\n20\n")
    for name in ("dvc.lock", "raw.dvc", "metrics.json"):
        assert (final / name).read_text() == (plain / name).read_text(), name
    assert json.loads((final / "metrics.json").read_text()) == {"total": 60, "count": 2}


def test_refreshing_with_the_same_data_changes_nothing(origin, tmp_path):
    source = tmp_path / "same.txt"
    source.write_text("1\n2\n3\n")
    again = ok(task(clone(origin, tmp_path / "w"), "refresh-data", "--source", str(source)))
    assert again["changed"] is False


def test_open_pr_pushes_a_branch_and_opens_one_pull_request(origin, refreshed_run, tmp_path):
    inputs, _ = refreshed_run
    with serve("acme", "churn", "s3cret", origin) as github:
        env = {**os.environ, "GITHUB_TOKEN": "s3cret", "GITHUB_API_URL": github.url}
        args = ("open-pr", "--repo", "acme/churn", "--base", "main", "--run-id", "run-1")
        wrong = task(
            clone(origin, tmp_path / "publisher0"),
            *args,
            inputs=inputs,
            env={**env, "GITHUB_TOKEN": "wrong"},
        )
        opened = ok(task(clone(origin, tmp_path / "publisher"), *args, inputs=inputs, env=env))
        again = ok(task(clone(origin, tmp_path / "publisher2"), *args, inputs=inputs, env=env))

    assert wrong.returncode == 2
    assert "401 Bad credentials" in wrong.stderr
    assert opened["created"] is True
    assert again["created"] is False
    assert again["number"] == opened["number"] == 1
    (pull,) = github.pulls
    assert pull["head"]["ref"] == opened["branch"]
    assert pull["base"]["ref"] == "main"
    assert pull["head"]["sha"] == opened["commit"]
    assert "| metrics.json | total | - | 60 |" in pull["body"]
    committed = git(origin, "show", f"{opened['branch']}:metrics.json")
    assert json.loads(committed) == {"total": 60, "count": 2}
    changed = git(origin, "diff", "--name-only", "main", opened["branch"]).split()
    assert sorted(changed) == ["dvc.lock", "metrics.json", "raw.dvc"]


def test_a_stage_not_in_this_revision_is_refused_clearly(origin, tmp_path):
    result = task(clone(origin, tmp_path / "w"), "stage", "nonexistent", inputs=[])
    assert result.returncode == 2
    assert "no stage 'nonexistent' in dvc.yaml (stages: double, total)" in result.stderr


def test_inputs_from_another_revision_are_refused(origin, tmp_path):
    result = task(clone(origin, tmp_path / "w"), "stage", "total", inputs=[{"revision": "0" * 40}])
    assert result.returncode == 2
    assert "every task of a run must work at the run's revision" in result.stderr


@pytest.mark.parametrize(
    ("stdin", "message"),
    [("not json", "stdin is not JSON"), ('{"a": 1}', "stdin must be a JSON list of payloads")],
)
def test_bad_stdin_is_a_clear_error(origin, tmp_path, stdin, message):
    worker = clone(origin, tmp_path / "w")
    result = subprocess.run(
        ["churn", "task", "assemble"],
        cwd=worker,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_payload_paths_cannot_leave_the_checkout(origin, tmp_path):
    worker = clone(origin, tmp_path / "w")
    head = git(worker, "rev-parse", "HEAD")
    evil = {"revision": head, "files": [{"path": "../outside.txt", "text": "x"}]}
    result = task(worker, "stage", "double", inputs=[evil])
    assert result.returncode == 2
    assert "refusing payload path '../outside.txt'" in result.stderr
    assert not (tmp_path / "outside.txt").exists()


def test_a_local_worker_checkout_shares_the_environment_and_the_dvc_remote(tmp_path):
    """`make airflow`'s scratch clone: same DVC storage although the remote is a relative path."""
    import sys

    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    run(project, "dvc", "init", "-q")
    run(project, "dvc", "remote", "add", "-d", "shared", "../storage")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "init")
    dest = tmp_path / "scratch" / "checkout"

    made = subprocess.run(
        ["churn", "task", "checkout", str(dest), "--origin", str(project)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert made.returncode == 0, made.stderr
    assert (dest / ".venv").resolve() == Path(sys.prefix).resolve()
    url = run(dest, "dvc", "remote", "list").stdout.split()
    assert url[:2] == ["shared", str((tmp_path / "storage").resolve())]
    assert git(dest, "status", "--porcelain", "--untracked-files=no") == ""


def test_an_unreadable_data_source_is_named_and_changes_nothing(origin, tmp_path):
    worker = clone(origin, tmp_path / "w")
    result = task(worker, "refresh-data", "--source", str(tmp_path / "missing.csv"))
    assert result.returncode == 2
    assert f"cannot read the data source '{tmp_path / 'missing.csv'}'" in result.stderr
    assert git(worker, "status", "--porcelain", "--untracked-files=no") == ""
    assert (worker / "raw" / "numbers.txt").read_text() == "1\n2\n3\n"


def test_a_run_missing_a_stage_of_this_revision_is_not_assembled(origin, tmp_path):
    """A DAG generated from another dvc.yaml than the revision's cannot pass off a partial lock."""
    worker = clone(origin, tmp_path / "w")
    doubled = ok(task(worker, "stage", "double", inputs=[]))
    result = task(clone(origin, tmp_path / "final"), "assemble", inputs=[doubled])
    assert result.returncode == 2
    assert "no payload for the stages ['total']" in result.stderr
