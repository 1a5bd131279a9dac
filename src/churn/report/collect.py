"""All the report's I/O: the candidate from the workspace, the baseline from a git revision.

Git-tracked files of the base (params, dvc.lock, recorded metrics) come from `git show`, which
works in a shallow clone; DVC-tracked outputs (the model, the raw data) come through DVC at that
revision, from the local cache or the remote. Nothing of the base revision's code is run.
Whatever cannot be obtained is recorded with the reason, so the report can say so.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from churn.artifacts import prepared_split, saved_model
from churn.contract import Contract
from churn.contract import load as load_contract
from churn.report.contents import Reproducibility

LOCK_FILE = "dvc.lock"


class ReportError(RuntimeError):
    """The report cannot be made at all (the message says what to do)."""


@dataclass(frozen=True)
class Paths:
    """Where the pipeline keeps things, relative to the repository root (as in `dvc.yaml`)."""

    model: str
    prepared: str
    raw: str
    metrics: str
    params: str


@dataclass
class Side:
    """One revision's materials; `missing` says what could not be had, and why."""

    commit: str | None = None
    params: dict[str, Any] | None = None
    metrics: dict[str, float] | None = None
    model: saved_model.SavedModel | None = None
    # The data contract the model was trained under (the candidate's always).
    contract: Contract | None = None
    raw: pd.DataFrame | None = None
    raw_sha256: str | None = None
    missing: dict[str, str] = field(default_factory=dict)


@dataclass
class Collected:
    base_rev: str
    root: Path
    candidate: Side
    test: pd.DataFrame
    reproducibility: Reproducibility
    base: Side | None = None
    # Why there is no baseline, when `base` is None.
    no_baseline: str = ""
    # The base revision's params, read even without a baseline: its gate policy still rules.
    base_params: dict[str, Any] | None = None


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, check=False)


def repo_root(start: Path) -> Path:
    found = _git(start, "rev-parse", "--show-toplevel")
    if found.returncode != 0:
        raise ReportError(f"{start.resolve()} is not inside a git repository")
    return Path(found.stdout.decode().strip())


def _resolve(root: Path, rev: str) -> str | None:
    found = _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    return found.stdout.decode().strip() if found.returncode == 0 else None


def git_show(root: Path, rev: str, path: str) -> bytes | None:
    """The bytes of `path` at `rev`, or None when the file is not there."""
    shown = _git(root, "show", f"{rev}:{path}")
    return shown.stdout if shown.returncode == 0 else None


def _yaml(content: bytes | None) -> dict[str, Any] | None:
    if content is None:
        return None
    try:
        loaded = yaml.safe_load(content)
    except yaml.YAMLError:
        return None
    return loaded if isinstance(loaded, dict) else None


def _metrics(content: bytes | None) -> dict[str, float] | None:
    if content is None:
        return None
    try:
        loaded = json.loads(content)
    except ValueError:
        return None
    if not isinstance(loaded, dict):
        return None
    return {k: float(v) for k, v in loaded.items() if isinstance(v, int | float)}


def _read_raw(content: bytes) -> tuple[pd.DataFrame, str]:
    return pd.read_csv(io.BytesIO(content)), hashlib.sha256(content).hexdigest()


def _short(message: object) -> str:
    text = str(message).strip().splitlines()
    return text[-1] if text else type(message).__name__


def _collect_base(root: Path, rev: str, commit: str, paths: Paths) -> Side:
    from dvc.api import DVCFileSystem

    side = Side(
        commit=commit,
        params=_yaml(git_show(root, commit, paths.params)),
        metrics=_metrics(git_show(root, commit, paths.metrics)),
    )
    try:
        fs = DVCFileSystem(str(root), rev=commit)
    except Exception as exc:  # any DVC failure means "not available", never a crash
        side.missing["model"] = side.missing["data"] = f"DVC could not open {rev}: {_short(exc)}"
        return side
    with tempfile.TemporaryDirectory(prefix="churn-report-") as tmp:
        try:
            fs.get(paths.model, str(Path(tmp) / "model"), recursive=True)
            side.model = saved_model.load(Path(tmp) / "model")
        except Exception as exc:
            side.missing["model"] = (
                f"the model of {rev} is in neither the DVC cache nor the remote ({_short(exc)})"
            )
        try:
            with fs.open(paths.raw, "rb") as handle:
                side.raw, side.raw_sha256 = _read_raw(handle.read())
        except Exception as exc:
            side.missing["data"] = f"the data of {rev} could not be read ({_short(exc)})"
    return side


def _collect_candidate(root: Path, paths: Paths) -> tuple[Side, pd.DataFrame]:
    model_dir = root / paths.model
    test_file = prepared_split.test_file(root / paths.prepared)
    for needed in (model_dir, test_file, root / paths.params):
        if not needed.exists():
            raise ReportError(
                f"{needed.relative_to(root)} is missing: run the pipeline first (`make run`)"
            )
    side = Side(
        commit=_resolve(root, "HEAD"),
        params=_yaml((root / paths.params).read_bytes()),
        metrics=_metrics((root / paths.metrics).read_bytes())
        if (root / paths.metrics).is_file()
        else None,
        model=saved_model.load(model_dir),
        contract=load_contract(saved_model.read(model_dir).contract),
    )
    raw_file = root / paths.raw
    if raw_file.is_file():
        side.raw, side.raw_sha256 = _read_raw(raw_file.read_bytes())
    else:
        side.missing["data"] = f"{paths.raw} is not in the workspace"
    return side, pd.read_parquet(test_file)


def _lock_check(root: Path) -> tuple[bool | None, str]:
    committed = _yaml(git_show(root, "HEAD", LOCK_FILE))
    workspace_file = root / LOCK_FILE
    if committed is None:
        return None, f"no {LOCK_FILE} is committed at HEAD"
    if not workspace_file.is_file():
        return None, f"no {LOCK_FILE} in the workspace: the pipeline has not run"
    produced = _yaml(workspace_file.read_bytes()) or {}
    if produced == committed:
        return True, f"the committed {LOCK_FILE} matches this run"
    stages = sorted(
        name
        for name in set(committed.get("stages", {})) | set(produced.get("stages", {}))
        if committed.get("stages", {}).get(name) != produced.get("stages", {}).get(name)
    )
    which = f" (stages: {', '.join(stages)})" if stages else ""
    return False, (
        f"the committed {LOCK_FILE} differs from this run{which}: "
        "commit the dvc.lock that `dvc repro` wrote"
    )


def _remote_check(root: Path) -> tuple[bool | None, str]:
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            remote = repo.config["core"].get("remote")
            if not remote:
                return None, "unknown: no default DVC remote is configured"
            # Ask the remote itself: the cached remote index can predate the last push or pull.
            status = repo.data_status(not_in_remote=True, remote_refresh=True, granular=False)
    except Exception as exc:
        return None, f"unknown: the DVC remote could not be checked ({_short(exc)})"
    missing = sorted(status.get("not_in_remote", []))
    tracked = set(status.get("unchanged", [])) | set(missing)
    if missing and set(missing) == tracked:
        # DVC cannot tell an empty remote from one this run may not read (a pull request from
        # a fork gets no credentials): say both rather than guess.
        return False, (
            f"nothing is in remote '{remote}': it was never pushed to, or this run cannot read "
            "it (no credentials: pull requests from forks get none)"
        )
    if missing:
        return False, (f"not in remote '{remote}' yet: {', '.join(missing)} (run `dvc push`)")
    return True, f"every DVC-tracked file is in remote '{remote}'"


def collect(root: Path, base_rev: str, paths: Paths) -> Collected:
    """Gather both sides; raise `ReportError` only when the candidate itself is unusable."""
    candidate, test = _collect_candidate(root, paths)
    lock_matches, lock_note = _lock_check(root)
    in_remote, remote_note = _remote_check(root)
    collected = Collected(
        base_rev=base_rev,
        root=root,
        candidate=candidate,
        test=test,
        reproducibility=Reproducibility(lock_matches, lock_note, in_remote, remote_note),
    )
    commit = _resolve(root, base_rev)
    if commit is None:
        collected.no_baseline = (
            f"the revision '{base_rev}' is not in this clone "
            f"(in CI, fetch it: `git fetch --depth=1 origin {base_rev}:{base_rev}`)"
        )
        return collected
    collected.base_params = _yaml(git_show(root, commit, paths.params))
    if git_show(root, commit, LOCK_FILE) is None:
        collected.no_baseline = f"'{base_rev}' has no {LOCK_FILE}: the pipeline never ran there"
        return collected
    base = _collect_base(root, base_rev, commit, paths)
    if base.model is None and base.metrics is None:
        collected.no_baseline = (
            f"'{base_rev}' has neither a reachable model nor recorded metrics "
            f"({base.missing.get('model', '')})"
        )
        return collected
    collected.base = base
    return collected
