"""A scoring request apart from HTTP: the body parsed for its endpoint, and the scores turned into
the answer's bytes.

The event loop and the offload worker process (`offload.py`) both answer through here, so a
request gets the same answer wherever it is handled. Nothing here imports the web framework:
the worker process stays small.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from churn import contract as data_contract
from churn.artifacts import saved_model
from churn.deliver.serve.inputs import Batch, InputSpec

INVOCATIONS = "/invocations"
PREDICT = "/predict"
ENDPOINTS = (INVOCATIONS, PREDICT)

_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def model_contract(card: saved_model.ModelCard) -> data_contract.Contract:
    """The contract the model was trained under, which must describe its signature."""
    try:
        contract = data_contract.load(card.contract)
    except data_contract.ContractError as exc:
        raise saved_model.ModelLoadError(f"{card.path}: {exc}; retrain it (`make run`)") from None
    signature = [column["name"] for column in card.inputs]
    if signature != list(contract.feature_names):
        raise saved_model.ModelLoadError(
            f"{card.path}: its signature ({', '.join(signature)}) is not its contract's features"
        )
    if card.threshold is None:
        raise saved_model.ModelLoadError(
            f"{card.path} records no label threshold: retrain it (`make run`)"
        )
    return contract


@dataclass(frozen=True)
class Scoring:
    spec: InputSpec
    # Label cut-off for `/predict`: the model's own, recorded at training.
    threshold: float

    @classmethod
    def for_model(cls, card: saved_model.ModelCard, max_rows: int) -> Scoring:
        return cls(InputSpec(model_contract(card), max_rows), float(card.threshold or 0.0))

    @property
    def contract(self) -> data_contract.Contract:
        return self.spec.contract

    def parse(self, endpoint: str, body: bytes, content_type: str) -> Batch:
        """The validated rows of a request body; `RequestError` (a 4xx) when it has none."""
        if endpoint == PREDICT:
            return self.spec.parse_predict(body)
        return self.spec.parse_invocation(body, content_type)

    def answer(self, endpoint: str, batch: Batch, scores: np.ndarray) -> bytes:
        """The JSON answer to a request whose rows scored `scores`."""
        if endpoint == INVOCATIONS:
            # The same shape as `mlflow models serve` gives for this model (predict_proba):
            # one [P(negative), P(positive)] pair per row.
            return orjson.dumps(
                {"predictions": np.column_stack((1.0 - scores, scores))}, option=_NUMPY
            )
        probability, target = self.contract.probability_field, self.contract.target.name
        labels = (scores >= self.threshold).tolist()
        rows: list[dict[str, Any]] = [
            {probability: p, target: label}
            for p, label in zip(scores.tolist(), labels, strict=True)
        ]
        if batch.ids is not None:
            id_name = self.contract.id.name
            for row, key in zip(rows, batch.ids, strict=True):
                if key is not None:
                    row[id_name] = key
        return orjson.dumps({"threshold": self.threshold, "predictions": rows})
