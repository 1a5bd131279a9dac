"""Reading the model directory without unpickling it, and when the ONNX graph may be used."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from churn.artifacts.compiled import CHECK_FILE, ONNX_FILE
from churn.artifacts.compiled import check as check_compiled
from churn.artifacts.saved_model import ModelLoadError, read

PICKLE = b"not really a pickle: only its hash matters here"
DIGEST = hashlib.sha256(PICKLE).hexdigest()


def _model_dir(root: Path, signature: bool = True) -> Path:
    spec = {
        "flavors": {
            "sklearn": {"pickled_model": "model.pkl", "serialization_format": "cloudpickle"}
        },
        "metadata": {"data_sha256": "abc", "params": {"C": 1}},
    }
    if signature:
        spec["signature"] = {"inputs": json.dumps([{"name": "tenure", "type": "double"}])}
    root.mkdir(parents=True)
    (root / "MLmodel").write_text(yaml.safe_dump(spec))
    (root / "model.pkl").write_bytes(PICKLE)
    return root


def _compiled(root: Path, onnx: bool = True, **check: object) -> Path:
    root.mkdir(parents=True)
    record = {"model_digest": DIGEST, "passed": True, "tolerance": 1e-6, "rows": 10} | check
    (root / CHECK_FILE).write_text(json.dumps(record))
    if onnx:
        (root / ONNX_FILE).write_bytes(b"graph")
    return root


def test_read_hashes_the_pickle_like_saved_model(tmp_path: Path) -> None:
    card = read(_model_dir(tmp_path / "model"))
    assert card.digest == DIGEST
    assert card.metadata["data_sha256"] == "abc"
    assert card.inputs == [{"name": "tenure", "type": "double"}]


def test_a_directory_without_mlmodel_or_signature_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no MLmodel"):
        read(tmp_path)
    with pytest.raises(ModelLoadError, match="signature"):
        read(_model_dir(tmp_path / "unsigned", signature=False))


@pytest.mark.parametrize(
    ("compiled", "usable", "reason"),
    [
        (_compiled, True, "matches the pipeline within 1e-06"),
        (lambda root: _compiled(root, model_digest="0" * 64), False, "another model"),
        (lambda root: _compiled(root, passed=False, reason="differs"), False, "differs"),
        (lambda root: _compiled(root, onnx=False), False, "missing"),
        (lambda root: root, False, "no readable check.json"),
    ],
    ids=["passed", "other model", "failed check", "no graph", "no check"],
)
def test_onnx_is_used_only_when_its_check_passed_for_this_model(
    tmp_path: Path, compiled, usable: bool, reason: str
) -> None:
    card = read(_model_dir(tmp_path / "model"))
    verdict = check_compiled(compiled(tmp_path / "compiled"), card.digest)
    assert verdict.usable is usable
    assert reason in verdict.reason


def test_no_compiled_directory_means_sklearn(tmp_path: Path) -> None:
    verdict = check_compiled(None, read(_model_dir(tmp_path / "model")).digest)
    assert not verdict.usable
