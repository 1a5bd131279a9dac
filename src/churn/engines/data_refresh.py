"""The scheduled retraining's first step: replace the raw table with the latest one.

The raw table is the pipeline input that a `.dvc` file tracks (`data/wa_churn.csv` under
`data.dvc` today); it is found from `dvc.yaml`, not named here. The latest version is
downloaded from a configurable source (an `http(s)://` or `file://` URL, or a path the worker
can read), written in place atomically, re-hashed with `dvc commit` and pushed to the DVC
remote, so the workers that run the stages can pull it. The payload carries the new `.dvc`
file: the stages and the pull request pin exactly this data.

Nothing here checks the table's contents: the `prepare` stage validates it, so a bad table
stops the run before any model or pull request is made.
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from churn.engines import pipeline_graph, stage_task
from churn.engines.stage_task import Payload, TaskError

_URL_SCHEMES = ("http", "https", "file")
_TIMEOUT_S = 300


def raw_input(root: Path) -> tuple[str, str]:
    """(`.dvc` file, path) of the one pipeline input that a `.dvc` file tracks."""
    pipeline = pipeline_graph.read(root)
    found = {
        (dvc_file, dep)
        for stage in pipeline.stages
        for dvc_file in stage.data_files
        for dep in stage.deps
        if any(pipeline_graph.overlaps(dep, p) for p in pipeline.data_files[dvc_file])
    }
    if len(found) != 1:
        listed = ", ".join(f"{path} ({dvc_file})" for dvc_file, path in sorted(found)) or "none"
        raise TaskError(
            f"expected one raw input tracked by a .dvc file, found: {listed}; pass --out"
        )
    return found.pop()


def download(source: str, target: Path) -> None:
    """Copy `source` (URL or local path) over `target` all at once."""
    scheme = urllib.parse.urlsplit(source).scheme
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".download.", delete=False) as out:
        staging = Path(out.name)
        try:
            if scheme in _URL_SCHEMES:
                with urllib.request.urlopen(source, timeout=_TIMEOUT_S) as response:
                    shutil.copyfileobj(response, out)
            elif len(scheme) <= 1:  # no scheme, or a Windows drive letter
                with Path(source).open("rb") as handle:
                    shutil.copyfileobj(handle, out)
            else:
                raise TaskError(
                    f"unsupported data source {source!r}: use http(s)://, file:// or a path"
                )
        except OSError as exc:
            staging.unlink()
            raise TaskError(f"cannot read the data source {source!r}: {exc}") from exc
        except BaseException:
            staging.unlink()
            raise
    # Replacing the directory entry (never writing through it) leaves a linked DVC cache intact.
    staging.replace(target)


def refresh(root: Path, source: str, out: str | None = None) -> Payload:
    """Replace the raw table by `source`'s content; return the payload carrying the `.dvc` file."""
    if out is None:
        dvc_file, out = raw_input(root)
    else:
        tracking = pipeline_graph.read(root).data_files.items()
        inside = (f for f, paths in tracking for p in paths if out == p or out.startswith(p + "/"))
        dvc_file = next(inside, "")
        if not dvc_file:
            raise TaskError(f"{out} is not tracked by any .dvc file")
    head = stage_task.revision(root)
    before = (root / dvc_file).read_text(encoding="utf-8")
    # The tracked folder may hold other files: get them, so the new hash covers all of them.
    stage_task.run(root, "dvc", "pull", dvc_file)
    download(source, root / out)
    stage_task.run(root, "dvc", "commit", "--force", dvc_file)
    stage_task.run(root, "dvc", "push", dvc_file)
    after = (root / dvc_file).read_text(encoding="utf-8")
    return {
        "revision": head,
        "stage": None,
        "lock": None,
        "replaces": [dvc_file],
        "files": [{"path": dvc_file, "text": after}],
        "changed": after != before,
        "worker": stage_task.worker_name(),
    }
