"""The committed `dvc.lock` records the code, params and contract of this commit: otherwise the
first `dvc repro` after a clone reruns stages, and a scheduled job on `main` that expects a
cache hit (monitor.yml) retrains instead."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import PROJECT_ROOT


def _tracked() -> set[str]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    return set(out.splitlines())


def stale_deps(status: dict, tracked: set[str]) -> list[str]:
    """Deps that git holds and that changed since `dvc.lock` was written; data and stage outputs
    (absent in a fresh clone) are DVC's to fetch, not staleness."""
    stale = []
    for stage, entries in status.items():
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            for dep, change in entry.get("changed deps", {}).items():
                edited = isinstance(change, dict) or change == "modified"
                in_git = dep in tracked or any(t.startswith(dep.rstrip("/") + "/") for t in tracked)
                if edited and in_git:
                    stale.append(f"{stage}: {dep}")
    return stale


def test_the_stale_check_names_edited_code_and_params_but_not_missing_data():
    status = {
        "prepare": [{"changed deps": {"data/wa_churn.csv": "deleted", "src/pkg/x": "modified"}}],
        "train": [{"changed deps": {"params.yaml": {"train.C": "modified"}}}, "always changed"],
    }
    assert stale_deps(status, {"src/pkg/x/a.py", "params.yaml"}) == [
        "prepare: src/pkg/x",
        "train: params.yaml",
    ]


def test_the_committed_lock_records_this_commits_code_and_params():
    result = subprocess.run(
        ["dvc", "status", "--json"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    stale = stale_deps(json.loads(result.stdout or "{}"), _tracked())
    assert stale == [], "dvc.lock is older than the code: run `make repro` and commit dvc.lock"
