"""What the service knows about the model before it decides how to run it.

Reads the MLflow `MLmodel` file (signature, metadata, pickled file) and hashes the pickle, but
does not unpickle it: unpickling imports scikit-learn, which the compiled predictor does not need.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class ModelNotServableError(RuntimeError):
    """The model directory lacks what the service needs; the message says what."""


@dataclass(frozen=True)
class ModelCard:
    path: Path
    # sha256 of the pickled pipeline, the same value as `saved_model.SavedModel.digest`.
    digest: str
    metadata: dict[str, Any]
    # The signature's input columns: [{"name": ..., "type": ..., "required": ...}, ...].
    inputs: list[dict[str, Any]]


def read(model_dir: Path | str) -> ModelCard:
    path = Path(model_dir)
    mlmodel = path / "MLmodel"
    if not mlmodel.is_file():
        raise ModelNotServableError(f"{path} is not an MLflow model directory (no MLmodel file)")
    spec = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
    flavor = (spec.get("flavors") or {}).get("sklearn") or {}
    pickled = path / str(flavor.get("pickled_model", ""))
    if not flavor or not pickled.is_file():
        raise ModelNotServableError(
            f"{path}: expected a scikit-learn flavor with its pickled model"
        )
    signature = (spec.get("signature") or {}).get("inputs")
    if not signature:
        raise ModelNotServableError(
            f"{path}: the model has no input signature to validate requests by"
        )
    return ModelCard(
        path=path,
        digest=hashlib.sha256(pickled.read_bytes()).hexdigest(),
        metadata=spec.get("metadata") or {},
        inputs=json.loads(signature),
    )


@dataclass(frozen=True)
class CompiledCheck:
    """The verdict of `churn compile` on one compiled directory, for one model."""

    usable: bool
    reason: str
    onnx_path: Path | None = None
    max_abs_diff: float | None = None


def check_compiled(compiled_dir: Path | str | None, card: ModelCard) -> CompiledCheck:
    """May the ONNX graph in `compiled_dir` stand in for the model on `card`?"""
    if compiled_dir is None:
        return CompiledCheck(False, "no compiled directory given")
    from churn.compile import CHECK_FILE, ONNX_FILE

    directory = Path(compiled_dir)
    try:
        check = json.loads((directory / CHECK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return CompiledCheck(False, f"no readable {CHECK_FILE} in {directory}: {exc}")
    if check.get("model_digest") != card.digest:
        return CompiledCheck(False, f"{directory} was compiled from another model")
    if not check.get("passed"):
        return CompiledCheck(False, f"the compile check failed: {check.get('reason')}")
    if not (directory / ONNX_FILE).is_file():
        return CompiledCheck(False, f"{directory / ONNX_FILE} is missing")
    return CompiledCheck(
        True,
        f"matches the pipeline within {check.get('tolerance')} on {check.get('rows')} test rows",
        onnx_path=directory / ONNX_FILE,
        max_abs_diff=check.get("max_abs_diff"),
    )
