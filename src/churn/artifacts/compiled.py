"""The compiled model `churn compile` writes: `model.onnx` and `check.json`, the proof that the
ONNX graph scores the test split like the pipeline it was compiled from.

The one owner of that layout: the compile stage writes through `write`, the service asks
`check` whether the graph may stand in for the model it serves. Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ONNX_FILE = "model.onnx"
CHECK_FILE = "check.json"
# Probabilities from the compiled predictor may differ from the pipeline's by at most this much.
TOLERANCE = 1e-6


@dataclass(frozen=True)
class CompiledCheck:
    """The verdict of `churn compile` on one compiled directory, for one model."""

    usable: bool
    reason: str
    onnx_path: Path | None = None
    max_abs_diff: float | None = None


def write(staging: Path, onnx_bytes: bytes | None, check: dict[str, Any]) -> None:
    """Fill a (staging) directory with the graph, if any, and its check."""
    if onnx_bytes is not None:
        (staging / ONNX_FILE).write_bytes(onnx_bytes)
    (staging / CHECK_FILE).write_text(json.dumps(check, indent=2) + "\n", encoding="utf-8")


def check(compiled_dir: Path | str | None, model_digest: str) -> CompiledCheck:
    """May the ONNX graph in `compiled_dir` stand in for the model with `model_digest`?"""
    if compiled_dir is None:
        return CompiledCheck(False, "no compiled directory given")
    directory = Path(compiled_dir)
    try:
        recorded = json.loads((directory / CHECK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return CompiledCheck(False, f"no readable {CHECK_FILE} in {directory}: {exc}")
    if recorded.get("model_digest") != model_digest:
        return CompiledCheck(False, f"{directory} was compiled from another model")
    if not recorded.get("passed"):
        return CompiledCheck(False, f"the compile check failed: {recorded.get('reason')}")
    if not (directory / ONNX_FILE).is_file():
        return CompiledCheck(False, f"{directory / ONNX_FILE} is missing")
    return CompiledCheck(
        True,
        f"matches the pipeline within {recorded.get('tolerance')} on "
        f"{recorded.get('rows')} test rows",
        onnx_path=directory / ONNX_FILE,
        max_abs_diff=recorded.get("max_abs_diff"),
    )
