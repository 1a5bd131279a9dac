"""All the report's I/O: the candidate from the workspace, the baseline from a git revision.

Git-tracked files of the base (params, dvc.lock, recorded metrics) come from `git show`, which
works in a shallow clone; DVC-tracked outputs (the model, the raw data) come through DVC at that
revision, from the local cache or the remote. Nothing of the base revision's code is run.
Whatever cannot be obtained is recorded with the reason, so the report can say so.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from churn import provenance
from churn.artifacts import prepared_split, saved_model
from churn.contract import Contract
from churn.contract import load as load_contract
from churn.report import datadiff, policy
from churn.report.contents import Reproducibility
from churn.user_error import UserError

LOCK_FILE = "dvc.lock"


class ReportError(UserError, RuntimeError):
    """The report cannot be made at all (the message says what to do)."""


class DataUnavailableError(ReportError):
    """The candidate's data could not be fetched, so it could not be trained or judged: the
    gate fails, and the message says which data and what to do."""


@dataclass(frozen=True)
class Paths:
    """Where the pipeline keeps things, relative to the repository root (as in `dvc.yaml`)."""

    model: str
    prepared: str
    raw: str
    metrics: str
    params: str
    gate: str


@dataclass
class Side:
    """One revision's materials; `missing` says what could not be had, and why."""

    commit: str | None = None
    params: dict[str, Any] | None = None
    metrics: dict[str, float] | None = None
    model: saved_model.SavedModel | None = None
    # The data contract the model was trained under (always the candidate's; the base's when
    # its model kept one).
    contract: Contract | None = None
    raw: datadiff.TableProfile | None = None
    raw_sha256: str | None = None
    # The ids of the rows the model was trained on (base only).
    train_ids: np.ndarray | None = None
    missing: dict[str, str] = field(default_factory=dict)


@dataclass
class Collected:
    base_rev: str
    root: Path
    candidate: Side
    test: prepared_split.TestSplit
    reproducibility: Reproducibility
    policy: policy.Policy
    base: Side | None = None
    # Why there is no baseline, when `base` is None.
    no_baseline: str = ""
    # The base revision's params, read even without a baseline (for the params diff).
    base_params: dict[str, Any] | None = None
    # Both sides' gate policies as written, for the diff (base: its gate file or legacy section).
    gate_documents: tuple[Any, Any] = (None, None)


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


def _read_raw(path: Path) -> tuple[datadiff.TableProfile, str]:
    """The raw table's profile and hash, both read in a streaming pass each."""
    return datadiff.read_profile(path), provenance.file_sha256(path)


def _short(message: object) -> str:
    text = str(message).strip().splitlines()
    return text[-1] if text else type(message).__name__


def _contract_of(model_dir: Path) -> Contract | None:
    """The contract a model was trained under (None for a model saved before models kept one,
    or one whose contract this code cannot read)."""
    from churn.contract import ContractError

    try:
        return load_contract(saved_model.read(model_dir).contract)
    except (ContractError, saved_model.ModelLoadError):
        return None


def _pins_the_workspace_file(fs: Any, path: str, local: Path) -> bool:
    """Does the revision behind `fs` pin exactly the bytes of `local`? DVC's own md5 of the file,
    read from the pin, against the workspace file's (a hash of another kind, e.g. an old DVC's,
    only means no)."""
    try:
        pinned = fs.info(path).get("md5")
        with local.open("rb") as handle:
            return pinned == hashlib.file_digest(handle, "md5").hexdigest()
    except Exception:  # unknown is no: the file is then read
        return False


def _collect_base(root: Path, rev: str, commit: str, paths: Paths, candidate: Side) -> Side:
    from dvc.api import DVCFileSystem

    id_column = candidate.contract.id.name

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
            side.contract = _contract_of(Path(tmp) / "model")
        except Exception as exc:
            side.missing["model"] = (
                f"the model of {rev} is in neither the DVC cache nor the remote ({_short(exc)})"
            )
        train_file = f"{paths.prepared}/{prepared_split.TRAIN_FILE}"
        try:
            with fs.open(train_file, "rb") as handle:
                side.train_ids = pd.read_parquet(handle, columns=[id_column])[id_column].to_numpy()
        except Exception as exc:
            side.missing["split"] = f"the training split of {rev} could not be read ({_short(exc)})"
        try:
            if candidate.raw is not None and _pins_the_workspace_file(
                fs, paths.raw, root / paths.raw
            ):
                # The usual pull request changes code or params, not data: the base's table is
                # the candidate's, profiled once.
                side.raw, side.raw_sha256 = candidate.raw, candidate.raw_sha256
            else:
                raw_copy = Path(tmp) / "raw"
                with fs.open(paths.raw, "rb") as source, raw_copy.open("wb") as target:
                    shutil.copyfileobj(source, target, 1 << 20)
                side.raw, side.raw_sha256 = _read_raw(raw_copy)
        except Exception as exc:
            side.missing["data"] = f"the data of {rev} could not be read ({_short(exc)})"
    return side


def _pinned_outs(root: Path, rev: str | None, dvc_file: str) -> Any:
    """What `dvc_file` pins at `rev` (None: the workspace), as written."""
    content = git_show(root, rev, dvc_file) if rev else (root / dvc_file).read_bytes()
    return (_yaml(content) or {}).get("outs") if content is not None else None


def _unavailable_data(root: Path, base_commit: str, raw: str) -> str | None:
    """Why the candidate's raw data cannot be had, when this branch changed it and it is in
    neither the workspace, the DVC cache nor the remote; None when that is not the problem."""
    from dvc.repo import Repo

    if (root / raw).exists():
        return None
    try:
        with Repo(str(root)) as repo:
            (out,) = repo.find_outs_by_path(raw, strict=False)[:1]
            dvc_file = out.stage.relpath
            if _pinned_outs(root, None, dvc_file) == _pinned_outs(root, base_commit, dvc_file):
                return None  # the base's data: `make data` gets it like the base's did
            if Path(out.cache_path).exists():
                return None
            remote = repo.config["core"].get("remote")
            try:
                # Asked of the remote itself: `dvc status --cloud` says nothing of files that
                # are missing everywhere.
                odb = repo.cloud.get_remote_odb(None, "status", hash_name=out.hash_info.name)
                in_remote = odb.exists(out.hash_info.value)
            except Exception:  # no remote, or none this run may read
                in_remote = False
    except Exception:
        return None
    if in_remote:
        return None
    where = f"the DVC remote '{remote}'" if remote else "any DVC remote (none is set)"
    return (
        f"this branch changes the data: `{out.def_path}` as pinned by `{dvc_file}` "
        f"(md5 {out.hash_info.value}) is in neither this run's DVC cache nor {where} as far "
        "as this run can read it, so it "
        "could not be fetched, and the model could not be trained on it. Push the data to a "
        "DVC remote that CI can read, then push a commit to rerun this check: "
        f"`dvc push {dvc_file}` (the remote and CI's read credentials are set up as in "
        'docs/ci.md, "Secrets and variables"). For a pull request from a fork, CI runs '
        "without the project's credentials and you cannot push to its remote: a maintainer "
        f"must push the data there (`dvc push {dvc_file}` from a checkout that has it)"
    )


def _collect_candidate(
    root: Path, base_commit: str, paths: Paths
) -> tuple[Side, prepared_split.TestSplit]:
    model_dir = root / paths.model
    test_file = prepared_split.test_file(root / paths.prepared)
    for needed in (model_dir, test_file, root / paths.params):
        if not needed.exists():
            unavailable = _unavailable_data(root, base_commit, paths.raw)
            if unavailable:
                raise DataUnavailableError(unavailable)
            raise ReportError(
                f"{needed.relative_to(root)} is missing: run the pipeline first (`make run`; in "
                "CI, an earlier step failed: see the job's log)"
            )
    _check_up_to_date(root, paths)
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
        side.raw, side.raw_sha256 = _read_raw(raw_file)
    else:
        side.missing["data"] = f"{paths.raw} is not in the workspace"
    return side, prepared_split.TestSplit(root / paths.prepared)


def _check_up_to_date(root: Path, paths: Paths) -> None:
    """Refuse to judge outputs that the workspace's code, params and data would not produce
    (a failed or skipped `dvc repro` can leave an older model in place)."""
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            status = repo.status(targets=[paths.model, paths.prepared], with_deps=True)
    except Exception as exc:
        raise ReportError(
            f"could not check that {paths.model} is up to date with the workspace "
            f"(`dvc status`: {_short(exc)})"
        ) from None
    stale = []
    for stage, changes in status.items():
        for change in changes:
            # An output that is right but only absent from the local cache is not stale.
            if (
                isinstance(change, dict)
                and set(change) == {"changed outs"}
                and all(v == "not in cache" for v in change["changed outs"].values())
            ):
                continue
            stale.append(stage)
            break
    if stale:
        raise ReportError(
            f"the pipeline's outputs are not up to date with this workspace (`dvc status` "
            f"names {', '.join(sorted(stale))}): run `make repro`, then the report, so that it "
            "judges the model this commit produces"
        )


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


def _gate_documents(sources: policy.PolicySources) -> tuple[Any, Any]:
    base = _yaml(sources.base_gate)
    if sources.base_gate is None:
        base = (_yaml(sources.base_params) or {}).get(policy.LEGACY_SECTION)
    return base, _yaml(sources.candidate_gate)


def _policy(
    root: Path, base_rev: str, commit: str, paths: Paths
) -> tuple[policy.Policy, tuple[Any, Any]]:
    gate_file = root / paths.gate
    sources = policy.PolicySources(
        base_rev=base_rev,
        gate_file=paths.gate,
        params_file=paths.params,
        base_gate=git_show(root, commit, paths.gate),
        base_params=git_show(root, commit, paths.params),
        candidate_gate=gate_file.read_bytes() if gate_file.is_file() else None,
    )
    try:
        return policy.resolve(sources), _gate_documents(sources)
    except policy.PolicyError as exc:
        raise ReportError(f"no gate policy can judge this candidate: {exc}") from None


def collect(root: Path, base_rev: str, paths: Paths) -> Collected:
    """Gather both sides; raise `ReportError` when no trustworthy report can be made: the base
    revision does not exist, its gate policy cannot be read, or the candidate is unusable."""
    commit = _resolve(root, base_rev)
    if commit is None:
        raise ReportError(
            f"the base revision '{base_rev}' does not resolve to a commit in this clone, so "
            "neither its model nor its gate policy can be read (in CI, fetch it first: "
            f"`git fetch origin {base_rev}`)"
        )
    gate_policy, gate_documents = _policy(root, base_rev, commit, paths)
    candidate, test = _collect_candidate(root, commit, paths)
    lock_matches, lock_note = _lock_check(root)
    in_remote, remote_note = _remote_check(root)
    collected = Collected(
        base_rev=base_rev,
        root=root,
        candidate=candidate,
        test=test,
        reproducibility=Reproducibility(lock_matches, lock_note, in_remote, remote_note),
        policy=gate_policy,
        base_params=_yaml(git_show(root, commit, paths.params)),
        gate_documents=gate_documents,
    )
    if git_show(root, commit, LOCK_FILE) is None:
        collected.no_baseline = f"'{base_rev}' has no {LOCK_FILE}: the pipeline never ran there"
        return collected
    base = _collect_base(root, base_rev, commit, paths, candidate)
    if base.model is None and base.metrics is None:
        collected.no_baseline = (
            f"'{base_rev}' has neither a reachable model nor recorded metrics "
            f"({base.missing.get('model', '')})"
        )
        return collected
    collected.base = base
    return collected
