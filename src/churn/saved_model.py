"""Load the pipeline's saved model (an MLflow model directory) without importing MLflow.

The service, the report and the embedded wheel need the fitted scikit-learn pipeline and the
metadata `train` stored beside it, not MLflow's 500 MiB of dependencies.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle
import yaml
from sklearn.pipeline import Pipeline


class ModelLoadError(RuntimeError):
    """The directory is not a model this project saved."""


@dataclass(frozen=True)
class SavedModel:
    pipeline: Pipeline
    metadata: dict[str, Any] = field(default_factory=dict)
    # sha256 of the pickled pipeline: identifies exactly which model is loaded.
    digest: str = ""

    def predict_proba(self, features: Any) -> Any:
        """Probability of churn for each row."""
        return self.pipeline.predict_proba(features)[:, 1]


def load(path: Path | str) -> SavedModel:
    """Read `MLmodel`, then unpickle the scikit-learn flavor's file it names."""
    path = Path(path)
    mlmodel = path / "MLmodel"
    if not mlmodel.is_file():
        raise ModelLoadError(f"{path} is not an MLflow model directory (no MLmodel file)")
    spec = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    flavor = spec.get("flavors", {}).get("sklearn")
    if not flavor or flavor.get("serialization_format") not in ("cloudpickle", "pickle"):
        raise ModelLoadError(f"{path}: expected a cloudpickle scikit-learn flavor")
    pickled = (path / flavor["pickled_model"]).read_bytes()
    pipeline = cloudpickle.loads(pickled)
    return SavedModel(
        pipeline=pipeline,
        metadata=spec.get("metadata") or {},
        digest=hashlib.sha256(pickled).hexdigest(),
    )
