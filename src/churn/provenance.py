"""Where a run came from: the git commit (and what differed from it), the experiment that ran
it, and a content hash of the raw data."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path


def git_commit() -> str:
    """The checked-out commit (`-dirty` when tracked files differ); `unknown` outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def _pipeline_outputs() -> set[str]:
    """What the pipeline itself writes into git (dvc.lock, uncached metrics and plots)."""
    import yaml

    try:
        stages = yaml.safe_load(Path("dvc.yaml").read_text(encoding="utf-8"))["stages"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return {"dvc.lock"}
    outputs = {"dvc.lock"}
    for stage in stages.values():
        for kind in ("outs", "metrics", "plots"):
            for out in stage.get(kind) or []:
                outputs.add(next(iter(out)) if isinstance(out, dict) else str(out))
    return outputs


def changed_files() -> list[str]:
    """Tracked files, other than the pipeline's own outputs, that differ from the checked-out
    commit: the inputs that `-dirty` stands for."""
    try:
        listed = subprocess.run(
            ["git", "diff", "HEAD", "--name-only"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    outputs = _pipeline_outputs()

    def produced(path: str) -> bool:
        return any(path == out or path.startswith(out.rstrip("/") + "/") for out in outputs)

    return sorted(line for line in listed.splitlines() if line and not produced(line))


def working_tree_diff() -> str:
    """The diff of tracked files against the checked-out commit ('' when clean)."""
    try:
        return subprocess.run(
            ["git", "diff", "HEAD"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""


def experiment() -> dict[str, str]:
    """The DVC experiment this run belongs to, from what `dvc exp run` sets (else nothing)."""
    names = {"DVC_EXP_NAME": "dvc.experiment", "DVC_EXP_BASELINE_REV": "dvc.baseline_rev"}
    return {tag: os.environ[var] for var, tag in names.items() if os.environ.get(var)}


def project_root() -> Path:
    """The project's root, also from inside a `dvc exp run --temp` copy: DVC points `DVC_ROOT`
    at the real repository, so an experiment's records land in the project's own stores."""
    return Path(os.environ.get("DVC_ROOT") or ".")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
