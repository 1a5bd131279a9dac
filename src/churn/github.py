"""GitHub's REST API: the one client the CI steps and the scheduled retraining talk through.

`GitHub(api_url, repository, token).call(method, path, query=..., body=...)` sends what GitHub
documents for every request (`Accept: application/vnd.github+json`, `X-GitHub-Api-Version`,
`Authorization: Bearer`, a `User-Agent`), with `path` relative to the repository
(`"/pulls"` is `/repos/{owner}/{name}/pulls`), and answers the decoded JSON. A list answered
over several pages is followed through its `Link: <...>; rel="next"` headers and returned
whole. Anything else becomes one `GitHubError` naming the request and, for an HTTP error,
the status and GitHub's `message`: an error status, a non-JSON answer, no answer in time.

The token goes into the Authorization header and nowhere else: not into `repr()`, not into an
error message, not to another host (a `Link` or a redirect leaving the API's origin is refused).
Where the API URL and the token come from is each caller's business.

Standard library only: pr-comment.yml and monitor.yml run their steps with `python3 -m
churn.release...` without installing the project, and those import this module.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from churn.user_error import UserError

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
# GitHub's rules for owner/name (it goes into every request's path).
REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/(?!\.\.?$)[A-Za-z0-9_.-]{1,100}")
# A list longer than this many pages is refused rather than followed forever.
MAX_PAGES = 100
# How much of a non-JSON answer an error message quotes.
_QUOTED_CHARS = 200
_LINK = re.compile(r'<(?P<url>[^>]*)>\s*;\s*rel="(?P<rel>[^"]*)"')


class GitHubError(UserError, RuntimeError):
    """A request GitHub refused or did not answer as its API does; `status` is the HTTP status
    when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def next_page(link_header: str | None) -> str | None:
    """The `rel="next"` URL of a `Link` header, or None on the last page."""
    for match in _LINK.finditer(link_header or ""):
        if "next" in match["rel"].split():
            return match["url"]
    return None


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would follow a redirect anywhere with every header, Authorization included: this
    follows one only within the API's own origin (where GitHub sends a renamed repository's
    requests) and refuses any other."""

    # urllib's signature, positional arguments and all.
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: PLR0917
        if _origin(newurl) != _origin(req.full_url):
            target = urllib.parse.urlsplit(newurl)
            raise GitHubError(
                f"GitHub redirected {req.get_method()} {urllib.parse.urlsplit(req.full_url).path} "
                f"to another host ({target.scheme}://{target.netloc}): refusing to send the "
                "token there",
                status=code,
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _message(payload: Any) -> str:
    """GitHub's `message`, with the `errors` of a 422 (which say what was invalid)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("message"), str):
        return ""
    details = []
    for error in payload.get("errors") or []:
        if isinstance(error, dict):
            text = error.get("message") or " ".join(
                str(error[key]) for key in ("resource", "field", "code") if error.get(key)
            )
            details.append(str(text))
        elif isinstance(error, str):
            details.append(error)
    return payload["message"] + (f" ({'; '.join(details)})" if details else "")


def _quote(raw: bytes) -> str:
    text = " ".join(raw[: _QUOTED_CHARS * 4].decode("utf-8", "replace").split())
    return text[:_QUOTED_CHARS] + ("..." if len(text) > _QUOTED_CHARS else "")


@dataclass(frozen=True)
class GitHub:
    """One repository on one GitHub (github.com's API or an Enterprise server's), one token."""

    api_url: str
    repository: str  # owner/name
    token: str = field(repr=False)
    user_agent: str = "churn"  # GitHub refuses requests without one
    timeout: float = 30.0  # seconds, for each request

    def __post_init__(self) -> None:
        if not REPOSITORY.fullmatch(self.repository):
            raise GitHubError(f"{self.repository[:140]!r} is not a GitHub repository (owner/name)")
        if urllib.parse.urlsplit(self.api_url).scheme not in ("https", "http"):
            raise GitHubError(f"GitHub's API URL must be http(s), got {self.api_url[:100]!r}")

    def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | int] | None = None,
        body: Any = None,
    ) -> Any:
        """`method` on the repository's `path` (e.g. "/issues/3"), the JSON answer decoded; a
        list is followed through all its pages. None for an answer without content (204)."""
        where = f"{method} /repos/{self.repository}{path}"
        url = f"{self.api_url.rstrip('/')}/repos/{urllib.parse.quote(self.repository)}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        answer, following = self._send(method, url, body, where)
        pages = 1
        while following is not None and isinstance(answer, list):
            if _origin(following) != _origin(url):
                raise GitHubError(f"{where}: the next page is on another host; not following")
            if pages >= MAX_PAGES:
                raise GitHubError(f"{where}: more than {MAX_PAGES} pages; not following")
            page, following = self._send("GET", following, None, where)
            if not isinstance(page, list):
                raise GitHubError(f"{where}: page {pages + 1} is not a list like the first")
            answer, pages = answer + page, pages + 1
        return answer

    def _send(self, method: str, url: str, body: Any, where: str) -> tuple[Any, str | None]:
        """One request: its decoded answer and the next page's URL, if any."""
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self.token}",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": self.user_agent,
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        opener = urllib.request.build_opener(_SameOriginRedirects)
        try:
            with opener.open(request, timeout=self.timeout) as response:
                status, kind = response.status, response.headers.get("Content-Type", "")
                raw, link = response.read(), response.headers.get("Link")
        except urllib.error.HTTPError as exc:
            raw = _read_error(exc)
            message = _message(_decoded(raw)) or _quote(raw) or exc.reason
            raise self._error(
                f"GitHub answered HTTP {exc.code} to {where}: {message}", exc.code
            ) from exc
        except TimeoutError as exc:  # while reading the answer (a URLError while connecting)
            raise self._error(
                f"could not ask GitHub ({where}): no answer in {self.timeout:g} s"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                reason = f"no answer in {self.timeout:g} s"
            raise self._error(f"could not ask GitHub ({where}): {reason}") from exc
        if status == 204 or not raw:
            return None, None
        decoded = _decoded(raw) if "json" in kind.lower() else _NOT_JSON
        if decoded is _NOT_JSON:
            raise self._error(
                f"GitHub's answer to {where} is not JSON (HTTP {status}, Content-Type "
                f"{kind or 'none'!r}): {_quote(raw)}",
                status,
            )
        return decoded, next_page(link)

    def _error(self, message: str, status: int | None = None) -> GitHubError:
        """The error, with the token blanked should anything have echoed it back."""
        if self.token:
            message = message.replace(self.token, "***")
        return GitHubError(message, status)


_NOT_JSON = object()


def _decoded(raw: bytes) -> Any:
    """The JSON in `raw`, or `_NOT_JSON`."""
    try:
        return json.loads(raw)
    except ValueError:
        return _NOT_JSON


def _read_error(error: urllib.error.HTTPError) -> bytes:
    """An error answer's body; empty if even that cannot be read."""
    try:
        return error.read()
    except OSError:
        return b""
