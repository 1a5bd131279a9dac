"""Which pull request a finished pr.yml run belongs to: asked of GitHub, never of the artifact.

pr-comment.yml runs on `workflow_run` with a token that can write comments. The artifact it
downloads was written by the pull request's code, so the `pr-number` in it is only a claim.
The target comes from GitHub: the run's head commit, branch and repository from the
`workflow_run` event (GitHub writes it), and the open pull requests with that head from the
REST API, `GET /repos/{repository}/pulls?state=open&head={owner}:{branch}` (the event's own
`pull_requests` list is empty for forks). Then:

- exactly one open pull request has the run's head commit in the run's head repository, and
  the artifact names it: its number and the checked report are printed as `number=` and
  `report=` lines for $GITHUB_OUTPUT;
- none, or several (closed since, pushed again since: a newer run will comment): nothing is
  printed, the reason goes to the job log, exit 0; the comment steps are skipped;
- the artifact names another pull request, or fails `pr_artifact.check`: refused, exit 2.

Standard library only, run without installing the project:
`python3 -m churn.release.pr_target --artifact DIR`, reading the event from
$GITHUB_EVENT_PATH, the API's address from $GITHUB_API_URL and the token from $GITHUB_TOKEN.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from churn.release import pr_artifact

DEFAULT_API_URL = "https://api.github.com"
# One page: a head branch has one open pull request per base branch, far fewer than this.
PAGE_SIZE = 100
_SHA = re.compile(r"[0-9a-f]{40}")
# GitHub's rules for owner/name: it goes into the API path.
_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/(?!\.\.?$)[A-Za-z0-9_.-]{1,100}")


class TargetError(RuntimeError):
    """The comment target cannot be established, or the artifact contradicts GitHub."""


@dataclass(frozen=True)
class RunHead:
    """What GitHub's `workflow_run` event says the finished run tested."""

    repository: str  # where the workflows run: the pull requests' base repository
    head_repository: str
    head_owner: str
    head_branch: str
    head_sha: str
    listed: tuple[int, ...]  # the event's own pull_requests with that head (never for forks)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise TargetError(f"the workflow_run event has no {what}")
    return value


def run_head(event: dict[str, Any]) -> RunHead:
    """The run's head, from the `workflow_run` event; `TargetError` if it is not one."""
    run = event.get("workflow_run")
    if not isinstance(run, dict):
        raise TargetError("not a workflow_run event")
    if run.get("event") != "pull_request":
        raise TargetError(f"the run was triggered by {run.get('event')!r}, not a pull request")
    head_repo = run.get("head_repository") or {}
    head = RunHead(
        repository=_text((event.get("repository") or {}).get("full_name"), "repository"),
        head_repository=_text(head_repo.get("full_name"), "head repository"),
        head_owner=_text((head_repo.get("owner") or {}).get("login"), "head repository owner"),
        head_branch=_text(run.get("head_branch"), "head branch"),
        head_sha=_text(run.get("head_sha"), "head commit"),
        listed=tuple(
            pr["number"]
            for pr in run.get("pull_requests") or []
            if isinstance(pr, dict)
            and isinstance(pr.get("number"), int)
            and (pr.get("head") or {}).get("sha") == run.get("head_sha")
        ),
    )
    if not _SHA.fullmatch(head.head_sha):
        raise TargetError(f"the event's head commit {head.head_sha[:50]!r} is not a SHA")
    if not _REPOSITORY.fullmatch(head.repository):
        raise TargetError(f"the event's repository {head.repository[:100]!r} is not owner/name")
    return head


def open_pull_requests(api_url: str, token: str, head: RunHead) -> list[dict[str, Any]]:
    """GitHub's open pull requests into the repository from `head`'s owner and branch."""
    query = urlencode(
        {"state": "open", "head": f"{head.head_owner}:{head.head_branch}", "per_page": PAGE_SIZE}
    )
    url = f"{api_url.rstrip('/')}/repos/{quote(head.repository)}/pulls?{query}"
    request = urllib.request.Request(
        url,
        headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "churn-pr-comment",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            pulls = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise TargetError(f"GitHub answered HTTP {exc.code} to GET {url}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TargetError(f"could not ask GitHub (GET {url}): {exc}") from exc
    if not isinstance(pulls, list):
        raise TargetError(f"GitHub's answer to GET {url} is not a list of pull requests")
    if len(pulls) >= PAGE_SIZE:
        raise TargetError(f"{len(pulls)} open pull requests from {head.head_branch!r}: too many")
    return pulls


def _matches(pull: Any, head: RunHead) -> bool:
    if not isinstance(pull, dict):
        return False
    pr_head, pr_base = pull.get("head") or {}, pull.get("base") or {}
    return (
        pull.get("state") == "open"
        and isinstance(pull.get("number"), int)
        and pr_head.get("sha") == head.head_sha
        and (pr_head.get("repo") or {}).get("full_name") == head.head_repository
        and (pr_base.get("repo") or {}).get("full_name") == head.repository
    )


def target(head: RunHead, pulls: list[dict[str, Any]]) -> tuple[int | None, str]:
    """The one pull request to comment on, or None, with the reason either way."""
    where = f"{head.head_repository}@{head.head_sha[:12]} ({head.head_branch})"
    numbers = sorted({pull["number"] for pull in pulls if _matches(pull, head)})
    if not numbers:
        return None, f"no open pull request has head {where} any more: nothing to comment on"
    if len(numbers) > 1:
        listed = ", ".join(f"#{n}" for n in numbers)
        return None, f"{listed} all have head {where}: not commenting on any of them"
    (number,) = numbers
    if head.listed and number not in head.listed:
        return None, f"GitHub's event lists {head.listed} for {where} but its API #{number}"
    return number, f"pull request #{number} has head {where}"


def resolve(
    artifact: Path, event: dict[str, Any], api_url: str, token: str
) -> tuple[int, Path] | None:
    """Check the artifact, ask GitHub for the run's pull request, and make them agree: the
    pull request's number and the report to post, or None when there is nothing to post."""
    claimed, report = pr_artifact.check(artifact)
    head = run_head(event)
    number, reason = target(head, open_pull_requests(api_url, token, head))
    print(f"pr-comment target: {reason}", file=sys.stderr)
    if number is not None and claimed != number:
        raise TargetError(
            f"the artifact names pull request #{claimed}, but GitHub says the run's head "
            f"belongs to #{number}: refusing to post anything"
        )
    return None if number is None else (number, report)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m churn.release.pr_target", description=__doc__)
    parser.add_argument("--artifact", type=Path, required=True, help="the downloaded artifact")
    args = parser.parse_args(argv)
    try:
        event_path = os.environ.get("GITHUB_EVENT_PATH")
        if not event_path:
            raise TargetError("GITHUB_EVENT_PATH is not set: this runs in a workflow_run job")
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
        token = os.environ.get("GITHUB_TOKEN", "")
        if not token:
            raise TargetError("GITHUB_TOKEN is not set")
        api_url = os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL
        found = resolve(args.artifact, event, api_url, token)
    except (TargetError, OSError, ValueError) as exc:  # ArtifactError is a ValueError
        print(f"pr-comment target: {exc}", file=sys.stderr)
        return 2
    if found is not None:
        # `key=value` lines, ready to append to $GITHUB_OUTPUT.
        print(f"number={found[0]}\nreport={found[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
