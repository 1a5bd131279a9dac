"""churn.release.pr_target against the stand-in GitHub API: the comment goes to the one open
pull request GitHub says has the run's head, and the artifact must agree."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.integration.workflows.conftest import (
    BASE_REPOSITORY,
    FORK,
    FORK_BRANCH,
    workflow_run_event,
)
from tests.integration.workflows.stand_ins.github_api import GithubApi, pull_request

from churn.release import pr_target

HEAD = "c" * 40
OTHER = "d" * 40


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    root = tmp_path / "pr-report"
    root.mkdir()
    (root / "pr-number").write_text("8\n", encoding="utf-8")
    (root / "report.md").write_text("## ❌ Worse\n", encoding="utf-8")
    return root


@dataclass
class Asked:
    code: int
    out: str
    err: str


@pytest.fixture
def ask(tmp_path: Path, github_api: GithubApi, artifact: Path, capsys):
    """Run pr_target as pr-comment.yml does, for `event` (default: the fork's run of HEAD)."""

    def asking(event: dict | None = None, token: str = "stand-in-token") -> Asked:
        event_path = tmp_path / "event.json"
        event = event or workflow_run_event("5", "success", HEAD)
        event_path.write_text(json.dumps(event), encoding="utf-8")
        with pytest.MonkeyPatch.context() as env:
            env.setenv("GITHUB_EVENT_PATH", str(event_path))
            env.setenv("GITHUB_API_URL", github_api.url)
            env.setenv("GITHUB_TOKEN", token)
            code = pr_target.main(["--artifact", str(artifact)])
        out, err = capsys.readouterr()
        return Asked(code, out, err)

    return asking


def fork_pr(number: int = 8, **changes) -> dict:
    fields = {"base": BASE_REPOSITORY, "head": FORK, "branch": FORK_BRANCH, "sha": HEAD}
    return pull_request(number, **{**fields, **changes})


def test_a_fork_pull_request_is_found_by_its_head(ask, github_api, artifact):
    github_api.pulls = [fork_pr(8), fork_pr(9, sha=OTHER, branch="other")]
    asked = ask()
    assert asked.code == 0
    assert asked.out.splitlines() == ["number=8", f"report={(artifact / 'report.md').resolve()}"]
    assert "pull request #8 has head someone/churn-fork@cccccccccccc" in asked.err
    (request,) = github_api.requests
    assert request["path"] == f"/repos/{BASE_REPOSITORY}/pulls"
    assert request["query"] == {
        "state": "open",
        "head": f"someone:{FORK_BRANCH}",
        "per_page": "100",
    }
    assert request["headers"]["Authorization"] == "Bearer stand-in-token"
    assert request["headers"]["Accept"] == "application/vnd.github+json"


def test_a_same_repository_pull_request_listed_in_the_event(ask, github_api):
    github_api.pulls = [fork_pr(8, head=BASE_REPOSITORY)]
    event = workflow_run_event("5", "success", HEAD)
    event["workflow_run"]["head_repository"] = {
        "full_name": BASE_REPOSITORY,
        "owner": {"login": BASE_REPOSITORY.split("/")[0]},
    }
    event["workflow_run"]["pull_requests"] = [{"number": 8, "head": {"sha": HEAD}}]
    asked = ask(event)
    assert asked.code == 0
    assert asked.out.startswith("number=8\n")
    assert github_api.requests[0]["query"]["head"] == f"example:{FORK_BRANCH}"


def test_an_artifact_naming_another_pull_request_is_refused(ask, github_api, artifact):
    (artifact / "pr-number").write_text("7\n", encoding="utf-8")
    github_api.pulls = [fork_pr(7, head=BASE_REPOSITORY, sha=OTHER, branch="x"), fork_pr(8)]
    asked = ask()
    assert asked.code == 2
    assert asked.out == ""
    assert "the artifact names pull request #7, but GitHub says" in asked.err
    assert "#8" in asked.err


@pytest.mark.parametrize(
    ("pulls", "reason"),
    [
        ([], "no open pull request has head"),
        ([fork_pr(8, state="closed")], "no open pull request has head"),
        ([fork_pr(8, sha=OTHER)], "no open pull request has head"),  # pushed again since
        ([fork_pr(8, head="someone/another-fork")], "no open pull request has head"),
        ([fork_pr(8, base="example/elsewhere")], "no open pull request has head"),
        ([fork_pr(8), fork_pr(9, base_branch="release")], "#8, #9 all have head"),
    ],
    ids=["none", "closed", "moved-on", "other-repository", "other-base", "two"],
)
def test_no_single_open_match_posts_nothing_and_says_why(ask, github_api, pulls, reason):
    github_api.pulls = pulls
    asked = ask()
    assert asked.code == 0
    assert asked.out == ""
    assert reason in asked.err


def test_the_event_and_the_api_must_agree(ask, github_api):
    github_api.pulls = [fork_pr(8)]
    event = workflow_run_event("5", "success", HEAD)
    event["workflow_run"]["pull_requests"] = [{"number": 5, "head": {"sha": HEAD}}]
    asked = ask(event)
    assert asked.code == 0
    assert asked.out == ""
    assert "event lists (5,)" in asked.err


def test_a_branch_name_is_sent_as_data(ask, github_api):
    branch = "feat/a&state=closed#x y"
    github_api.pulls = [fork_pr(8, branch=branch)]
    event = workflow_run_event("5", "success", HEAD)
    event["workflow_run"]["head_branch"] = branch
    asked = ask(event)
    assert asked.out.startswith("number=8\n")
    assert github_api.requests[0]["query"] == {
        "state": "open",
        "head": f"someone:{branch}",
        "per_page": "100",
    }


@pytest.mark.parametrize(
    ("token", "failure", "reason"),
    [
        ("wrong-token", None, "GitHub answered HTTP 401"),
        ("stand-in-token", 502, "GitHub answered HTTP 502"),
    ],
)
def test_github_errors_fail_closed(ask, github_api, token, failure, reason):
    github_api.pulls = [fork_pr(8)]
    github_api.failure = failure
    asked = ask(token=token)
    assert asked.code == 2
    assert asked.out == ""
    assert reason in asked.err


def test_nothing_listening_fails_closed(ask, github_api):
    github_api.stop()
    asked = ask()
    assert asked.code == 2
    assert "could not ask GitHub" in asked.err


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e.pop("workflow_run"), "not a workflow_run event"),
        (lambda e: e["workflow_run"].update(event="push"), "not a pull request"),
        (lambda e: e["workflow_run"].update(head_sha="main"), "is not a SHA"),
        (lambda e: e["workflow_run"].pop("head_repository"), "no head repository"),
        (lambda e: e["repository"].update(full_name="../x"), "is not owner/name"),
    ],
)
def test_an_unexpected_event_is_refused(ask, github_api, change, reason):
    event = workflow_run_event("5", "success", HEAD)
    change(event)
    asked = ask(event)
    assert asked.code == 2
    assert reason in asked.err
    assert github_api.requests == []


def test_a_bad_artifact_is_refused_before_github_is_asked(ask, github_api, artifact):
    (artifact / "report.md").write_text("![x](/etc/hostname)\n", encoding="utf-8")
    asked = ask()
    assert asked.code == 2
    assert "not a file inside the artifact" in asked.err
    assert github_api.requests == []
