"""A local stand-in for GitHub's REST API: the pull-request endpoints, with GitHub's shapes.

GitHub cannot be reached from the tests, so this speaks the same protocol on 127.0.0.1:
`GET /repos/{owner}/{repo}/pulls?state=&head=owner:branch` and
`POST /repos/{owner}/{repo}/pulls` (201 with the pull request; 422 "Validation Failed" when the
head branch is not in the git remote or already has an open pull request; 401 "Bad
credentials" without the expected bearer token; 404 for anything else). The git remote is a
real (bare) repository: a pull request's head SHA is read from it, as GitHub does.
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DOCS = "https://docs.github.com/rest/pulls/pulls"


@dataclass
class FakeGitHub:
    owner: str
    repo: str
    token: str
    git_dir: Path  # the bare repository playing GitHub's copy
    pulls: list[dict] = field(default_factory=list)
    requests: list[tuple[str, str, dict | None]] = field(default_factory=list)
    url: str = ""

    def head_sha(self, branch: str) -> str | None:
        found = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
            cwd=self.git_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        return found.stdout.strip() or None


def _handler(github: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    prefix = f"/repos/{github.owner}/{github.repo}/pulls"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") in (
                f"Bearer {github.token}",
                f"token {github.token}",
            ):
                return True
            self._send(401, {"message": "Bad credentials", "documentation_url": DOCS})
            return False

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            github.requests.append(("GET", self.path, None))
            if not self._authorised():
                return
            if url.path != prefix:
                self._send(404, {"message": "Not Found", "documentation_url": DOCS})
                return
            query = urllib.parse.parse_qs(url.query)
            state = query.get("state", ["open"])[0]
            head = query.get("head", [None])[0]
            found = [
                p
                for p in github.pulls
                if state in ("all", p["state"]) and head in (None, p["head"]["label"])
            ]
            self._send(200, found)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._send(400, {"message": "Problems parsing JSON", "documentation_url": DOCS})
                return
            github.requests.append(("POST", self.path, body))
            if not self._authorised():
                return
            if self.path != prefix:
                self._send(404, {"message": "Not Found", "documentation_url": DOCS})
                return
            missing = [k for k in ("head", "base") if not body.get(k)]
            if missing or not (body.get("title") or body.get("issue")):
                self._send(422, _invalid("PullRequest", missing[0] if missing else "title"))
                return
            head, base = body["head"], body["base"]
            sha, base_sha = github.head_sha(head), github.head_sha(base)
            if sha is None or base_sha is None:
                self._send(422, _invalid("PullRequest", "head" if sha is None else "base"))
                return
            label = f"{github.owner}:{head}"
            if any(p["head"]["label"] == label and p["state"] == "open" for p in github.pulls):
                self._send(
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [
                            {
                                "resource": "PullRequest",
                                "code": "custom",
                                "message": f"A pull request already exists for {label}.",
                            }
                        ],
                        "documentation_url": DOCS,
                    },
                )
                return
            number = len(github.pulls) + 1
            full_name = f"{github.owner}/{github.repo}"
            pull = {
                "url": f"{github.url}{prefix}/{number}",
                "html_url": f"https://github.com/{full_name}/pull/{number}",
                "number": number,
                "state": "open",
                "title": body["title"],
                "body": body.get("body"),
                "draft": bool(body.get("draft", False)),
                "user": {"login": "token-owner", "type": "User"},
                "head": {
                    "label": label,
                    "ref": head,
                    "sha": sha,
                    "repo": {"full_name": full_name},
                },
                "base": {
                    "label": f"{github.owner}:{base}",
                    "ref": base,
                    "sha": base_sha,
                    "repo": {"full_name": full_name},
                },
                "merged": False,
                "mergeable": None,
            }
            github.pulls.append(pull)
            self._send(201, pull)

    return Handler


def _invalid(resource: str, field_name: str) -> dict:
    return {
        "message": "Validation Failed",
        "errors": [{"resource": resource, "field": field_name, "code": "invalid"}],
        "documentation_url": DOCS,
    }


@contextmanager
def serve(owner: str, repo: str, token: str, git_dir: Path) -> Iterator[FakeGitHub]:
    """Serve a fake GitHub for `owner/repo` on a free port of 127.0.0.1 while in the block."""
    github = FakeGitHub(owner=owner, repo=repo, token=token, git_dir=git_dir)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(github))
    github.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield github
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
