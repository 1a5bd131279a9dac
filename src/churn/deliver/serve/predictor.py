"""Score validated rows with the compiled ONNX graph when `churn compile` vouched for it, else
with the scikit-learn pipeline itself.

Only the chosen runtime is imported: the ONNX path never loads scikit-learn or pandas, which is
most of the service's start time and memory.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from churn.artifacts import compiled
from churn.artifacts.saved_model import ModelCard

# A child of uvicorn's logger, so that its handler (configured by uvicorn.run) prints ours too.
log = logging.getLogger(f"uvicorn.error.{__name__}")


class Predictor(Protocol):
    kind: str

    def __call__(self, columns: dict[str, Sequence[Any]]) -> np.ndarray:
        """Churn probability (float64) for each row of `columns` (validated value lists)."""
        ...


class OnnxPredictor:
    kind = "onnx"

    def __init__(self, onnx_path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # Requests are batched into one call at a time; more threads only add contention.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = [
            (i.name, object if i.type == "tensor(string)" else np.float64)
            for i in self._session.get_inputs()
        ]

    def __call__(self, columns: dict[str, Sequence[Any]]) -> np.ndarray:
        feeds = {
            name: np.array(columns[name], dtype=dtype).reshape(-1, 1)
            for name, dtype in self._inputs
        }
        probabilities = self._session.run(["probabilities"], feeds)[0]
        return np.ascontiguousarray(probabilities[:, 1], dtype=np.float64)


class SklearnPredictor:
    kind = "sklearn"

    def __init__(self, model_dir: Path, dtypes: dict[str, Any]) -> None:
        from churn.artifacts import saved_model

        self._model = saved_model.load(model_dir)
        # The signature's types (long -> int64, double -> float64, string -> object), as MLflow
        # would enforce them before calling the pipeline.
        self._dtypes = dtypes

    def __call__(self, columns: dict[str, Sequence[Any]]) -> np.ndarray:
        import pandas as pd

        frame = pd.DataFrame(
            {name: np.array(values, dtype=self._dtypes[name]) for name, values in columns.items()}
        )
        return np.asarray(self._model.predict_proba(frame), dtype=np.float64)


@dataclass(frozen=True)
class Choice:
    predictor: Predictor
    reason: str


def choose(card: ModelCard, compiled_dir: Path | None, dtypes: dict[str, Any]) -> Choice:
    """The compiled predictor if its build-time check passed for this very model."""
    check = compiled.check(compiled_dir, card.digest)
    if check.usable and check.onnx_path is not None:
        return Choice(OnnxPredictor(check.onnx_path), check.reason)
    log.warning("serving with scikit-learn, not ONNX: %s", check.reason)
    return Choice(SklearnPredictor(card.path, dtypes), check.reason)
