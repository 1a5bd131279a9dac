"""A stand-in for GitHub's REST API, served on 127.0.0.1: the one every test talks to.

GitHub cannot be reached from the tests, so this threaded HTTP server speaks the part of its
protocol our code uses, for one repository, with GitHub's paths, query parameters, response
shapes and status codes:

    GET   /repos/{owner}/{repo}/pulls?state=&head={owner}:{branch}&base=&per_page=&page=
    POST  /repos/{owner}/{repo}/pulls                      201; 422 duplicate or unknown branch
    GET   /repos/{owner}/{repo}/issues?labels=a,b&state=&sort=&direction=&per_page=&page=
    POST  /repos/{owner}/{repo}/issues                     201; 422 without a title
    PATCH /repos/{owner}/{repo}/issues/{number}            200
    POST  /repos/{owner}/{repo}/issues/{number}/comments   201

Lists are paginated as on GitHub (30 a page unless `per_page`, at most `max_per_page`, which a
test lowers to make a client follow `Link: <...>; rel="next"` headers); the issues list mixes
in pull requests, as GitHub's does. Like GitHub it answers 403 without a User-Agent, 401
without `Authorization: Bearer <token>`, 404 for another repository or path, 400 for a body
that is not JSON. A pull request's head SHA is read from a real bare git repository
(`git_dir`) when there is one, else from `branches`. Every request is recorded; `canned`
answers every authorised request with a fixed response (a server error, an HTML page).
"""

from __future__ import annotations

import json
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

DOCS = "https://docs.github.com/rest"
DEFAULT_PER_PAGE = 30  # GitHub's, when a list request names none
JSON = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Request:
    """One request as the stand-in received it (query: the last value of each parameter;
    headers: looked up without regard to case, as HTTP's are)."""

    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: Any


@dataclass(frozen=True)
class Canned:
    """A fixed answer: status, body, and headers (Content-Type included)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": JSON})

    @classmethod
    def error(cls, status: int, message: str) -> Canned:
        """An error as GitHub words it."""
        body = {"message": message, "documentation_url": DOCS, "status": str(status)}
        return cls(status, json.dumps(body).encode())


def _repository(full_name: str, repo_id: int, *, fork: bool = False) -> dict[str, Any]:
    owner, name = full_name.split("/")
    return {
        "id": repo_id,
        "name": name,
        "full_name": full_name,
        "owner": {"login": owner, "type": "User"},
        "private": False,
        "fork": fork,
        "url": f"https://api.github.com/repos/{full_name}",
    }


def pull_request(
    number: int,
    *,
    base: str,
    head: str,
    branch: str,
    sha: str,
    state: str = "open",
    base_branch: str = "main",
    base_sha: str = "0" * 40,
    title: str | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    """A pull request into repository `base` from `head`'s `branch` (a fork when `head` is
    another repository), as GitHub's pulls endpoints answer it (the fields read and those
    around them)."""
    head_owner, base_owner = head.partition("/")[0], base.partition("/")[0]
    fork = head != base
    return {
        "url": f"https://api.github.com/repos/{base}/pulls/{number}",
        "html_url": f"https://github.com/{base}/pull/{number}",
        "id": 900_000 + number,
        "number": number,
        "state": state,
        "locked": False,
        "title": title if title is not None else f"Pull request {number}",
        "body": body,
        "user": {"login": head_owner, "type": "User"},
        "draft": False,
        "head": {
            "label": f"{head_owner}:{branch}",
            "ref": branch,
            "sha": sha,
            "user": {"login": head_owner, "type": "User"},
            "repo": _repository(head, 2000 + number if fork else 1, fork=fork),
        },
        "base": {
            "label": f"{base_owner}:{base_branch}",
            "ref": base_branch,
            "sha": base_sha,
            "user": {"login": base_owner, "type": "User"},
            "repo": _repository(base, 1),
        },
        "merged": False,
        "mergeable": None,
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# What the stand-in answers: status, JSON payload (or a Canned answer), extra headers.
Answer = tuple[int, Any, dict[str, str]]
# The recorded body of a request whose body was not JSON.
UNPARSABLE = "<not JSON>"


def _validation_failed(*errors: dict[str, str]) -> Answer:
    body = {"message": "Validation Failed", "errors": list(errors), "documentation_url": DOCS}
    return 422, body, {}


def _not_found() -> Answer:
    return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}


def _positive(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() and int(value) > 0 else default


@dataclass
class StandInGitHub:
    """One repository's pull requests, issues and comments, and every request received."""

    repository: str = "acme/churn"
    token: str = "stand-in-token"
    git_dir: Path | None = None  # a bare repository playing GitHub's copy: the branches' heads
    branches: dict[str, str] = field(default_factory=dict)  # branch -> SHA, without git_dir
    max_per_page: int = 100  # GitHub's cap on per_page
    pulls: list[dict[str, Any]] = field(default_factory=list)
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    canned: Canned | None = None
    # GitHub silently drops the labels of a new issue when the token may not set them.
    drop_labels: bool = False
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    # ---- running ----

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> StandInGitHub:
        """Serve on a free port of 127.0.0.1 until stop()."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        # stop() waits for the serving loop's next poll: the half-second default, paid by
        # every test that stops a stand-in, came to seconds a run.
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving (again: a no-op); `url` still names where it was."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> StandInGitHub:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- what tests set up and look at ----

    def add_issue(self, title: str, body: str | None, labels: list[str], **extra: Any) -> dict:
        """An open issue, as GitHub stores it (`pull_request=...` makes it a pull request's)."""
        number = self._next_number()
        api = f"{self.url}/repos/{self.repository}/issues/{number}"
        issue = {
            "url": api,
            "repository_url": f"{self.url}/repos/{self.repository}",
            "comments_url": f"{api}/comments",
            "html_url": f"https://github.com/{self.repository}/issues/{number}",
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
            "created_at": _now(),
            "updated_at": _now(),
            "closed_at": None,
            "author_association": "NONE",
            "body": body,
            **extra,
        }
        self.issues[number] = issue
        return issue

    def writes(self) -> list[tuple[str, str]]:
        """(method, path) of every request that was not a GET."""
        return [(r.method, r.path) for r in self.requests if r.method != "GET"]

    # ---- the protocol ----

    def answer(self, method: str, target: str, headers: Message, raw: bytes) -> Answer:
        """(status, JSON payload or Canned, extra headers) for one request."""
        with self._lock:
            url = urlsplit(target)
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = UNPARSABLE
            self.requests.append(Request(method, url.path, query, headers, body))
            if not headers.get("User-Agent"):
                return 403, {"message": "Request forbidden by administrative rules."}, {}
            authorization = headers.get("Authorization")
            if authorization is None:
                return 401, {"message": "Requires authentication", "status": "401"}, {}
            if authorization not in (f"Bearer {self.token}", f"token {self.token}"):
                return 401, {"message": "Bad credentials", "documentation_url": DOCS}, {}
            if self.canned is not None:
                return self.canned.status, self.canned, {}
            if body is not None and not isinstance(body, dict):
                return 400, {"message": "Problems parsing JSON", "documentation_url": DOCS}, {}
            prefix = f"/repos/{self.repository}"
            if not url.path.startswith(prefix + "/"):
                return _not_found()
            resource = url.path.removeprefix(prefix)
            routes = {
                ("GET", "/pulls"): lambda: self._page(url.path, query, self._list_pulls(query)),
                ("POST", "/pulls"): lambda: self._create_pull(body or {}),
                ("GET", "/issues"): lambda: self._page(url.path, query, self._list_issues(query)),
                ("POST", "/issues"): lambda: self._create_issue(body or {}),
            }
            if (method, resource) in routes:
                return routes[method, resource]()
            parts = resource.split("/")  # "", "issues", number[, "comments"]
            if len(parts) in (3, 4) and parts[1] == "issues" and parts[2].isdigit():
                number = int(parts[2])
                if number in self.issues:
                    if method == "PATCH" and len(parts) == 3:
                        return self._update_issue(number, body or {})
                    if method == "POST" and parts[3:] == ["comments"]:
                        return self._comment(number, body or {})
            return _not_found()

    def _page(self, path: str, query: dict[str, str], items: list[dict]) -> Answer:
        """One page of `items`, with GitHub's Link header when there are others."""
        per_page = min(_positive(query.get("per_page"), DEFAULT_PER_PAGE), self.max_per_page)
        page = _positive(query.get("page"), 1)
        last = max(1, -(-len(items) // per_page))
        links = {}
        if page < last:
            links |= {"next": page + 1, "last": last}
        if page > 1:
            links |= {"first": 1, "prev": page - 1}
        header = ", ".join(
            f'<{self.url}{path}?{urlencode(query | {"page": n})}>; rel="{rel}"'
            for rel, n in links.items()
        )
        start = (page - 1) * per_page
        return 200, items[start : start + per_page], {"Link": header} if header else {}

    def _list_pulls(self, query: dict[str, str]) -> list[dict]:
        state = query.get("state", "open")
        return sorted(
            (
                pull
                for pull in self.pulls
                if pull["base"]["repo"]["full_name"] == self.repository
                and state in ("all", pull["state"])
                and query.get("head", pull["head"]["label"]) == pull["head"]["label"]
                and query.get("base", pull["base"]["ref"]) == pull["base"]["ref"]
            ),
            key=lambda pull: pull["number"],
            reverse=query.get("direction", "desc") == "desc",
        )

    def _create_pull(self, body: dict[str, Any]) -> Answer:
        owner = self.repository.split("/")[0]
        missing = [name for name in ("title", "head", "base") if not body.get(name)]
        if missing:
            return _validation_failed(*[self._invalid("PullRequest", m) for m in missing])
        head_owner, _, branch = str(body["head"]).rpartition(":")
        head_sha, base_sha = self._head(branch), self._head(body["base"])
        if head_owner not in ("", owner) or head_sha is None:
            return _validation_failed(self._invalid("PullRequest", "head"))
        if base_sha is None:
            return _validation_failed(self._invalid("PullRequest", "base"))
        label = f"{owner}:{branch}"
        if any(p["head"]["label"] == label and p["state"] == "open" for p in self.pulls):
            exists = f"A pull request already exists for {label}."
            return _validation_failed(
                {"resource": "PullRequest", "code": "custom", "message": exists}
            )
        pull = pull_request(
            self._next_number(),
            base=self.repository,
            head=self.repository,
            branch=branch,
            sha=head_sha,
            base_branch=body["base"],
            base_sha=base_sha,
            title=body["title"],
            body=body.get("body"),
        )
        pull["draft"] = bool(body.get("draft", False))
        self.pulls.append(pull)
        return 201, pull, {}

    def _list_issues(self, query: dict[str, str]) -> list[dict]:
        wanted = set(filter(None, query.get("labels", "").split(",")))
        state = query.get("state", "open")
        return sorted(
            (
                issue
                for issue in self.issues.values()
                if wanted <= {label["name"] for label in issue["labels"]}
                and state in ("all", issue["state"])
            ),
            key=lambda issue: issue["number"],
            reverse=query.get("direction", "desc") == "desc",
        )

    def _create_issue(self, body: dict[str, Any]) -> Answer:
        if not body.get("title"):
            return _validation_failed(self._invalid("Issue", "title"))
        labels = [] if self.drop_labels else list(body.get("labels") or [])
        return 201, self.add_issue(body["title"], body.get("body"), labels), {}

    def _update_issue(self, number: int, body: dict[str, Any]) -> Answer:
        issue = self.issues[number]
        issue.update({key: body[key] for key in ("title", "body", "state") if key in body})
        issue["updated_at"] = _now()
        return 200, issue, {}

    def _comment(self, number: int, body: dict[str, Any]) -> Answer:
        if not body.get("body"):
            return _validation_failed(self._invalid("IssueComment", "body"))
        comments = self.comments.setdefault(number, [])
        comment_id = 5000 + sum(len(c) for c in self.comments.values())
        comment = {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "url": f"{self.url}/repos/{self.repository}/issues/comments/{comment_id}",
            "html_url": f"https://github.com/{self.repository}/issues/{number}#issuecomment-{comment_id}",
            "issue_url": f"{self.url}/repos/{self.repository}/issues/{number}",
            "body": body["body"],
            "user": {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"},
            "created_at": _now(),
            "updated_at": _now(),
            "author_association": "NONE",
        }
        comments.append(comment)
        self.issues[number]["comments"] = len(comments)
        return 201, comment, {}

    # ---- the repository's state ----

    def _next_number(self) -> int:
        """Issues and pull requests share one sequence of numbers, as on GitHub."""
        return 1 + max([*self.issues, *(p["number"] for p in self.pulls)], default=0)

    def _head(self, branch: str) -> str | None:
        if self.git_dir is None:
            return self.branches.get(branch)
        found = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
            cwd=self.git_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        return found.stdout.strip() or None

    def _label(self, name: str) -> dict[str, Any]:
        return {
            "id": sum(map(ord, name)),
            "node_id": f"LA_{name}",
            "url": f"{self.url}/repos/{self.repository}/labels/{name}",
            "name": name,
            "color": "ededed",
            "default": False,
            "description": None,
        }

    @staticmethod
    def _invalid(resource: str, field_name: str) -> dict[str, str]:
        return {"resource": resource, "field": field_name, "code": "invalid"}


def _handler(github: StandInGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, payload, headers = github.answer(
                self.command, self.path, self.headers, self.rfile.read(length)
            )
            if isinstance(payload, Canned):
                body, headers = payload.body, {**payload.headers, **headers}
            else:
                body, headers = json.dumps(payload).encode(), {"Content-Type": JSON, **headers}
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer  # noqa: N815 (http.server's names)

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

    return Handler
