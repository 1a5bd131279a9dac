"""`churn report`: the pull-request report comparing the workspace (candidate) with a git
revision (baseline), and the gate that decides whether the candidate may replace it.

`collect` does all the git and DVC I/O, `policy` picks the gate policy (the base's), `compare`
decides (bootstrap, gate, diffs), `render` turns the result into Markdown and JSON, `charts`
draws. This package never imports `train`.

Exit codes mean what they say: 0 the gate passed, 1 the gate failed, 2 no report could be made
(any error, expected or not). Even then a short `report.md` states the reason, so the pull
request's comment says why there is no verdict.
"""

from __future__ import annotations

import dataclasses
import sys
import traceback
from pathlib import Path

EXIT_PASSED = 0
EXIT_GATE_FAILED = 1
EXIT_NO_REPORT = 2


def _relative(root: Path, path: Path) -> str:
    return Path(path).resolve().relative_to(root).as_posix()


def _expected_errors() -> tuple[type[Exception], ...]:
    """Errors whose message says all there is to say (no traceback needed)."""
    from churn.artifacts.saved_model import ModelLoadError
    from churn.contract import ContractError
    from churn.params import ParamsError
    from churn.report.collect import ReportError

    return (ReportError, ParamsError, ModelLoadError, ContractError)


def _write_short(
    kind: str, reason: str, *, exit_code: int, base_rev: str, out: Path, json_out: Path | None
) -> None:
    from churn import atomic
    from churn.report import render

    command = f"make report BASE={base_rev}"
    atomic.write_text(Path(out), render.render_short(kind, base_rev, reason, command, exit_code))
    if json_out is not None:
        atomic.write_text(
            Path(json_out), render.render_short_json(kind, base_rev, reason, exit_code)
        )


def _compare(
    base_rev: str, paths: dict[str, Path], out: Path, json_out: Path | None, assets: Path | None
) -> int:
    from churn import atomic
    from churn.report import charts, collect, compare, render

    root = collect.repo_root(Path.cwd())
    try:
        relative = collect.Paths(**{k: _relative(root, p) for k, p in paths.items()})
    except ValueError:
        raise collect.ReportError(f"every path must be inside the repository {root}") from None
    collected = collect.collect(root, base_rev, relative)
    data = compare.build(collected, command=f"make report BASE={base_rev}")
    if assets is not None:
        data = dataclasses.replace(data, assets=charts.write_pngs(data, Path(assets)))
    code = EXIT_PASSED if data.verdict.passed else EXIT_GATE_FAILED
    atomic.write_text(Path(out), render.render(data))
    if json_out is not None:
        atomic.write_text(Path(json_out), render.render_json(data, code))
    gate = "passed" if data.verdict.passed else "FAILED"
    print(f"{data.verdict.kind}: {data.verdict.reason} Gate {gate}. Report: {out}")
    return code


def run(
    base_rev: str,
    *,
    model: Path,
    prepared: Path,
    raw: Path,
    metrics: Path,
    params: Path,
    gate: Path,
    out: Path,
    json_out: Path | None = None,
    assets: Path | None = None,
) -> int:
    """Write the report; return 0 when the gate passes, 1 when it fails, 2 when no report
    could be made (the reason on stderr and in a short report)."""
    from churn.report.collect import DataUnavailableError

    paths = {
        "model": model,
        "prepared": prepared,
        "raw": raw,
        "metrics": metrics,
        "params": params,
        "gate": gate,
    }
    try:
        return _compare(base_rev, paths, out, json_out, assets)
    except DataUnavailableError as exc:
        kind, reason, code = "data_unavailable", str(exc), EXIT_GATE_FAILED
        print(f"churn report: the gate fails: {reason}", file=sys.stderr)
    except Exception as exc:
        kind, code = "no_report", EXIT_NO_REPORT
        if isinstance(exc, _expected_errors()):
            reason = str(exc)
        else:
            # A bug, not the user's doing: keep the traceback for whoever fixes it.
            traceback.print_exc()
            reason = f"unexpected error in the report ({type(exc).__name__}: {exc})"
        print(f"churn report: no report could be made: {reason}", file=sys.stderr)
    try:
        _write_short(kind, reason, exit_code=code, base_rev=base_rev, out=out, json_out=json_out)
    except OSError as exc:
        print(f"churn report: could not write {out} either: {exc}", file=sys.stderr)
    return code
