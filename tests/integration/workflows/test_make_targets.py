"""The CI plumbing targets of the Makefile behave the same locally as in the workflows."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from tests.conftest import copy_project, git


def make(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # `-o` treats the install stamp as up to date: these targets need no fresh virtualenv.
    return subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    project = copy_project(tmp_path / "repo")
    git(project, "init", "-q")
    return project


def test_dvc_credentials_are_written_private_only_when_given(repo):
    without = make(repo, "dvc-credentials", DVC_REMOTE_CONFIG="")
    assert without.returncode == 0
    assert "No DVC remote credentials" in without.stdout
    assert not (repo / ".dvc" / "config.local").exists()

    config = "['remote \"storage\"']\n    access_key_id = KEY\n    secret_access_key = SECRET"
    given = make(repo, "dvc-credentials", DVC_REMOTE_CONFIG=config)
    assert given.returncode == 0
    assert "SECRET" not in given.stdout + given.stderr
    written = repo / ".dvc" / "config.local"
    assert written.read_text() == config + "\n"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    # DVC's own .gitignore keeps it out of commits.
    assert git(repo, "check-ignore", ".dvc/config.local") == ".dvc/config.local"


def test_pull_warns_instead_of_failing_when_the_remote_cannot_be_used(repo):
    """A fork's run has no credentials: `make pull` carries on and repro rebuilds instead."""
    subprocess.run(
        ["dvc", "remote", "add", "--force", "--default", "cloud", "s3://no-such-bucket/dvc"],
        cwd=repo,
        check=True,
        capture_output=True,
    )
    result = make(repo, "pull")
    assert result.returncode == 0, result.stderr
    assert "warning: dvc pull failed" in result.stderr


def test_pr_artifact_collects_the_number_beside_the_report(repo):
    (repo / "eval").mkdir(exist_ok=True)
    (repo / "eval" / "metrics.json").write_text('{"roc_auc": 0.8}')
    assert make(repo, "pr-artifact", "PR=15").returncode == 0
    (repo / "reports" / "report.md").write_text("## report\n")
    checked = make(repo, "pr-artifact-check", f"ARTIFACT={repo / 'reports'}")
    assert checked.returncode == 0, checked.stderr
    # Exactly the lines pr-comment.yml appends to $GITHUB_OUTPUT, nothing else on stdout.
    assert checked.stdout.splitlines() == [
        "number=15",
        f"report={(repo / 'reports' / 'report.md').resolve()}",
    ]


def test_pr_artifact_refuses_a_non_integer_number(repo):
    result = make(repo, "pr-artifact", "PR=15 16")
    assert result.returncode != 0
    assert "positive integer" in result.stderr
