"""`make rename NAME=...`: one command, after which nothing names the old project (only the
user's data may) and every module imports under the new name. The renamed template's own unit
suite passes: test_second_table.py runs it on a renamed copy of a project adopted for another
table."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from tests.conftest import PROJECT_ROOT, copy_project, make

pytestmark = pytest.mark.slow

sys.path.insert(0, str(PROJECT_ROOT / "tools"))
import rename_project  # noqa: E402


def test_rename_leaves_no_trace_of_the_old_name_and_every_module_still_imports(tmp_path):
    repo = copy_project(tmp_path / "project")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    old = rename_project.current_name(repo)

    result = make(repo, "rename", "NAME=credit")
    assert "renamed the project to 'credit'" in result.stdout

    assert rename_project.current_name(repo) == "credit"
    pattern = rename_project._pattern(old)
    left = [
        f"{path.relative_to(repo)}: {line.strip()}"
        for path in rename_project._tracked(repo)
        if path.is_file()
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        if pattern.search(line)
    ]
    assert left == []
    assert (repo / "src" / "credit" / "deliver" / "wheel" / "template" / "credit_model").is_dir()
    # The data keeps its names: the contract is the user's description of their table.
    assert (repo / "contract.yaml").read_text() == (PROJECT_ROOT / "contract.yaml").read_text()

    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    # Every module of the renamed package imports under its new name (`__main__` runs the CLI
    # when imported, as `python -m` needs).
    every_module = (
        "import importlib, pkgutil, credit; "
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(credit.__path__, "
        "'credit.') if '.template.' not in m.name and not m.name.endswith('__main__')]"
    )
    imported = subprocess.run(
        [sys.executable, "-c", every_module],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr[-3000:]
    # The renamed project's own unit suite: test_second_table.py runs it on a renamed copy of
    # the project adopted for another table (a user does both), so it runs once.


@pytest.mark.parametrize("name", ["Credit", "1x", "class", "a-b"])
def test_a_name_that_is_not_a_package_name_is_refused(tmp_path, name):
    repo = copy_project(tmp_path / "project")
    result = make(repo, "rename", f"NAME={name}", check=False)
    assert result.returncode == 2
    assert "not a usable package name" in result.stderr
    assert rename_project.current_name(repo) == rename_project.current_name(PROJECT_ROOT)
