"""CODEOWNERS covers the files that decide the verdict, and only those: each pattern is matched
against the repository's files with gitignore rules (`pathspec`), as GitHub matches them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pathspec
import pytest

ROOT = Path(__file__).resolve().parents[2]
CODEOWNERS = ROOT / ".github" / "CODEOWNERS"
PLACEHOLDER = "@your-org/model-owners"


def _files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [f for f in listed.split("\0") if f and (ROOT / f).is_file()]


def _rules() -> list[tuple[str, list[str]]]:
    rules = []
    for line in CODEOWNERS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pattern, *owners = line.split()
            rules.append((pattern, owners))
    return rules


def _owners(path: str) -> list[str]:
    """The owners of `path`: those of the last matching line, as GitHub reads the file."""
    owners: list[str] = []
    for pattern, names in _rules():
        if pathspec.GitIgnoreSpec.from_lines([pattern]).match_file(path):
            owners = names
    return owners


def test_every_line_names_a_pattern_and_owners():
    assert _rules()
    for pattern, owners in _rules():
        assert owners, pattern
        assert all(re.fullmatch(r"@[\w.-]+(/[\w.-]+)?|[^@\s]+@[^@\s]+", o) for o in owners)


def test_every_pattern_matches_a_file_of_the_repository():
    """A pattern that matches nothing (a typo, a moved file) protects nothing."""
    files = _files()
    for pattern, _ in _rules():
        spec = pathspec.GitIgnoreSpec.from_lines([pattern])
        assert any(spec.match_file(f) for f in files), f"{pattern} matches no file"


def _tracked(prefix: str) -> list[str]:
    return [f for f in _files() if f.startswith(prefix)]


@pytest.mark.parametrize(
    "path",
    [
        "gate.yaml",
        "Makefile",
        "src/churn/metrics.py",
        "src/churn/params.py",
        "src/churn/cli.py",
        ".github/CODEOWNERS",
        *_tracked("src/churn/report/"),
        *_tracked(".github/workflows/"),
    ],
)
def test_the_files_that_decide_the_verdict_are_owned(path):
    assert (ROOT / path).is_file()
    assert _owners(path) == [PLACEHOLDER]


@pytest.mark.parametrize(
    "path", ["params.yaml", "dvc.yaml", "src/churn/model.py", "src/churn/stages/train.py"]
)
def test_tuning_a_model_needs_no_owner(path):
    """Hyperparameter and model changes are reviewed as usual, without the gate's owners."""
    assert _owners(path) == []


def test_the_readme_tells_adopters_to_replace_the_placeholder_owner():
    assert PLACEHOLDER in (ROOT / "README.md").read_text(encoding="utf-8")
