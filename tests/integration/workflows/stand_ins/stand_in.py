"""Local stand-ins for the GitHub-hosted actions the workflows use, for running them under act.

Each `<action>/action.yml` here is a composite action with the same inputs as the real action
(those our workflows use) and one step: `python3 $STANDIN_SCRIPT <action>`. Where the real
action talks to GitHub, this talks to local directories the test owns:

- checkout:        clones $STANDIN_GIT_ORIGIN (the test's "GitHub" repository) at the event's
                   ref, honouring fetch-depth (0: every branch as origin/<name>).
- setup-python:    puts the host interpreter of the requested version (python-version, or
                   the file python-version-file names) on PATH, and links the bytecode an
                   earlier job compiled (the test run's shortcut, see _link_earlier_bytecode).
- cache[/restore]: restores $STANDIN_CACHE/<key> (or the newest restore-keys prefix match).
- cache/save:      saves to $STANDIN_CACHE/<key>. (A composite action has no post step, so the
                   plain `actions/cache` stand-in restores only.)
- upload-artifact: copies the paths to $STANDIN_ARTIFACTS/<run id>/<name>, rooted like the real
                   one at the paths' common directory.
- download-artifact: copies $STANDIN_ARTIFACTS/<run-id input>/<name> to `path`.
Nothing here uses the network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def _input(name: str, default: str = "") -> str:
    return os.environ.get(f"INPUT_{name.upper().replace('-', '_')}", default).strip()


def _workspace() -> Path:
    return Path(os.environ["GITHUB_WORKSPACE"])


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def checkout() -> None:
    workspace = _workspace()
    for child in workspace.iterdir():
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    origin = os.environ["STANDIN_GIT_ORIGIN"]
    ref = _input("ref") or os.environ.get("GITHUB_REF") or os.environ["GITHUB_SHA"]
    depth = int(_input("fetch-depth", "1") or "1")
    _git("init", "-q", cwd=workspace)
    _git("remote", "add", "origin", origin, cwd=workspace)
    shallow = [] if depth == 0 else [f"--depth={depth}"]
    if depth == 0:
        _git("fetch", "-q", "origin", "+refs/heads/*:refs/remotes/origin/*", cwd=workspace)
    _git("fetch", "-q", *shallow, "origin", f"+{ref}:refs/remotes/checkout/target", cwd=workspace)
    _git("checkout", "-q", "--detach", "refs/remotes/checkout/target", cwd=workspace)
    head = _git("rev-parse", "HEAD", cwd=workspace)
    print(f"stand-in checkout: {ref} at {head} (fetch-depth {depth}) from the test's origin")


def setup_python() -> None:
    version = _input("python-version")
    if not version and _input("python-version-file"):
        version = (_workspace() / _input("python-version-file")).read_text().strip()
    executable = shutil.which(f"python{version}", path=os.environ["STANDIN_HOST_PATH"])
    if executable is None:
        sys.exit(f"stand-in setup-python: no python{version} on the host")
    bin_dir = Path(executable).resolve().parent
    with open(os.environ["GITHUB_PATH"], "a", encoding="utf-8") as handle:
        handle.write(f"{bin_dir}\n")
    print(f"stand-in setup-python: {executable}")
    _link_earlier_bytecode()


def _link_earlier_bytecode() -> None:
    """The test-run's shortcut, not GitHub's: the bytecode an earlier job compiled for the same
    locked packages, linked under this job's environment (`.venv`, which `make install` makes
    next). PYTHONPYCACHEPREFIX keys its files by source path, and each act job has a workspace
    of its own, so every job would otherwise compile the same ~6,000 modules again. Python
    checks each file against its source's size and time (uv links the same files into every
    environment) and replaces, never rewrites, one that does not match."""
    prefix = os.environ.get("PYTHONPYCACHEPREFIX")
    if not prefix:
        return
    here = _workspace() / ".venv" / "lib"
    jobs = Path(prefix + str(_workspace().parent.parent))  # every workspace's mirror
    earlier = [lib for lib in jobs.glob("*/*/.venv/lib") if lib != Path(prefix + str(here))]
    if earlier:
        source = max(earlier, key=lambda lib: lib.stat().st_mtime)
        try:
            shutil.copytree(source, prefix + str(here), copy_function=os.link, dirs_exist_ok=True)
        except (OSError, shutil.Error) as exc:  # only a shortcut: the job compiles what it needs
            print(f"stand-in setup-python: bytecode not linked ({exc})")
        else:
            print(f"stand-in setup-python: bytecode linked from {source}")


def _cache_dir(path: str) -> Path:
    target = Path(os.path.expanduser(path))
    return target if target.is_absolute() else _workspace() / target


def cache_restore() -> None:
    store = Path(os.environ["STANDIN_CACHE"])
    key = _input("key")
    candidates = [store / key] if (store / key).is_dir() else []
    for prefix in filter(None, _input("restore-keys").splitlines()):
        matches = sorted(
            (p for p in store.glob("*") if p.name.startswith(prefix.strip())),
            key=lambda p: p.stat().st_mtime,
        )
        candidates += matches[-1:]
    if not candidates:
        print(f"stand-in cache: miss for {key}")
        return
    entry = candidates[0]
    for path in filter(None, _input("path").splitlines()):
        saved = entry / path.strip().lstrip("~/")
        if saved.is_dir():
            shutil.copytree(saved, _cache_dir(path.strip()), dirs_exist_ok=True)
    print(f"stand-in cache: restored {entry.name} for {key}")


def cache_save() -> None:
    entry = Path(os.environ["STANDIN_CACHE"]) / _input("key")
    for path in filter(None, _input("path").splitlines()):
        shutil.copytree(_cache_dir(path.strip()), entry / path.strip().lstrip("~/"))
    print(f"stand-in cache: saved {entry.name}")


def upload_artifact() -> None:
    workspace = _workspace()
    paths = [workspace / p.strip() for p in _input("path").splitlines() if p.strip()]
    existing = [p for p in paths if p.exists()]
    if not existing:
        if _input("if-no-files-found", "warn") == "error":
            sys.exit(f"stand-in upload-artifact: no files found at {paths}")
        return
    root = Path(os.path.commonpath([p if p.is_dir() else p.parent for p in existing]))
    target = Path(os.environ["STANDIN_ARTIFACTS"]) / os.environ["GITHUB_RUN_ID"] / _input("name")
    for path in existing:
        destination = target / path.relative_to(root)
        if path.is_dir():
            shutil.copytree(path, destination, dirs_exist_ok=True)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
    print(f"stand-in upload-artifact: {target}")


def download_artifact() -> None:
    run_id = _input("run-id") or os.environ["GITHUB_RUN_ID"]
    if _input("run-id") and not _input("github-token"):
        sys.exit("stand-in download-artifact: run-id needs github-token, as the real action does")
    source = Path(os.environ["STANDIN_ARTIFACTS"]) / run_id / _input("name")
    if not source.is_dir():
        sys.exit(f"stand-in download-artifact: no artifact {_input('name')!r} in run {run_id}")
    destination = Path(_input("path")) if _input("path") else _workspace()
    shutil.copytree(source, destination, dirs_exist_ok=True)
    print(f"stand-in download-artifact: {source} -> {destination}")


ACTIONS = {
    "checkout": checkout,
    "setup-python": setup_python,
    "cache-restore": cache_restore,
    "cache-save": cache_save,
    "upload-artifact": upload_artifact,
    "download-artifact": download_artifact,
}

if __name__ == "__main__":
    ACTIONS[sys.argv[1]]()
