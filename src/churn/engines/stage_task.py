"""One pipeline stage as one orchestrator task, in a worker's own checkout.

Workers share nothing but the git revision and the DVC remote. A task therefore receives, from
the tasks before it, *payloads*: each names the revision it ran at, the `dvc.lock` entry of the
stage it ran, and the small files that stage wrote outside the DVC cache (`cache: false`
outputs such as metrics and plots, or a refreshed `.dvc` file). `run_stage`:

1. writes the upstream payloads into the checkout (lock entries through DVC's own YAML writer,
   so `dvc.lock` reads exactly as if `dvc repro` had written it);
2. `dvc pull`s the stage's cached inputs, which the lock entries now pin to this run's hashes;
3. `dvc repro --single-item --pull <stage>`: DVC decides whether to run it (an unchanged stage
   is pulled, not rerun), then `dvc push`es its outputs and run-cache;
4. returns its own payload for the next tasks.

`assemble` writes every payload into a checkout, so its `dvc.lock` is the run's, then checks
the result the way a reviewer would: `dvc pull` gets every output from the remote and
`dvc status` finds nothing to rerun. DVC stays the single source of truth: the run's `dvc.lock`
and metrics equal what a plain `dvc repro` writes.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from churn import atomic
from churn.engines import pipeline_graph
from churn.user_error import UserError

Payload = dict[str, Any]


class TaskError(UserError, RuntimeError):
    """A task cannot do its part; the message says why and what to check."""


def run(root: Path, *args: str, capture: bool = False, check: bool = True) -> str:
    """Run a command in the checkout. Its output goes to stderr (the task's log) unless
    captured: stdout is reserved for the payload."""
    result = subprocess.run(
        args,
        cwd=root,
        stdout=subprocess.PIPE if capture else sys.stderr,
        stderr=sys.stderr,
        text=True,
        check=False,
    )
    if check and result.returncode != 0:
        raise TaskError(f"`{' '.join(args)}` failed with exit code {result.returncode}")
    return result.stdout or ""


def revision(root: Path) -> str:
    return run(root, "git", "rev-parse", "HEAD", capture=True).strip()


def _safe_path(root: Path, relative: str) -> Path:
    """A payload's path, refused unless it stays inside the checkout (and out of .git)."""
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or pure.parts[0] == ".git":
        raise TaskError(f"refusing payload path {relative!r}: not a plain path in the project")
    return root.joinpath(*pure.parts)


def _read_files(root: Path, paths: Iterable[str]) -> list[dict[str, str]]:
    files = []
    for relative in paths:
        base = _safe_path(root, relative)
        found = sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else [base]
        for path in found:
            if not path.is_file():
                raise TaskError(f"{relative} was not written by its stage")
            data = path.read_bytes()
            entry = {"path": path.relative_to(root).as_posix()}
            try:
                entry["text"] = data.decode("utf-8")
            except UnicodeDecodeError:
                entry["base64"] = base64.b64encode(data).decode("ascii")
            files.append(entry)
    return files


def _write_files(root: Path, payload: Payload) -> None:
    for replaced in payload.get("replaces", ()):
        target = _safe_path(root, replaced)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
    for entry in payload.get("files", ()):
        target = _safe_path(root, entry["path"])
        data = (
            entry["text"].encode("utf-8")
            if "text" in entry
            else base64.b64decode(entry["base64"], validate=True)
        )
        if target.is_symlink():
            target.unlink()  # a link into the DVC cache must not be written through
        atomic.write_bytes(target, data)


def _write_lock_entries(root: Path, entries: dict[str, dict]) -> None:
    """Set stages' `dvc.lock` entries the way `dvc repro` does (DVC's round-trip writer: other
    entries, their order and formatting stay as they were; new ones are appended)."""
    if not entries:
        return
    from dvc.utils.serialize import modify_yaml

    with modify_yaml(root / pipeline_graph.LOCK_FILE) as data:
        if not data:
            data.update({"schema": "2.0"})
        data["stages"] = data.get("stages", {})
        for name, entry in entries.items():
            data["stages"][name] = entry


def lock_entry(root: Path, name: str) -> dict:
    from dvc.utils.serialize import load_yaml

    lock_path = root / pipeline_graph.LOCK_FILE
    stages = load_yaml(lock_path).get("stages", {}) if lock_path.exists() else {}
    if name not in stages:
        raise TaskError(f"{pipeline_graph.LOCK_FILE} has no entry for stage {name!r}")
    # Plain JSON types: the entry travels through the orchestrator's store.
    return json.loads(json.dumps(stages[name]))


def check_revisions(root: Path, inputs: Sequence[Payload]) -> str:
    """The checkout's commit, after checking every input was made at that same commit."""
    head = revision(root)
    foreign = sorted({p["revision"] for p in inputs if p.get("revision") != head})
    if foreign:
        raise TaskError(
            f"this checkout is at {head} but inputs were made at {', '.join(foreign)}: every "
            "task of a run must work at the run's revision"
        )
    return head


def apply(root: Path, inputs: Sequence[Payload]) -> None:
    """Write the inputs' files, then their stages' lock entries, into the checkout."""
    for payload in inputs:
        _write_files(root, payload)
    _write_lock_entries(
        root, {p["stage"]: p["lock"] for p in inputs if p.get("stage") and p.get("lock")}
    )


def worker_name() -> str:
    """Which machine and checkout made a payload (shown in the orchestrator's UI)."""
    return f"{socket.gethostname()}:{os.getcwd()}"


def run_stage(root: Path, name: str, inputs: Sequence[Payload]) -> Payload:
    """Run stage `name` in the checkout at `root` on its upstream payloads; return its own."""
    stage = pipeline_graph.read(root).stage(name)
    head = check_revisions(root, inputs)
    apply(root, inputs)
    if stage.pull:
        run(root, "dvc", "pull", *stage.pull)
    run(root, "dvc", "repro", "--single-item", "--pull", name)
    run(root, "dvc", "push", "--run-cache", name)
    uncached = [out.path for out in stage.uncached_outs]
    return {
        "revision": head,
        "stage": name,
        "lock": lock_entry(root, name),
        "replaces": uncached,
        "files": _read_files(root, uncached),
        "worker": worker_name(),
    }


def assemble(root: Path, inputs: Sequence[Payload], *, verify: bool = True) -> Payload:
    """Write a whole run's payloads into the checkout: its `dvc.lock` becomes the run's.

    With `verify`, every output is pulled from the remote and `dvc status` must find the
    pipeline up to date, so a lock that does not hang together never leaves this function.
    """
    pipeline = pipeline_graph.read(root)
    head = check_revisions(root, inputs)
    ran = [p["stage"] for p in inputs if p.get("stage")]
    missing = [name for name in pipeline.names if name not in ran]
    if missing:
        raise TaskError(
            f"no payload for the stages {missing}: the DAG was generated from another "
            f"{pipeline_graph.PIPELINE_FILE} than the one at {head}; redeploy it"
        )
    by_stage = {name: p for p in inputs if (name := p.get("stage"))}
    others = [p for p in inputs if not p.get("stage")]
    apply(root, [*others, *(by_stage[name] for name in pipeline.names)])
    if verify:
        run(root, "dvc", "pull")
        status = run(root, "dvc", "status", "--json", capture=True)
        if json.loads(status or "{}"):
            raise TaskError(f"the assembled {pipeline_graph.LOCK_FILE} is inconsistent: {status}")
    written = [pipeline_graph.LOCK_FILE]
    for payload in inputs:
        written += [entry["path"] for entry in payload.get("files", ())]
    return {
        "revision": head,
        "stage": None,
        "lock": None,
        "replaces": [],
        "files": _read_files(root, dict.fromkeys(written)),
        "worker": worker_name(),
    }


def export(payload: Payload, out_dir: Path) -> list[Path]:
    """Write a payload's files under `out_dir`, laid out as in the project."""
    _write_files(out_dir, {"files": payload.get("files", ())})
    return [out_dir / entry["path"] for entry in payload.get("files", ())]
