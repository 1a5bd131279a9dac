"""actionlint and zizmor (offline) find nothing in the workflows, and do flag a bad one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BAD_WORKFLOW = """\
name: bad
on: pull_request_target
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ github.event.pull_request.title }}"
"""


def tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert path, f"{name} is not installed (requirements/dev.txt)"
    return path


def lint(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


@pytest.fixture
def bad_repo(tmp_path: Path) -> Path:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(BAD_WORKFLOW, encoding="utf-8")
    return tmp_path


def workflow_files(repo: Path) -> list[str]:
    return sorted(str(p) for p in (repo / ".github" / "workflows").glob("*.yml"))


def test_actionlint_finds_nothing():
    result = lint([tool("actionlint"), "-no-color", *workflow_files(ROOT)], ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing():
    result = lint([tool("zizmor"), "--offline", "--no-progress", ".github"], ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout


def test_actionlint_flags_an_injection(bad_repo):
    result = lint([tool("actionlint"), "-no-color", *workflow_files(bad_repo)], bad_repo)
    assert result.returncode != 0
    assert "github.event.pull_request.title" in result.stdout


def test_zizmor_flags_a_pwn_request(bad_repo):
    result = lint([tool("zizmor"), "--offline", "--no-progress", ".github/workflows"], bad_repo)
    assert result.returncode != 0
    assert "template-injection" in result.stdout
    assert "dangerous-triggers" in result.stdout


def test_hadolint_finds_nothing_in_the_dockerfile():
    result = lint([tool("hadolint"), "Dockerfile"], ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
