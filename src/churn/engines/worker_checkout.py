"""A worker's own checkout of the project, for running orchestrator tasks on one machine.

On a real deployment each worker has its own clone and its own environment (`make install` in
its image). For Airflow on a laptop (`make airflow`), `create` makes that clone next to the
project: tasks then never touch the working copy (they check out revisions by force). It
shares the project's environment through a `.venv` link; tasks put the clone's `src/` first
on `PYTHONPATH`, so the code that runs is the revision's, not the working copy's. A DVC
remote given as a relative path is made absolute for the clone, so both use the same storage.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from churn.engines.stage_task import TaskError

VENV_LINK = ".venv"


def _remote_urls(repo: Path) -> dict[str, str]:
    """The repository's DVC remotes, local paths resolved the way DVC resolves them."""
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc:
        return {name: str(spec["url"]) for name, spec in dvc.config["remote"].items()}


def create(dest: Path, origin: str = ".") -> None:
    """Clone `origin` into `dest` (once), link this environment, share its DVC remotes."""
    dest = Path(dest)
    if (dest / ".git").exists():
        return
    cloned = subprocess.run(
        ["git", "clone", "--quiet", origin, str(dest)], capture_output=True, text=True, check=False
    )
    if cloned.returncode != 0:
        raise TaskError(f"cannot clone {origin}: {cloned.stderr.strip()}")
    (dest / VENV_LINK).symlink_to(Path(sys.prefix), target_is_directory=True)
    if not Path(origin).is_dir():
        return
    for name, url in _remote_urls(Path(origin)).items():
        if "://" not in url:  # a local folder: the clone must point at the same one
            subprocess.run(
                ["dvc", "remote", "modify", "--local", name, "url", str(Path(url).resolve())],
                cwd=dest,
                check=True,
                capture_output=True,
            )
