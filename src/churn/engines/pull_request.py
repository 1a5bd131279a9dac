"""The scheduled retraining's last step: propose the new pins as a pull request.

The run's payloads are assembled into the checkout (`stage_task.assemble`: the new `.dvc` file,
`dvc.lock` and the metrics, checked against the DVC remote), committed on a branch named after
the data's hash, pushed to the git remote, and proposed through GitHub's REST API. The pull
request's own CI then retrains and reports, so the same gate decides as for a person's change.

Idempotent: the branch name depends on the data only, and an open pull request for it is
reused (the force-push updates it) rather than duplicated. The token comes from the
environment (`GITHUB_TOKEN`), never from a file or an argument; `GITHUB_API_URL` points at a
GitHub Enterprise server (or a test's stand-in).
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from churn.engines import stage_task
from churn.engines.stage_task import Payload, TaskError

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
BRANCH_PREFIX = "retrain/data-"
_BOT = ("churn-retrain-bot", "churn-retrain-bot@users.noreply.github.com")
_TIMEOUT_S = 30


@dataclass(frozen=True)
class GitHub:
    """The few REST calls needed, with GitHub's own request and response shapes."""

    repo: str  # owner/name
    token: str
    api_url: str = DEFAULT_API_URL

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        request = urllib.request.Request(
            self.api_url.rstrip("/") + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.token}",
                "X-GitHub-Api-Version": API_VERSION,
                "Content-Type": "application/json",
                "User-Agent": "churn-retrain",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            with contextlib.suppress(ValueError, AttributeError):
                detail = json.loads(detail).get("message", detail)
            raise TaskError(f"GitHub {method} {path}: {exc.code} {detail}") from exc
        except urllib.error.URLError as exc:
            raise TaskError(f"GitHub API at {self.api_url} unreachable: {exc.reason}") from exc

    def open_pull(self, head: str) -> dict | None:
        owner = self.repo.split("/", 1)[0]
        query = urllib.parse.urlencode({"state": "open", "head": f"{owner}:{head}"})
        found = self._call("GET", f"/repos/{self.repo}/pulls?{query}")
        return found[0] if found else None

    def create_pull(self, *, head: str, base: str, title: str, body: str) -> dict:
        return self._call(
            "POST",
            f"/repos/{self.repo}/pulls",
            {"title": title, "head": head, "base": base, "body": body},
        )


def _metrics_table(root: Path, assembled: Payload, base_revision: str) -> str:
    """Base and new values of every flat JSON metrics file the run wrote (base `-` if new)."""
    rows = []
    for entry in assembled["files"]:
        path = entry["path"]
        if not path.endswith(".json") or "text" not in entry:
            continue
        new = json.loads(entry["text"])
        if not isinstance(new, dict) or not all(isinstance(v, int | float) for v in new.values()):
            continue
        shown = stage_task.run(
            root, "git", "show", f"{base_revision}:{path}", capture=True, check=False
        )
        try:
            old = json.loads(shown)
        except ValueError:
            old = {}
        for name, value in new.items():
            before = old.get(name, "-") if isinstance(old, dict) else "-"
            rows.append(f"| {path} | {name} | {before} | {value} |")
    if not rows:
        return ""
    return "| file | metric | base | this run |\n|---|---|---|---|\n" + "\n".join(rows)


def propose(
    root: Path,
    inputs: list[Payload],
    *,
    github: GitHub,
    base: str,
    run_id: str = "",
) -> dict[str, Any]:
    """Commit the run's pins on a branch, push it and open (or reuse) the pull request."""
    base_revision = stage_task.check_revisions(root, inputs)
    digest = _data_digest(inputs)
    branch = BRANCH_PREFIX + digest
    # First call: bad credentials stop the task before anything is pushed.
    existing = github.open_pull(branch)
    assembled = stage_task.assemble(root, inputs)
    paths = [entry["path"] for entry in assembled["files"]]
    stage_task.run(root, "git", "switch", "--quiet", "-C", branch)
    stage_task.run(root, "git", "add", "--", *paths)
    identity = _identity(root)
    message = f"Retrain on new data ({digest})\n\nOpened by the scheduled retraining {run_id}."
    stage_task.run(root, "git", *identity, "commit", "--quiet", "-m", message)
    stage_task.run(root, "git", "push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{branch}")
    commit = stage_task.revision(root)
    if existing is not None:
        return _outcome(existing, branch, commit, created=False)
    body = "\n\n".join(
        part
        for part in (
            f"New data (`{digest}`) retrained by the scheduled pipeline run `{run_id}` at "
            f"{base_revision[:12]}. This pull request's CI retrains and reports against "
            f"`{base}`: the same gate decides as for any change.",
            _metrics_table(root, assembled, base_revision),
        )
        if part
    )
    created = github.create_pull(
        head=branch, base=base, title=f"Retrain on new data ({digest})", body=body
    )
    return _outcome(created, branch, commit, created=True)


def _outcome(pull: dict, branch: str, commit: str, *, created: bool) -> dict[str, Any]:
    return {
        "number": pull["number"],
        "url": pull["html_url"],
        "branch": branch,
        "commit": commit,
        "created": created,
    }


def _data_digest(inputs: list[Payload]) -> str:
    """The refreshed data's hash, shortened: it names the branch, so one data, one branch."""
    refreshed = [p for p in inputs if "changed" in p]
    if len(refreshed) != 1:
        raise TaskError("expected the payload of exactly one data refresh among the inputs")
    (dvc_file,) = refreshed[0]["files"]
    outs = yaml.safe_load(dvc_file["text"]).get("outs") or [{}]
    return str(outs[0].get("md5", "")).removesuffix(".dir")[:12] or "unknown"


def _identity(root: Path) -> list[str]:
    """`-c user.name=... -c user.email=...` when the checkout has no committer configured."""
    configured = stage_task.run(
        root, "git", "config", "--get", "user.email", capture=True, check=False
    )
    if configured.strip():
        return []
    name, email = _BOT
    return ["-c", f"user.name={name}", "-c", f"user.email={email}"]
