"""`make monitor-issue` against a stand-in GitHub: one issue per alert episode, never two.

GitHub's REST API cannot be reached from tests: tests/github_api.py speaks the part of it the
command uses, with GitHub's shapes (issues listed by label and state, pull requests included, as
GitHub does; create, update, comment; 401 for a bad token). The command runs as monitor.yml runs
it: the make target, with the runner's GITHUB_* variables pointing at the stand-in.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import PROJECT_ROOT
from tests.github_api import StandInGitHub

from churn.release import monitor_issue

REPOSITORY = "acme/churn"
TOKEN = "stand-in-token"
RUN_ID = 4242
LABEL = monitor_issue.LABEL


@pytest.fixture
def github() -> Iterator[StandInGitHub]:
    with StandInGitHub(repository=REPOSITORY, token=TOKEN) as stand_in:
        yield stand_in


def ours(github: StandInGitHub) -> list[dict]:
    """The issues carrying this command's marker."""
    return [i for i in github.issues.values() if "<!-- churn-monitor " in (i["body"] or "")]


def requested(github: StandInGitHub) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in github.requests]


def run_target(github: StandInGitHub, reports: Path, token: str = TOKEN):
    """`make monitor-issue` as the workflow's issue job runs it."""
    env = {
        **os.environ,
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_TOKEN": token,
        "GITHUB_RUN_ID": str(RUN_ID),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_API_URL": github.url,
    }
    return subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(PROJECT_ROOT),
            "monitor-issue",
            f"MONITOR_JSON={reports / 'monitor.json'}",
            f"MONITOR_MD={reports / 'monitor.md'}",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
    )


def write_report(reports: Path, status: str, *names: str) -> Path:
    reports.mkdir(exist_ok=True)
    alerts = [{"name": n, "value": 0.3, "threshold": 0.2, "message": f"{n} moved"} for n in names]
    (reports / "monitor.json").write_text(json.dumps({"status": status, "alerts": alerts}))
    (reports / "monitor.md").write_text(f"# Monitoring\n\n{status}: {', '.join(names)}\n")
    return reports


def test_one_issue_per_alert_episode_updated_by_later_runs(github, tmp_path):
    # One item a page: the open issues are found only by following GitHub's Link headers.
    github.max_per_page = 1
    # Labelled items that are not ours: a pull request, an issue a person wrote, a closed one.
    github.add_issue("Retrain on May data", "Fixes #2", [LABEL], pull_request={"url": "x"})
    github.add_issue("Drift seen by hand", "written by a person", [LABEL])
    closed = github.add_issue("Old episode", monitor_issue.marker("alert", ["x"]), [LABEL])
    closed["state"] = "closed"
    reports = tmp_path / "reports"
    run_url = f"https://github.com/{REPOSITORY}/actions/runs/{RUN_ID}"

    # 1. An alert opens one issue, labelled, saying what fired and where the report is.
    first = run_target(github, write_report(reports, "alert", "psi:tenure"))
    assert first.returncode == 0, first.stderr
    (issue,) = [i for i in ours(github) if i["state"] == "open"]
    assert first.stdout.strip() == f"alert: opened issue #{issue['number']} (psi:tenure)"
    assert [label["name"] for label in issue["labels"]] == [LABEL]
    assert "| psi:tenure | 0.3 | 0.2 | psi:tenure moved |" in issue["body"]
    assert f"({run_url})" in issue["body"]
    assert "through a pull request" in issue["body"]
    assert "alert: psi:tenure" in issue["body"]  # the Markdown report, quoted
    assert github.issues[2]["body"] == "written by a person"

    # 2. The same alert the next day: the same issue's text is refreshed, nobody is pinged.
    github.requests.clear()
    second = run_target(github, write_report(reports, "alert", "psi:tenure"))
    assert second.returncode == 0, second.stderr
    assert github.writes() == [("PATCH", f"/repos/{REPOSITORY}/issues/{issue['number']}")]
    assert github.comments.get(issue["number"]) is None
    # Three open labelled items (the pull request, the person's issue, ours): three pages.
    pages = [r.query.get("page") for r in github.requests if r.method == "GET"]
    assert pages == [None, "2", "3"]

    # 3. Another threshold fires as well: updated, and a comment says which.
    third = run_target(github, write_report(reports, "alert", "psi:tenure", "score_shift"))
    assert third.returncode == 0, third.stderr
    (comment,) = github.comments[issue["number"]]
    assert "`psi:tenure`, `score_shift`" in comment["body"]
    assert "score_shift" in github.issues[issue["number"]]["body"]

    # 4. Healthy again: one comment, the issue stays open for a person to close.
    fourth = run_target(github, write_report(reports, "healthy"))
    assert fourth.returncode == 0, fourth.stderr
    assert "is healthy" in github.comments[issue["number"]][-1]["body"]
    assert github.issues[issue["number"]]["state"] == "open"
    github.requests.clear()
    fifth = run_target(github, write_report(reports, "healthy"))
    assert fifth.returncode == 0, fifth.stderr
    assert github.writes() == []
    assert len(github.comments[issue["number"]]) == 2

    # 5. Alerting again while it is open: still that issue, with a comment.
    sixth = run_target(github, write_report(reports, "alert", "score_shift"))
    assert sixth.returncode == 0, sixth.stderr
    assert len(github.comments[issue["number"]]) == 3
    assert len([i for i in ours(github) if i["state"] == "open"]) == 1

    # 6. Once a person closed it, the next alert is a new episode: a new issue.
    github.issues[issue["number"]]["state"] = "closed"
    seventh = run_target(github, write_report(reports, "alert", "score_shift"))
    assert seventh.returncode == 0, seventh.stderr
    (new,) = [i for i in ours(github) if i["state"] == "open"]
    assert new["number"] != issue["number"]
    assert len(github.issues) == 5  # three foreign, two episodes: never a duplicate


def test_a_healthy_run_without_an_issue_only_looks(github, tmp_path):
    result = run_target(github, write_report(tmp_path / "reports", "healthy"))
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout
    assert requested(github) == [("GET", f"/repos/{REPOSITORY}/issues")]


def test_a_run_that_could_not_check_touches_no_issue(github, tmp_path):
    result = run_target(github, write_report(tmp_path / "reports", "error"))
    assert result.returncode == 0, result.stderr
    assert "could not run" in result.stdout
    assert github.requests == []


def test_a_malformed_report_stops_before_any_request(github, tmp_path):
    reports = write_report(tmp_path / "reports", "alert", "x")
    (reports / "monitor.json").write_text(
        '{"status": "alert", "alerts": [{"name": "x", "value": {}}]}'
    )
    result = run_target(github, reports)
    assert result.returncode == 2
    assert result.stderr.startswith("monitor-issue: alerts[0].value must be")
    assert "Traceback" not in result.stderr
    assert github.requests == []


def test_a_refused_token_is_one_clear_line(github, tmp_path):
    result = run_target(github, write_report(tmp_path / "reports", "alert", "x"), token="wrong")
    assert result.returncode == 2
    assert f"GitHub answered HTTP 401 to GET /repos/{REPOSITORY}/issues" in result.stderr
    assert "Bad credentials" in result.stderr
    assert "Traceback" not in result.stderr
    assert github.issues == {}


def test_an_issue_created_without_its_label_is_an_error_not_a_future_duplicate(github, tmp_path):
    github.drop_labels = True
    result = run_target(github, write_report(tmp_path / "reports", "alert", "x"))
    assert result.returncode == 2
    assert "was created without the label 'model-monitoring'" in result.stderr
