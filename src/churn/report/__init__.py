"""`churn report`: the pull-request report comparing the workspace (candidate) with a git
revision (baseline), and the gate that decides whether the candidate may replace it.

`collect` does all the git and DVC I/O, `compare` decides (bootstrap, gate, diffs), `render`
turns the result into Markdown and JSON, `charts` draws. This package never imports `train`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

EXIT_PASSED = 0
EXIT_GATE_FAILED = 1


def _relative(root: Path, path: Path) -> str:
    return Path(path).resolve().relative_to(root).as_posix()


def run(
    base_rev: str,
    *,
    model: Path,
    prepared: Path,
    raw: Path,
    metrics: Path,
    params: Path,
    out: Path,
    json_out: Path | None = None,
    assets: Path | None = None,
) -> int:
    """Write the report; return 0 when the gate passes and 1 when it fails.

    Raises `collect.ReportError` (or a params/model error) when no report can be made.
    """
    from churn import atomic
    from churn.report import charts, collect, compare, render

    root = collect.repo_root(Path.cwd())
    try:
        paths = collect.Paths(
            *(_relative(root, p) for p in (model, prepared, raw, metrics, params))
        )
    except ValueError:
        raise collect.ReportError(f"every path must be inside the repository {root}") from None
    collected = collect.collect(root, base_rev, paths)
    data = compare.build(collected, command=f"make report BASE={base_rev}")
    if assets is not None:
        data = dataclasses.replace(data, assets=charts.write_pngs(data, Path(assets)))
    atomic.write_text(Path(out), render.render(data))
    if json_out is not None:
        atomic.write_text(Path(json_out), render.render_json(data))
    gate = "passed" if data.verdict.passed else "FAILED"
    print(f"{data.verdict.kind}: {data.verdict.reason} Gate {gate}. Report: {out}")
    return EXIT_PASSED if data.verdict.passed else EXIT_GATE_FAILED
