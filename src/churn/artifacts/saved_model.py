"""The model directory `train` writes (MLflow's format), read without importing MLflow.

The one owner of that layout: the service, the report, the score store, the wheel, the model
card and the registration all read it through here. `read` parses `MLmodel` and hashes the
pickle without unpickling it (the service's ONNX path never imports scikit-learn); `load`
also unpickles the pipeline.

Standard library, PyYAML and cloudpickle only: `churn wheel` copies this file into the wheel
as the embedded model's loader.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MLMODEL = "MLmodel"
INPUT_EXAMPLE = "serving_input_example.json"
REQUIREMENTS = "requirements.txt"
# The data contract the model was trained with, copied beside it: what its inputs may be.
CONTRACT = "contract.yaml"
_FLAVOR = "sklearn"


class ModelLoadError(RuntimeError):
    """The directory is not a model this project saved; the message says what is missing."""


@dataclass(frozen=True)
class ModelCard:
    """What the directory says about the model, read without unpickling it."""

    path: Path
    # sha256 of the pickled pipeline: identifies exactly which model this is.
    digest: str
    metadata: dict[str, Any]
    # The signature's input columns: [{"name": ..., "type": ..., "required": ...}, ...].
    inputs: list[dict[str, Any]]
    pickle_file: Path
    sklearn_version: str
    python_version: str

    @property
    def input_example(self) -> Path:
        return self.path / INPUT_EXAMPLE

    @property
    def contract(self) -> Path:
        return self.path / CONTRACT

    @property
    def threshold(self) -> float | None:
        """The label cut-off (probability >= threshold is positive) recorded at training."""
        value = self.metadata.get("threshold")
        return None if value is None else float(value)

    @property
    def requirements(self) -> Path:
        return self.path / REQUIREMENTS


@dataclass(frozen=True)
class SavedModel:
    pipeline: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    # sha256 of the pickled pipeline: identifies exactly which model is loaded.
    digest: str = ""

    @property
    def threshold(self) -> float | None:
        """The label cut-off (probability >= threshold is positive) recorded at training."""
        value = self.metadata.get("threshold")
        return None if value is None else float(value)

    def predict_proba(self, features: Any) -> Any:
        """Probability of the positive class for each row."""
        return self.pipeline.predict_proba(features)[:, 1]


def _spec(path: Path) -> dict[str, Any]:
    mlmodel = path / MLMODEL
    if not mlmodel.is_file():
        raise ModelLoadError(f"{path} is not an MLflow model directory (no {MLMODEL} file)")
    spec = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    if not isinstance(spec, dict):
        raise ModelLoadError(f"{mlmodel} is not a YAML mapping")
    return spec


def read(path: Path | str) -> ModelCard:
    """The model's signature, metadata and digest; raise `ModelLoadError` when incomplete."""
    path = Path(path)
    spec = _spec(path)
    flavor = (spec.get("flavors") or {}).get(_FLAVOR) or {}
    if flavor.get("serialization_format") not in ("cloudpickle", "pickle"):
        raise ModelLoadError(f"{path}: expected a cloudpickle scikit-learn flavor")
    pickled = path / str(flavor.get("pickled_model", ""))
    if not pickled.is_file():
        raise ModelLoadError(f"{path}: the pickled model {pickled.name!r} is missing")
    signature = (spec.get("signature") or {}).get("inputs")
    if not signature:
        raise ModelLoadError(f"{path}: the model has no input signature")
    python = (spec.get("flavors") or {}).get("python_function", {}).get("python_version", "")
    return ModelCard(
        path=path,
        digest=hashlib.sha256(pickled.read_bytes()).hexdigest(),
        metadata=spec.get("metadata") or {},
        inputs=json.loads(signature),
        pickle_file=pickled,
        sklearn_version=str(flavor.get("sklearn_version", "unknown")),
        python_version=str(python),
    )


def write_contract(path: Path | str, text: str) -> None:
    """Keep the data contract the model was trained under beside it."""
    (Path(path) / CONTRACT).write_text(text, encoding="utf-8")


def load(path: Path | str) -> SavedModel:
    """The fitted pipeline, unpickled (pickle runs code: load only models this project made)."""
    import cloudpickle

    card = read(path)
    pickled = card.pickle_file.read_bytes()
    return SavedModel(
        pipeline=cloudpickle.loads(pickled),
        metadata=card.metadata,
        digest=hashlib.sha256(pickled).hexdigest(),
    )
