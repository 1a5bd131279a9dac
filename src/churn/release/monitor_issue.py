"""Open or update the one monitoring issue when the scheduled model monitor raises an alert.

monitor.yml runs `make monitor`, which writes `reports/monitor.json`:

    {"status": "healthy" | "alert" | "error",
     "alerts": [{"name": ..., "value": ..., "threshold": ..., "message": ...}, ...], ...}

and this module (`make monitor-issue`, in a job whose token may only write issues) keeps one open
issue labelled `model-monitoring` in step with it, through GitHub's REST API:

- alert, no such issue open: create it (label, the alerts that fired, what to do, the run's link);
- alert, issue open: rewrite its body with the latest run, and comment only when the set of
  fired alerts changed (a daily run of the same alert does not notify everyone every day);
- healthy, issue open and last seen alerting: comment that the latest run is healthy, once; the
  issue stays open until a person closes it (best with the retraining pull request, "Fixes #N");
- healthy with no issue, or error: nothing (a run that could not check fails its own job).

An issue is ours when it carries the label and the hidden marker this module writes, so an issue
a person labelled by hand is never overwritten. The JSON comes from main's own code, but it is
still checked before anything is posted. Standard library only, so the job runs it without
installing the project: `python3 -m churn.release.monitor_issue --json FILE [--markdown FILE]`.
The repository, API URL, run id and token come from the runner's environment (GITHUB_*).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churn.github import DEFAULT_API_URL, REPOSITORY, GitHub, GitHubError

LABEL = "model-monitoring"
TITLE = "Model monitoring: an alert fired"
STATUSES = ("healthy", "alert", "error")
MAX_JSON_BYTES = 1 << 20
MAX_ALERTS = 100
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 2_000
# GitHub refuses issue bodies longer than this.
MAX_BODY_CHARS = 65_536
_MARKER = re.compile(r"<!-- churn-monitor (\{.*?\}) -->")


class MonitorIssueError(RuntimeError):
    """The monitor's output or GitHub's answer is not what was expected; nothing more is done."""


Scalar = int | float | str | None


@dataclass(frozen=True)
class Alert:
    name: str
    value: Scalar
    threshold: Scalar
    message: str


@dataclass(frozen=True)
class MonitorResult:
    status: str
    alerts: tuple[Alert, ...]

    @property
    def names(self) -> list[str]:
        return sorted({alert.name for alert in self.alerts})


# ---- reading the monitor's output ---------------------------------------------------------------


def _text(value: Any, field: str, limit: int, *, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise MonitorIssueError(f"{field} must be a non-empty string, got {value!r:.80}")
    if len(value) > limit:
        raise MonitorIssueError(f"{field} is longer than {limit} characters")
    return value


def _scalar(value: Any, field: str) -> Scalar:
    """A number (finite), a short string or null: what a threshold or a measured value can be."""
    if value is None or (isinstance(value, str) and len(value) <= MAX_NAME_CHARS):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    raise MonitorIssueError(f"{field} must be a finite number, a short string or null")


def parse(text: str) -> MonitorResult:
    """The monitor's JSON, checked: a known status, and alerts exactly when it is "alert"."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MonitorIssueError(f"monitor.json is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise MonitorIssueError("monitor.json must hold an object")
    status = data.get("status")
    if status not in STATUSES:
        raise MonitorIssueError(f"status must be one of {', '.join(STATUSES)}; got {status!r:.40}")
    raw_alerts = data.get("alerts")
    if not isinstance(raw_alerts, list):
        raise MonitorIssueError("alerts must be a list")
    if len(raw_alerts) > MAX_ALERTS:
        raise MonitorIssueError(f"alerts has {len(raw_alerts)} entries; at most {MAX_ALERTS}")
    alerts = []
    for i, raw in enumerate(raw_alerts):
        if not isinstance(raw, dict):
            raise MonitorIssueError(f"alerts[{i}] must be an object")
        alerts.append(
            Alert(
                name=_text(raw.get("name"), f"alerts[{i}].name", MAX_NAME_CHARS, required=True),
                value=_scalar(raw.get("value"), f"alerts[{i}].value"),
                threshold=_scalar(raw.get("threshold"), f"alerts[{i}].threshold"),
                message=_text(
                    raw.get("message"), f"alerts[{i}].message", MAX_TEXT_CHARS, required=False
                ),
            )
        )
    if status == "alert" and not alerts:
        raise MonitorIssueError('status is "alert" but no alert is listed')
    if status == "healthy" and alerts:
        raise MonitorIssueError('status is "healthy" but alerts are listed')
    return MonitorResult(status, tuple(alerts))


def read_result(path: Path) -> MonitorResult:
    if path.is_symlink() or not path.is_file():
        raise MonitorIssueError(f"{path} is not a regular file (did `make monitor` run?)")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise MonitorIssueError(f"{path} is larger than {MAX_JSON_BYTES} bytes")
    try:
        return parse(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise MonitorIssueError(f"{path} is not UTF-8 text") from exc


def read_report(path: Path | None) -> str:
    """The Markdown report to quote in the issue; empty when there is none."""
    if path is None or path.is_symlink() or not path.is_file():
        return ""
    if path.stat().st_size > 4 * MAX_BODY_CHARS:
        return ""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return ""


# ---- writing the issue --------------------------------------------------------------------------


def _cell(value: Scalar) -> str:
    """One Markdown table cell: no row breaks, column breaks, HTML or @-mentions."""
    if value is None:
        return "-"
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    text = " ".join(text.split()).replace("|", "\\|").replace("`", "'").replace("@", "@\u200b")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def marker(status: str, names: Sequence[str]) -> str:
    """The hidden line that marks our issue and remembers what it last reported."""
    state = json.dumps({"status": status, "alerts": list(names)}, ensure_ascii=True)
    # `<`, `>` and `&` escaped, so no alert name can end the HTML comment.
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        state = state.replace(char, escaped)
    return f"<!-- churn-monitor {state} -->"


def read_marker(body: str | None) -> dict[str, Any] | None:
    """What our marker in an issue body says, or None if the body carries none (or a broken one)."""
    match = _MARKER.search(body or "")
    if not match:
        return None
    try:
        state = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    if not isinstance(state, dict) or not isinstance(state.get("alerts"), list):
        return None
    return state


def issue_body(result: MonitorResult, run_url: str, report: str) -> str:
    """The issue: which thresholds fired, where the report is, what to do."""
    rows = "\n".join(
        f"| {_cell(a.name)} | {_cell(a.value)} | {_cell(a.threshold)} | {_cell(a.message)} |"
        for a in result.alerts
    )
    fired = f"{len(result.alerts)} alert{'s' if len(result.alerts) > 1 else ''}"
    head = f"""{marker(result.status, result.names)}
The scheduled model monitor raised {fired} in [its latest run]({run_url}).
The full report is that run's `monitor-report` artifact (`monitor.md`, `monitor.json`).

| alert | value | threshold | what it means |
|---|---|---|---|
{rows}

### What to do

1. Read the report: which features or scores moved, by how much, since when.
2. If the production data really moved, **retrain with new data through a pull request**: update
   the data (`dvc add`, commit `data.dvc`), push a branch and open a pull request. Its report
   compares the candidate with the model on `main` on the same rows, and the same gate decides.
   Never replace the served model by hand.
3. If the alert is expected (a campaign, a known seasonal change), change the threshold in a
   pull request and say why.
4. Close this issue with the pull request that fixes it (write `Fixes #<this issue>` in it).
   While it is open, later runs update this text instead of opening another issue.
"""
    if not report.strip():
        return head
    opening, closing = "\n<details><summary>The monitoring report</summary>\n\n", "\n</details>\n"
    room = MAX_BODY_CHARS - len(head) - len(opening) - len(closing) - 200
    if len(report) > room:
        report = report[: max(room, 0)] + "\n\n*(cut here: the whole report is in the artifact)*"
    return head + opening + report + closing


# ---- GitHub's REST API (churn.github) ----------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def open_issues(github: GitHub, label: str) -> list[dict[str, Any]]:
    """Open issues with `label`, oldest first (without pull requests, which GitHub mixes in)."""
    query = {
        "labels": label,
        "state": "open",
        "sort": "created",
        "direction": "asc",
        "per_page": 100,
    }
    found = github.call("GET", "/issues", query=query)
    if not isinstance(found, list):
        raise MonitorIssueError("GET /issues did not answer a list")
    issues = [i for i in found if isinstance(i, dict) and "pull_request" not in i]
    if not all(_is_number(i.get("number")) for i in issues):
        raise MonitorIssueError("GET /issues answered an issue without a number")
    return issues


def create_issue(github: GitHub, title: str, body: str, label: str) -> dict[str, Any]:
    issue = github.call("POST", "/issues", body={"title": title, "body": body, "labels": [label]})
    if not isinstance(issue, dict) or not _is_number(issue.get("number")):
        raise MonitorIssueError("POST /issues did not answer an issue")
    names = {lab.get("name") for lab in issue.get("labels", []) if isinstance(lab, dict)}
    if label not in names:
        # Without the label the next run would not find it and would open another one.
        raise MonitorIssueError(
            f"issue #{issue.get('number')} was created without the label {label!r}"
        )
    return issue


def update_body(github: GitHub, number: int, body: str) -> None:
    github.call("PATCH", f"/issues/{number}", body={"body": body})


def comment(github: GitHub, number: int, body: str) -> None:
    github.call("POST", f"/issues/{number}/comments", body={"body": body})


def sync(
    github: GitHub, result: MonitorResult, run_url: str, report: str = "", label: str = LABEL
) -> str:
    """Bring the monitoring issue in line with `result`; return what was done, in a sentence."""
    if result.status == "error":
        return "the monitor could not run: no issue is opened or updated (the run itself fails)"
    ours = [i for i in open_issues(github, label) if read_marker(i.get("body")) is not None]
    issue = ours[0] if ours else None
    if result.status == "healthy":
        if issue is None:
            return "healthy: no monitoring issue is open, nothing to do"
        number, last = issue["number"], read_marker(issue.get("body")) or {}
        if last.get("status") != "alert":
            return f"healthy: issue #{number} already says so"
        comment(
            github,
            number,
            f"The [latest monitoring run]({run_url}) is healthy: no threshold fired. Close this "
            "issue once the cause is understood (or with the retraining pull request).",
        )
        body = _MARKER.sub(lambda _: marker("healthy", []), issue.get("body") or "", count=1)
        update_body(github, number, body)
        return f"healthy: commented on issue #{number}"
    body = issue_body(result, run_url, report)
    if issue is None:
        created = create_issue(github, TITLE, body, label)
        return f"alert: opened issue #{created['number']} ({', '.join(result.names)})"
    number, last = issue["number"], read_marker(issue.get("body")) or {}
    update_body(github, number, body)
    if last.get("status") == "alert" and last.get("alerts") == result.names:
        return f"alert: updated issue #{number} (same alerts as before, no comment)"
    comment(
        github,
        number,
        f"The [latest monitoring run]({run_url}) fired: "
        + ", ".join(f"`{_cell(name)}`" for name in result.names)
        + ". The description above is updated.",
    )
    return f"alert: updated issue #{number} and commented ({', '.join(result.names)})"


# ---- the command --------------------------------------------------------------------------------


def _environment(env: Mapping[str, str]) -> tuple[GitHub, str]:
    """The API client and the run's URL, from the variables every GitHub Actions job has."""
    repository = env.get("GITHUB_REPOSITORY", "")
    if not REPOSITORY.fullmatch(repository):
        raise MonitorIssueError(f"GITHUB_REPOSITORY must be owner/name, got {repository!r:.80}")
    token = env.get("GITHUB_TOKEN", "")
    if not token:
        raise MonitorIssueError("GITHUB_TOKEN is not set: the job must pass its token")
    run_id = env.get("GITHUB_RUN_ID", "")
    if not run_id.isdigit():
        raise MonitorIssueError(f"GITHUB_RUN_ID must be a number, got {run_id!r:.40}")
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    api = env.get("GITHUB_API_URL", DEFAULT_API_URL)
    for name, url in (("GITHUB_SERVER_URL", server), ("GITHUB_API_URL", api)):
        if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
            raise MonitorIssueError(f"{name} must be an http(s) URL, got {url!r:.80}")
    github = GitHub(api, repository, token, user_agent="churn-monitor-issue")
    return github, f"{server}/{repository}/actions/runs/{run_id}"


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m churn.release.monitor_issue",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", type=Path, required=True, help="the monitor's monitor.json")
    parser.add_argument("--markdown", type=Path, help="the monitor's monitor.md, quoted if present")
    parser.add_argument("--label", default=LABEL, help=f"the issue's label (default {LABEL})")
    args = parser.parse_args(argv)
    try:
        result = read_result(args.json)
        github, run_url = _environment(os.environ if env is None else env)
        print(sync(github, result, run_url, read_report(args.markdown), args.label))
    except (MonitorIssueError, GitHubError) as exc:
        print(f"monitor-issue: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
