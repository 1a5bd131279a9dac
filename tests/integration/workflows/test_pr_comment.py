"""pr-comment.yml run by act against hostile artifacts: the comment goes to the pull request
GitHub names, or nowhere.

The artifacts are built directly (no pipeline run): what matters is what a pull request's code
could have written into one. GitHub's API is the stand-in of stand_ins/github_api.py, reached
through GITHUB_API_URL as the real one is.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import git
from tests.integration.workflows.conftest import (
    BASE_REPOSITORY,
    FORK,
    FORK_BRANCH,
    Github,
    workflow_run_event,
)
from tests.integration.workflows.stand_ins.github_api import GithubApi, pull_request

pytestmark = pytest.mark.slow

FORGED_HEAD = "f" * 40
VICTIM_HEAD = "a" * 40


def hand_over(github: Github, run_id: int, number: str, report: str) -> None:
    """What a pr.yml run with id `run_id` uploaded as its `pr-report` artifact."""
    artifact = github.artifacts / str(run_id) / "pr-report"
    artifact.mkdir(parents=True)
    (artifact / "pr-number").write_text(number, encoding="utf-8")
    (artifact / "report.md").write_text(report, encoding="utf-8")


def run_comment_job(
    github: Github, api: GithubApi | None, run_id: int, head_sha: str, name: str
) -> tuple[str, int, Path]:
    git(github.origin, "checkout", "-q", "--detach", "main")
    record = github.root / f"{name}.json"
    result = github.run_act(
        "workflow_run",
        event=workflow_run_event(str(run_id), "success", head_sha),
        workflow="pr-comment.yml",
        job="comment",
        run_id=run_id + 1,
        record=record,
        env={"GITHUB_API_URL": api.url} if api else None,
    )
    return result.stdout + result.stderr, result.returncode, record


def test_a_forged_pull_request_number_posts_nothing(github: Github, github_api: GithubApi):
    """A fork's run claims another pull request (#7, someone else's) in its artifact, with a
    flattering verdict: GitHub says the run's head belongs to #8, so nothing is posted."""
    github_api.pulls = [
        pull_request(7, base=BASE_REPOSITORY, head=BASE_REPOSITORY, branch="x", sha=VICTIM_HEAD),
        pull_request(8, base=BASE_REPOSITORY, head=FORK, branch=FORK_BRANCH, sha=FORGED_HEAD),
    ]
    hand_over(github, 670, "7\n", "## ✅ Better: ROC AUC +0.05\n\nGate passed.\n")
    log, code, record = run_comment_job(github, github_api, 670, FORGED_HEAD, "forged")
    assert code != 0, log[-3000:]
    assert "the artifact names pull request #7" in log
    assert "#8" in log
    assert not record.exists()
    assert not Path(str(record) + ".npm.json").exists()
    # It asked GitHub about the run's own head, with the job's token.
    (request,) = github_api.requests
    assert request["path"] == f"/repos/{BASE_REPOSITORY}/pulls"
    assert request["query"]["head"] == f"{FORK.split('/')[0]}:{FORK_BRANCH}"
    assert request["query"]["state"] == "open"


def test_a_tampered_number_stops_the_job_before_cml(github: Github):
    """A number carrying shell code is refused before GitHub is even asked."""
    hand_over(github, 666, "7; touch pwned\n", "## hello\n")
    log, code, record = run_comment_job(github, None, 666, FORGED_HEAD, "tampered")
    assert code != 0
    assert "pr-number must hold a positive integer" in log
    assert not record.exists()
    assert not Path(str(record) + ".npm.json").exists()
