"""A stand-in for the GitHub REST endpoint pr-comment.yml calls, served on 127.0.0.1.

GitHub's API cannot be reached here. This server answers the one call
`churn.release.pr_target` makes, at the same path, with the same query parameters, headers
and response shape as api.github.com (the fields read, and those around them):

    GET /repos/{owner}/{repo}/pulls?state=open|closed|all&head={user}:{branch}&per_page=N

`head` matches a pull request's `head.label` (`<head repository owner>:<branch>`), as on
GitHub. Like GitHub it refuses requests without a User-Agent (403) and, like a private
repository, requests without `Authorization: Bearer <token>` (401). Every request is recorded.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_PULLS = re.compile(r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/pulls")


def _repository(full_name: str, repo_id: int) -> dict[str, Any]:
    owner, name = full_name.split("/")
    return {
        "id": repo_id,
        "name": name,
        "full_name": full_name,
        "owner": {"login": owner, "type": "User"},
        "private": False,
        "fork": False,
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
) -> dict[str, Any]:
    """A pull request as GET /repos/{owner}/{repo}/pulls lists it (a subset of the fields)."""
    head_repository = _repository(head, 2000 + number) if head != base else _repository(base, 1)
    head_repository["fork"] = head != base
    return {
        "url": f"https://api.github.com/repos/{base}/pulls/{number}",
        "id": 900_000 + number,
        "number": number,
        "state": state,
        "locked": False,
        "title": f"Pull request {number}",
        "user": {"login": head.split("/", maxsplit=1)[0], "type": "User"},
        "draft": False,
        "head": {
            "label": f"{head.split('/', maxsplit=1)[0]}:{branch}",
            "ref": branch,
            "sha": sha,
            "user": {"login": head.split("/", maxsplit=1)[0], "type": "User"},
            "repo": head_repository,
        },
        "base": {
            "label": f"{base.split('/', maxsplit=1)[0]}:{base_branch}",
            "ref": base_branch,
            "sha": "0" * 40,
            "user": {"login": base.split("/", maxsplit=1)[0], "type": "User"},
            "repo": _repository(base, 1),
        },
    }


@dataclass
class GithubApi:
    """The server, its pull requests and the requests it received."""

    token: str = "stand-in-token"
    pulls: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    failure: int | None = None  # answer every request with this HTTP status instead
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> GithubApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = api._answer(self.path, dict(self.headers))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _answer(self, raw_path: str, headers: dict[str, str]) -> tuple[int, Any]:
        url = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self.requests.append({"path": url.path, "query": query, "headers": headers})
        if not headers.get("User-Agent"):
            return 403, {"message": "Request forbidden by administrative rules."}
        if headers.get("Authorization") not in (f"Bearer {self.token}", f"token {self.token}"):
            return 401, {"message": "Requires authentication", "status": "401"}
        if self.failure is not None:
            return self.failure, {"message": "Server Error", "status": str(self.failure)}
        match = _PULLS.fullmatch(url.path)
        if not match:
            return 404, {"message": "Not Found", "status": "404"}
        repository = f"{match['owner']}/{match['repo']}"
        state = query.get("state", "open")
        per_page = min(int(query.get("per_page", "30")), 100)
        listed = [
            pr
            for pr in self.pulls
            if pr["base"]["repo"]["full_name"] == repository
            and (state == "all" or pr["state"] == state)
            and ("head" not in query or pr["head"]["label"] == query["head"])
        ]
        return 200, listed[:per_page]
