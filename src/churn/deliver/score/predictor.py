"""What scores the rows in both engines: the pickled pipeline itself, or the ONNX graph `churn
compile` made from it, but only when its check recorded it within `EXACT` of the pipeline: a
stored score must be the model's own (the service accepts 1e-6; a score store does not).

The choice travels as bytes (`Choice.blob`), so the Spark engine can ship it to its executors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from churn.artifacts import compiled
from churn.artifacts.saved_model import ModelCard, SavedModel
from churn.user_error import UserError

SKLEARN, ONNX, AUTO = "sklearn", "onnx", "auto"
CHOICES = (AUTO, SKLEARN, ONNX)
EXACT = 1e-9


class PredictorError(UserError, ValueError):
    """The predictor asked for cannot stand in for the model."""


@dataclass(frozen=True)
class Choice:
    kind: str  # SKLEARN or ONNX
    blob: bytes  # the pickled pipeline, or the serialized graph
    digest: str  # the model's (the pipeline's pickle)
    reason: str


def choose(card: ModelCard, compiled_dir: Path | None, wanted: str = AUTO) -> Choice:
    """`wanted`; for `auto` the graph when it is exact enough, else the pipeline."""
    if wanted not in CHOICES:
        raise PredictorError(f"predictor must be one of {', '.join(CHOICES)}, not {wanted!r}")
    if wanted != SKLEARN and compiled_dir is not None:
        check = compiled.check(compiled_dir, card.digest)
        exact = check.max_abs_diff is not None and check.max_abs_diff <= EXACT
        if check.usable and check.onnx_path is not None and exact:
            return Choice(ONNX, check.onnx_path.read_bytes(), card.digest, check.reason)
        why = check.reason if not check.usable else f"it differs by {check.max_abs_diff} > {EXACT}"
    else:
        why = "no compiled model given" if wanted != SKLEARN else "the pipeline, as asked"
    if wanted == ONNX:
        raise PredictorError(f"the ONNX model cannot stand in for the pipeline: {why}")
    return Choice(SKLEARN, card.pickle_file.read_bytes(), card.digest, why)


class OnnxModel:
    """The compiled graph, with the saved model's `predict_proba(features frame)`."""

    def __init__(self, graph: bytes) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One thread: the engines run one model call per core already.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            graph, options, providers=["CPUExecutionProvider"]
        )
        self._inputs = [
            (i.name, object if i.type == "tensor(string)" else np.float64)
            for i in self._session.get_inputs()
        ]

    def predict_proba(self, features: Any) -> np.ndarray:
        feeds = {
            name: features[name].to_numpy(dtype=dtype).reshape(-1, 1)
            for name, dtype in self._inputs
        }
        probabilities = self._session.run(["probabilities"], feeds)[0]
        return np.ascontiguousarray(probabilities[:, 1], dtype=np.float64)


def load(choice: Choice) -> Any:
    """The chosen model, ready to score (anything with `predict_proba(features frame)`)."""
    if choice.kind == ONNX:
        return OnnxModel(choice.blob)
    import cloudpickle

    return SavedModel(pipeline=cloudpickle.loads(choice.blob), digest=choice.digest)
