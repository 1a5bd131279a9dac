"""Which model scores: the ONNX graph only when `churn compile` recorded it within 1e-9 of this very
pipeline; otherwise the pipeline, or a clear refusal when ONNX was asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from churn.artifacts import compiled
from churn.artifacts.saved_model import ModelCard
from churn.deliver.score import predictor

GRAPH = b"onnx graph bytes"
PICKLE = b"pickled pipeline"


@pytest.fixture
def card(tmp_path: Path) -> ModelCard:
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(PICKLE)
    return ModelCard(tmp_path, "digest-1", {}, [], pickled, "1.9", "3.11")


def _compiled(directory: Path, *, digest: str = "digest-1", difference: float = 2e-16) -> Path:
    directory.mkdir()
    check = {
        "model_digest": digest,
        "tolerance": compiled.TOLERANCE,
        "rows": 100,
        "max_abs_diff": difference,
        "passed": difference <= compiled.TOLERANCE,
        "reason": "test",
    }
    compiled.write(directory, GRAPH, check)
    assert json.loads((directory / compiled.CHECK_FILE).read_text())["model_digest"] == digest
    return directory


def test_without_a_compiled_model_the_pipeline_scores(card):
    choice = predictor.choose(card, None)
    assert (choice.kind, choice.blob, choice.digest) == (predictor.SKLEARN, PICKLE, "digest-1")


def test_an_exact_graph_scores_when_allowed(card, tmp_path):
    choice = predictor.choose(card, _compiled(tmp_path / "c"))
    assert (choice.kind, choice.blob) == (predictor.ONNX, GRAPH)
    assert predictor.choose(card, tmp_path / "c", predictor.SKLEARN).kind == predictor.SKLEARN


@pytest.mark.parametrize(
    ("digest", "difference", "why"),
    [
        ("digest-1", 5e-7, "differs by 5e-07"),  # good enough for the service, not for a store
        ("digest-2", 2e-16, "compiled from another model"),
    ],
)
def test_a_graph_that_is_not_exact_for_this_model_does_not_score(
    card, tmp_path, digest, difference, why
):
    directory = _compiled(tmp_path / "c", digest=digest, difference=difference)
    choice = predictor.choose(card, directory)
    assert choice.kind == predictor.SKLEARN
    assert why in choice.reason
    with pytest.raises(predictor.PredictorError, match=why):
        predictor.choose(card, directory, predictor.ONNX)


def test_an_unknown_predictor_is_refused(card):
    with pytest.raises(predictor.PredictorError, match="one of auto, sklearn, onnx"):
        predictor.choose(card, None, "xgboost")
