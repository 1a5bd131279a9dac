"""pr.yml's train-report job, under act, on a pull request that changes the data (conftest.py).

A repository made from the template has no shared DVC remote: the data a pull request adds is
in no cache CI can restore and is not what the public source rebuilds. `make data` fails within
seconds, the pipeline steps are skipped, and the report step must still run: its report says
which data could not be fetched and how to push it, the gate fails, and the artifact carries
that report, valid for pr-comment.yml. Reuses the package's `github` and `release` fixtures.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tests.conftest import git
from tests.integration.workflows.conftest import Github, step_results

from churn.release import pr_artifact

pytestmark = pytest.mark.slow

DATA_PR_NUMBER = 8
DATA_PR_RUN = 201
BRANCH = "new-data"


def _data_pull_request_event(origin: Path) -> dict:
    return {
        "action": "synchronize",
        "number": DATA_PR_NUMBER,
        "pull_request": {
            "number": DATA_PR_NUMBER,
            "head": {"ref": BRANCH, "sha": git(origin, "rev-parse", BRANCH)},
            "base": {"ref": "main", "sha": git(origin, "rev-parse", "main")},
        },
        "repository": {"full_name": "example/churn", "default_branch": "main"},
    }


@pytest.fixture(scope="module")
def data_pull_request(github: Github, release, raw_csv: Path, contract) -> Github:
    """A branch whose commit changes `data.dvc` (the newest customers dropped), merged as
    refs/pull/8/merge; the data itself is pushed nowhere, as on a fresh template."""
    origin = github.origin
    head = git(origin, "rev-parse", "HEAD")
    git(origin, "checkout", "-q", "-b", BRANCH, "main")
    frame = pd.read_csv(raw_csv, dtype=str, keep_default_na=False)
    raw = origin / contract.data_path
    raw.parent.mkdir(parents=True, exist_ok=True)
    frame.iloc[: len(frame) * 9 // 10].to_csv(raw, index=False, lineterminator="\n")
    subprocess.run(["dvc", "add", "data"], cwd=origin, check=True, capture_output=True)
    git(origin, "add", "data.dvc")
    git(origin, "commit", "-q", "-m", "Keep nine tenths of the rows")
    # Only git travels to CI: the data stays in this machine's cache, as on a laptop.
    shutil.rmtree(raw.parent)
    git(origin, "checkout", "-q", "--detach", "main")
    git(origin, "merge", "-q", "--no-ff", "-m", f"Merge {BRANCH} into main", BRANCH)
    git(origin, "update-ref", f"refs/pull/{DATA_PR_NUMBER}/merge", "HEAD")
    git(origin, "checkout", "-q", "--detach", head)
    return github


@pytest.fixture(scope="module")
def data_pr_run(data_pull_request: Github):
    github = data_pull_request
    return github.run_act(
        "pull_request",
        event=_data_pull_request_event(github.origin),
        workflow="pr.yml",
        job="train-report",
        run_id=DATA_PR_RUN,
        record=github.root / "data-pr-record.json",
    )


def test_the_job_fails_at_the_data_and_the_gate_yet_uploads_the_report(data_pr_run):
    log = data_pr_run.stdout + data_pr_run.stderr
    steps = step_results(log)
    assert data_pr_run.returncode != 0, log[-3000:]
    assert steps.get("Get the raw data (pull, or rebuild from its public source)") == "Failure"
    # Failing fast: nothing is pulled or retrained without the data.
    assert "Pull pipeline outputs and run-cache (what is missing gets rebuilt)" not in steps
    assert "Reproduce the pipeline (unchanged stages are reused)" not in steps
    assert steps.get("Compare with the base branch and apply the gate") == "Failure", steps
    assert "make report: the gate failed (churn report exited 1)" in log
    assert steps.get("Upload the report") == "Success", steps


def test_the_artifact_says_which_data_is_missing_and_how_to_push_it(data_pull_request, data_pr_run):
    github = data_pull_request
    artifact = github.artifacts / str(DATA_PR_RUN) / "pr-report"
    # What pr-comment.yml checks before posting: this report would be posted.
    number, report_path = pr_artifact.check(artifact)
    assert number == DATA_PR_NUMBER
    report = report_path.read_text(encoding="utf-8")
    assert report.startswith("## ❌ Data not available: this branch changes the data")
    pinned = yaml.safe_load(git(github.origin, "show", f"{BRANCH}:data.dvc"))["outs"][0]["md5"]
    assert pinned in report
    assert "`dvc push data.dvc`" in report
    assert "a maintainer must push the data" in report
    assert "Gate **failed**" in report
    verdict = json.loads((artifact / "report.json").read_text(encoding="utf-8"))
    assert (verdict["passed"], verdict["exit_code"], verdict["verdict"]["kind"]) == (
        False,
        1,
        "data_unavailable",
    )
