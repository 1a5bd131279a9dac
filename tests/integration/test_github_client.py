"""churn.github, the one REST client, against the stand-in GitHub of tests/github_api.py (and,
for what no GitHub would do, a socket that never answers)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from tests.conftest import PROJECT_ROOT
from tests.github_api import JSON, Canned, StandInGitHub, pull_request

from churn import github as rest
from churn.github import GitHub, GitHubError

TOKEN = "ghs_s3cretTokenValue"
REPOSITORY = "acme/churn"


@pytest.fixture
def stand_in() -> Iterator[StandInGitHub]:
    with StandInGitHub(repository=REPOSITORY, token=TOKEN, branches={"main": "a" * 40}) as api:
        yield api


@pytest.fixture
def client(stand_in: StandInGitHub) -> GitHub:
    return GitHub(stand_in.url, REPOSITORY, TOKEN, user_agent="churn-test")


def pulls(count: int) -> list[dict]:
    return [
        pull_request(n, base=REPOSITORY, head=REPOSITORY, branch=f"b{n}", sha=f"{n:040x}")
        for n in range(1, count + 1)
    ]


def test_a_request_carries_what_github_documents(client, stand_in):
    answer = client.call("POST", "/issues", body={"title": "t", "body": "b"})
    assert answer["number"] == 1
    (request,) = stand_in.requests
    assert (request.method, request.path) == ("POST", f"/repos/{REPOSITORY}/issues")
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == rest.API_VERSION
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"] == "churn-test"
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == {"title": "t", "body": "b"}


def test_a_list_is_followed_across_its_pages(client, stand_in):
    stand_in.max_per_page = 2
    stand_in.pulls = pulls(5)
    found = client.call("GET", "/pulls", query={"state": "open", "per_page": 100})
    assert [p["number"] for p in found] == [5, 4, 3, 2, 1]  # GitHub's order: newest first
    asked = [
        (r.query.get("page"), r.query["state"], r.query["per_page"]) for r in stand_in.requests
    ]
    assert asked == [(None, "open", "100"), ("2", "open", "100"), ("3", "open", "100")]


def test_a_single_page_is_one_request(client, stand_in):
    stand_in.pulls = pulls(3)
    assert len(client.call("GET", "/pulls")) == 3
    assert len(stand_in.requests) == 1


def test_paging_stops_at_a_limit(client, stand_in, monkeypatch):
    # A server whose next page is always itself: the client must give up, not loop forever.
    looping = f'<{stand_in.url}/repos/{REPOSITORY}/pulls?page=2>; rel="next"'
    stand_in.canned = Canned(200, b"[]", {"Content-Type": JSON, "Link": looping})
    monkeypatch.setattr(rest, "MAX_PAGES", 3)
    with pytest.raises(GitHubError, match="more than 3 pages"):
        client.call("GET", "/pulls")
    assert len(stand_in.requests) == 3


def test_an_http_error_names_the_status_the_request_and_githubs_message(client, stand_in):
    stand_in.branches["feature"] = "b" * 40
    body = {"title": "t", "head": "feature", "base": "main"}
    client.call("POST", "/pulls", body=body)
    with pytest.raises(GitHubError) as duplicate:
        client.call("POST", "/pulls", body=body)
    assert duplicate.value.status == 422
    assert str(duplicate.value) == (
        f"GitHub answered HTTP 422 to POST /repos/{REPOSITORY}/pulls: Validation Failed "
        "(A pull request already exists for acme:feature.)"
    )
    with pytest.raises(GitHubError) as missing:
        client.call("PATCH", "/issues/99", body={"body": "x"})
    assert missing.value.status == 404
    assert str(missing.value) == (
        f"GitHub answered HTTP 404 to PATCH /repos/{REPOSITORY}/issues/99: Not Found"
    )


def test_a_wrong_token_is_401_and_the_token_is_in_no_message_or_repr(stand_in):
    wrong = GitHub(stand_in.url, REPOSITORY, "ghs_wrongTokenValue")
    with pytest.raises(GitHubError) as refused:
        wrong.call("GET", "/pulls")
    assert refused.value.status == 401
    assert "Bad credentials" in str(refused.value)
    assert "ghs_wrongTokenValue" not in str(refused.value)
    assert "ghs_wrongTokenValue" not in repr(wrong)


@pytest.mark.parametrize(
    "canned",
    [
        Canned(500, json.dumps({"message": f"token {TOKEN} is not allowed"}).encode()),
        Canned(502, f"<html>upstream said {TOKEN}</html>".encode(), {"Content-Type": "text/html"}),
        Canned(200, f"<html>{TOKEN}</html>".encode(), {"Content-Type": "text/html"}),
    ],
    ids=["json-error", "html-error", "html-page"],
)
def test_a_token_echoed_back_is_blanked_in_the_error(client, stand_in, canned):
    stand_in.canned = canned
    with pytest.raises(GitHubError) as error:
        client.call("GET", "/pulls")
    assert TOKEN not in str(error.value)
    assert "***" in str(error.value)


@pytest.mark.parametrize(
    ("canned", "complaint"),
    [
        (
            Canned(200, b"<html><body>Sign in</body></html>", {"Content-Type": "text/html"}),
            "is not JSON (HTTP 200, Content-Type 'text/html'): <html><body>Sign in</body></html>",
        ),
        (Canned(200, b"[1, 2", {"Content-Type": JSON}), "is not JSON (HTTP 200"),
        (Canned(200, b"[]", {}), "is not JSON (HTTP 200, Content-Type 'none')"),
    ],
    ids=["html", "broken-json", "no-content-type"],
)
def test_a_non_json_answer_is_refused_clearly(client, stand_in, canned, complaint):
    stand_in.canned = canned
    with pytest.raises(GitHubError) as error:
        client.call("GET", "/pulls")
    assert str(error.value).startswith(f"GitHub's answer to GET /repos/{REPOSITORY}/pulls")
    assert complaint in str(error.value)


def test_an_answer_without_content_is_none(client, stand_in):
    stand_in.canned = Canned(204, b"", {})
    assert client.call("DELETE", "/issues/1/lock") is None


def test_no_answer_in_time_is_an_error_naming_the_timeout():
    # Listening, so the connection is accepted, but nothing is ever answered.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        api = f"http://127.0.0.1:{silent.getsockname()[1]}"
        github = GitHub(api, REPOSITORY, TOKEN, timeout=0.2)
        with pytest.raises(GitHubError) as error:
            github.call("GET", "/pulls")
    assert str(error.value) == (
        f"could not ask GitHub (GET /repos/{REPOSITORY}/pulls): no answer in 0.2 s"
    )
    assert error.value.status is None


def test_nothing_listening_is_an_error(stand_in):
    github = GitHub(stand_in.url, REPOSITORY, TOKEN)
    stand_in.stop()
    with pytest.raises(GitHubError, match=r"could not ask GitHub \(GET /repos/acme/churn/pulls\)"):
        github.call("GET", "/pulls")


def test_the_token_never_follows_a_page_or_a_redirect_to_another_host(client, stand_in):
    with StandInGitHub(repository=REPOSITORY, token=TOKEN) as elsewhere:
        other = f"{elsewhere.url}/repos/{REPOSITORY}/pulls"
        stand_in.canned = Canned(
            200, b"[]", {"Content-Type": JSON, "Link": f'<{other}?page=2>; rel="next"'}
        )
        with pytest.raises(GitHubError, match="the next page is on another host"):
            client.call("GET", "/pulls")
        for status in (301, 302, 307):
            stand_in.canned = Canned(status, b"", {"Location": other})
            with pytest.raises(GitHubError, match=r"redirected GET .* to another host"):
                client.call("GET", "/pulls")
        assert elsewhere.requests == []


@pytest.mark.parametrize(
    ("api_url", "repository", "complaint"),
    [
        ("https://api.github.com", "acme/churn/../x", "is not a GitHub repository"),
        ("https://api.github.com", "acme", "is not a GitHub repository"),
        ("file:///etc/passwd", "acme/churn", "must be http(s)"),
    ],
)
def test_a_bad_repository_or_api_url_is_refused_before_any_request(api_url, repository, complaint):
    with pytest.raises(GitHubError, match=re.escape(complaint)):
        GitHub(api_url, repository, TOKEN)


def test_the_ci_steps_import_only_the_standard_library():
    """pr-comment.yml and monitor.yml run these with the runner's python3, nothing installed."""
    code = (
        "import sys\n"
        "import churn.github, churn.release.pr_target, churn.release.monitor_issue\n"
        "top = {name.split('.')[0] for name in sys.modules}\n"
        "print(sorted(top - set(sys.stdlib_module_names) - {'churn', '__main__'}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src")}
    # -S: without site-packages, as a bare interpreter has them.
    shown = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    )
    assert shown.stdout.strip() == "[]"
