"""The pipeline's stages and their edges, read from `dvc.yaml` and the `.dvc` files.

An orchestrator builds one task per stage from this, so the stage list is never copied by hand.
Stage B depends on stage A when one of B's deps is one of A's outputs (`outs`, `metrics` or
`plots`), or lies inside one, or contains one; this is how DVC itself draws `dvc dag` (a test
checks the two agree). Deps that a `.dvc` file tracks (the raw data) are inputs too.

This module imports only the standard library and PyYAML on purpose: Airflow's DAG processor,
which has neither DVC nor this package's dependencies, loads it by file path. What it does not
understand (`foreach`/`matrix` stages, `${...}` in paths, more than one `dvc.yaml`) is refused
with a clear message instead of being guessed. Paths may use DVC's `${...}` interpolation from
`params.yaml` and the file's `vars` (`- file.yaml`, `- file.yaml:key,...`, or a mapping), as
`dvc.yaml` does to read the raw table's path from the data contract.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

PIPELINE_FILE = "dvc.yaml"
DEFAULT_VARS = "params.yaml"  # DVC's default variables, when the file exists
_REFERENCE = re.compile(r"\$\{\s*([^}]*?)\s*\}")
LOCK_FILE = "dvc.lock"
_OUT_SECTIONS = ("outs", "metrics", "plots")


class PipelineError(ValueError):
    """dvc.yaml cannot be turned into a task graph."""


@dataclass(frozen=True)
class Output:
    path: str  # relative to the project root, POSIX separators
    cache: bool  # False: kept in git, not in the DVC cache (metrics, plots)


@dataclass(frozen=True)
class Stage:
    name: str
    deps: tuple[str, ...]
    outs: tuple[Output, ...]
    upstream: tuple[str, ...]  # stages whose outputs this one reads, in pipeline order
    pull: tuple[str, ...]  # paths to `dvc pull` before running: cached inputs made elsewhere
    data_files: tuple[str, ...]  # the `.dvc` files that track some of its deps

    @property
    def uncached_outs(self) -> tuple[Output, ...]:
        return tuple(out for out in self.outs if not out.cache)


@dataclass(frozen=True)
class Pipeline:
    stages: tuple[Stage, ...]  # dependencies first; dvc.yaml order among independent stages
    data_files: dict[str, tuple[str, ...]]  # `.dvc` file -> the paths it tracks

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        known = ", ".join(s.name for s in self.stages)
        raise PipelineError(f"no stage {name!r} in {PIPELINE_FILE} (stages: {known})")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(stage.name for stage in self.stages)


def overlaps(a: str, b: str) -> bool:
    """Whether two project paths are the same, or one lies inside the other."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _interpolate(path: str, context: dict, where: str) -> str:
    """`${a.b}` replaced by the value at a -> b of the variables, as DVC does."""

    def value(match: re.Match[str]) -> str:
        found: object = context
        for key in match.group(1).split("."):
            if not isinstance(found, dict) or key not in found:
                raise PipelineError(f"{where}: cannot resolve {match.group(0)} in {path!r}")
            found = found[key]
        if not isinstance(found, str | int | float) or isinstance(found, bool):
            raise PipelineError(f"{where}: {match.group(0)} is not a plain value")
        return str(found)

    return _REFERENCE.sub(value, path)


def _normalise(base: str, path: str, where: str, context: dict | None = None) -> str:
    path = _interpolate(path, context or {}, where)
    joined = posixpath.normpath(posixpath.join(base, path.replace(os.sep, "/")))
    if joined.startswith(("../", "/")) or joined == "..":
        raise PipelineError(f"{where}: {path!r} points outside the project")
    return joined


def _variables(root: Path, spec: dict) -> dict:
    """What `${...}` may refer to: params.yaml, then each `vars` entry (later ones win)."""
    context: dict = {}
    if (root / DEFAULT_VARS).is_file():
        context.update(_read_yaml(root / DEFAULT_VARS))
    for entry in spec.get("vars") or ():
        if isinstance(entry, dict):
            context.update(entry)
            continue
        name, _, keys = str(entry).partition(":")
        loaded = _read_yaml(root / name)
        wanted = [k.strip() for k in keys.split(",") if k.strip()] or list(loaded)
        missing = [k for k in wanted if k not in loaded]
        if missing:
            raise PipelineError(f"{PIPELINE_FILE}: vars {entry!r}: no {missing} in {name}")
        context.update({k: loaded[k] for k in wanted})
    return context


def _entry_path(entry: object, where: str) -> tuple[str, dict]:
    """`- path` or `- path: {options}` as (path, options)."""
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, dict) and len(entry) == 1:
        ((path, options),) = entry.items()
        return str(path), dict(options or {})
    raise PipelineError(f"{where}: cannot read entry {entry!r}")


def _outputs(spec: dict, base: str, where: str, context: dict) -> Iterator[Output]:
    for section in _OUT_SECTIONS:
        for entry in spec.get(section) or ():
            path, options = _entry_path(entry, f"{where} {section}")
            yield Output(_normalise(base, path, where, context), bool(options.get("cache", True)))


def _read_yaml(path: Path) -> dict:
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PipelineError(f"cannot read {path}: {exc}") from exc
    return content or {}


def _data_files(root: Path, skip: set[str]) -> dict[str, tuple[str, ...]]:
    """Every `.dvc` file of the project and the paths it tracks.

    Hidden folders and stage outputs are not walked into; a second `dvc.yaml` is refused.
    """
    found: dict[str, tuple[str, ...]] = {}
    for folder, dirs, files in os.walk(root):
        rel_folder = Path(folder).relative_to(root).as_posix()
        base = "" if rel_folder == "." else rel_folder
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and d != "__pycache__" and posixpath.join(base, d) not in skip
        )
        if base and PIPELINE_FILE in files:
            raise PipelineError(
                f"{base}/{PIPELINE_FILE}: only one {PIPELINE_FILE}, at the project root, is "
                "supported here"
            )
        for name in sorted(f for f in files if f.endswith(".dvc")):
            rel = posixpath.join(base, name)
            outs = _read_yaml(Path(folder) / name).get("outs") or ()
            found[rel] = tuple(_normalise(base, str(out["path"]), rel) for out in outs)
    return found


def _stage_specs(root: Path) -> list[tuple[str, tuple[str, ...], tuple[Output, ...]]]:
    spec = _read_yaml(root / PIPELINE_FILE)
    context = _variables(root, spec)
    stages = spec.get("stages") or {}
    if not isinstance(stages, dict) or not stages:
        raise PipelineError(f"{root / PIPELINE_FILE} defines no stages")
    read = []
    for name, stage in stages.items():
        where = f"{PIPELINE_FILE}: stage {name!r}"
        if not isinstance(stage, dict):
            raise PipelineError(f"{where}: expected a mapping")
        if "foreach" in stage or "matrix" in stage:
            raise PipelineError(f"{where}: foreach/matrix stages are not supported here")
        base = _normalise("", str(stage.get("wdir", ".")), where, context)
        base = "" if base == "." else base
        deps = tuple(
            _normalise(base, _entry_path(dep, where)[0], where, context)
            for dep in stage.get("deps") or ()
        )
        read.append((str(name), deps, tuple(_outputs(stage, base, where, context))))
    return read


def _in_order(names: list[str], upstream: dict[str, set[str]]) -> list[str]:
    """Dependencies first; among stages that are ready together, dvc.yaml's order."""
    done: list[str] = []
    waiting = list(names)
    while waiting:
        ready = next((n for n in waiting if upstream[n] <= set(done)), None)
        if ready is None:
            raise PipelineError(f"{PIPELINE_FILE}: the stages {waiting} depend on each other")
        done.append(ready)
        waiting.remove(ready)
    return done


def _narrower(a: str, b: str) -> str:
    """Of two overlapping paths, the one inside the other: what to pull, no more."""
    return a if len(a) >= len(b) else b


def _overlapping(paths: Iterable[str], others: Iterable[str]) -> list[tuple[str, str]]:
    return [(p, o) for p in paths for o in others if overlaps(p, o)]


def read(root: Path) -> Pipeline:
    """The pipeline of the project at `root`, stages in an order that respects their edges."""
    root = Path(root)
    specs = _stage_specs(root)
    all_outs = {out.path for _, _, outs in specs for out in outs}
    data_files = _data_files(root, skip=all_outs)

    producers = {name: outs for name, _, outs in specs}
    upstream: dict[str, set[str]] = {}
    stages: dict[str, Stage] = {}
    for name, deps, outs in specs:
        ups, pull, sources = set(), [], []
        for other, other_outs in producers.items():
            if other == name:
                continue
            for dep, out in _overlapping(deps, [o.path for o in other_outs]):
                ups.add(other)
                cached = next(o.cache for o in other_outs if o.path == out)
                if cached:
                    pull.append(_narrower(dep, out))
        for dvc_file, tracked in data_files.items():
            for dep, out in _overlapping(deps, tracked):
                sources.append(dvc_file)
                pull.append(_narrower(dep, out))
        upstream[name] = ups
        stages[name] = Stage(
            name=name,
            deps=deps,
            outs=outs,
            upstream=(),
            pull=tuple(dict.fromkeys(pull)),
            data_files=tuple(dict.fromkeys(sources)),
        )
    order = _in_order([name for name, _, _ in specs], upstream)
    return Pipeline(
        stages=tuple(
            Stage(**{**stages[n].__dict__, "upstream": tuple(u for u in order if u in upstream[n])})
            for n in order
        ),
        data_files=data_files,
    )
