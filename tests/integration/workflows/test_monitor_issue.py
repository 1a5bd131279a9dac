"""`make monitor-issue` against a stand-in GitHub: one issue per alert episode, never two.

GitHub's REST API cannot be reached from tests, so a small local HTTP server speaks the part of it
the command uses, with GitHub's shapes: list a repository's issues by label and state (pull
requests included, as GitHub does), create an issue (201), update it (PATCH), comment (201),
401 for a bad token, 404 elsewhere. The command runs as monitor.yml runs it: the make target,
with the runner's GITHUB_* variables pointing at the stand-in.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.conftest import PROJECT_ROOT

from churn.release import monitor_issue

REPOSITORY = "acme/churn"
TOKEN = "stand-in-token"
RUN_ID = 4242
LABEL = monitor_issue.LABEL
DOCS = "https://docs.github.com/rest"


@dataclass
class StandInGitHub:
    """Issues and comments of one repository, and every request received."""

    url: str = ""
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    # GitHub silently drops labels on new issues when the token may not set them.
    drop_labels: bool = False

    def _now(self) -> str:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _label(self, name: str) -> dict[str, Any]:
        return {
            "id": abs(hash(name)) % 10**9,
            "node_id": f"LA_{name}",
            "url": f"{self.url}/repos/{REPOSITORY}/labels/{name}",
            "name": name,
            "color": "ededed",
            "default": False,
            "description": None,
        }

    def add(self, title: str, body: str | None, labels: list[str], **extra: Any) -> dict:
        number = len(self.issues) + 1
        api = f"{self.url}/repos/{REPOSITORY}/issues/{number}"
        issue = {
            "url": api,
            "repository_url": f"{self.url}/repos/{REPOSITORY}",
            "comments_url": f"{api}/comments",
            "html_url": f"https://github.com/{REPOSITORY}/issues/{number}",
            "id": 1000 + number,
            "node_id": f"I_{number}",
            "number": number,
            "title": title,
            "user": {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"},
            "labels": [self._label(name) for name in labels],
            "state": "open",
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": 0,
            "created_at": self._now(),
            "updated_at": self._now(),
            "closed_at": None,
            "author_association": "NONE",
            "body": body,
            **extra,
        }
        self.issues[number] = issue
        return issue

    def comment(self, number: int, body: str) -> dict:
        comments = self.comments.setdefault(number, [])
        comment = {
            "id": 5000 + len(comments),
            "node_id": f"IC_{number}_{len(comments)}",
            "url": f"{self.url}/repos/{REPOSITORY}/issues/comments/{5000 + len(comments)}",
            "html_url": f"https://github.com/{REPOSITORY}/issues/{number}#issuecomment-1",
            "issue_url": f"{self.url}/repos/{REPOSITORY}/issues/{number}",
            "body": body,
            "user": {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"},
            "created_at": self._now(),
            "updated_at": self._now(),
            "author_association": "NONE",
        }
        comments.append(comment)
        self.issues[number]["comments"] = len(comments)
        return comment

    def handle(self, method: str, target: str, headers: Any, body: bytes) -> tuple[int, Any]:
        parts = urlsplit(target)
        self.requests.append((method, parts.path))
        if headers.get("Authorization") not in (f"Bearer {TOKEN}", f"token {TOKEN}"):
            return 401, {"message": "Bad credentials", "documentation_url": DOCS}
        prefix = f"/repos/{REPOSITORY}/issues"
        path = parts.path.removeprefix(prefix)
        if not parts.path.startswith(prefix):
            return 404, {"message": "Not Found", "documentation_url": DOCS}
        data = json.loads(body) if body else {}
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if method == "GET" and path == "":
            wanted = set(filter(None, query.get("labels", "").split(",")))
            state = query.get("state", "open")
            found = [
                issue
                for issue in self.issues.values()
                if wanted <= {label["name"] for label in issue["labels"]}
                and state in ("all", issue["state"])
            ]
            found.sort(key=lambda i: i["number"], reverse=query.get("direction") != "asc")
            return 200, found[: int(query.get("per_page", 30))]
        if method == "POST" and path == "":
            if not data.get("title"):
                return 422, {"message": "Validation Failed", "documentation_url": DOCS}
            labels = [] if self.drop_labels else data.get("labels", [])
            return 201, self.add(data["title"], data.get("body"), labels)
        number_match = re.fullmatch(r"/(\d+)(/comments)?", path)
        if not number_match or int(number_match.group(1)) not in self.issues:
            return 404, {"message": "Not Found", "documentation_url": DOCS}
        number = int(number_match.group(1))
        if method == "PATCH" and not number_match.group(2):
            issue = self.issues[number]
            issue.update({k: data[k] for k in ("title", "body", "state") if k in data})
            issue["updated_at"] = self._now()
            return 200, issue
        if method == "POST" and number_match.group(2):
            return 201, self.comment(number, data["body"])
        return 404, {"message": "Not Found", "documentation_url": DOCS}

    # ---- what the tests look at ----

    def ours(self) -> list[dict]:
        return [i for i in self.issues.values() if "<!-- churn-monitor " in (i["body"] or "")]

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.requests if m != "GET"]


@pytest.fixture
def github() -> Iterator[StandInGitHub]:
    state = StandInGitHub()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, payload = state.handle(
                self.command, self.path, self.headers, self.rfile.read(length)
            )
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = _answer  # noqa: N815 (http.server's method names)

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


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
    # Labelled items that are not ours: a pull request, an issue a person wrote, a closed one.
    github.add("Retrain on May data", "Fixes #2", [LABEL], pull_request={"url": "x"})
    github.add("Drift seen by hand", "written by a person", [LABEL])
    closed = github.add("Old episode", monitor_issue.marker("alert", ["x"]), [LABEL])
    closed["state"] = "closed"
    reports = tmp_path / "reports"
    run_url = f"https://github.com/{REPOSITORY}/actions/runs/{RUN_ID}"

    # 1. An alert opens one issue, labelled, saying what fired and where the report is.
    first = run_target(github, write_report(reports, "alert", "psi:tenure"))
    assert first.returncode == 0, first.stderr
    (issue,) = [i for i in github.ours() if i["state"] == "open"]
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
    assert len([i for i in github.ours() if i["state"] == "open"]) == 1

    # 6. Once a person closed it, the next alert is a new episode: a new issue.
    github.issues[issue["number"]]["state"] = "closed"
    seventh = run_target(github, write_report(reports, "alert", "score_shift"))
    assert seventh.returncode == 0, seventh.stderr
    (new,) = [i for i in github.ours() if i["state"] == "open"]
    assert new["number"] != issue["number"]
    assert len(github.issues) == 5  # three foreign, two episodes: never a duplicate


def test_a_healthy_run_without_an_issue_only_looks(github, tmp_path):
    result = run_target(github, write_report(tmp_path / "reports", "healthy"))
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout
    assert github.requests == [("GET", f"/repos/{REPOSITORY}/issues")]


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
    assert "GET /issues answered HTTP 401" in result.stderr
    assert "Bad credentials" in result.stderr
    assert "Traceback" not in result.stderr
    assert github.issues == {}


def test_an_issue_created_without_its_label_is_an_error_not_a_future_duplicate(github, tmp_path):
    github.drop_labels = True
    result = run_target(github, write_report(tmp_path / "reports", "alert", "x"))
    assert result.returncode == 2
    assert "was created without the label 'model-monitoring'" in result.stderr
