"""`compile` writes the same bytes for the same model, whichever process converts it.

`model.onnx` is a DVC output: its hash is in `dvc.lock` and in the release's cache key, so a
byte that depends on the interpreter's hash seed makes a correct pull request look changed.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import PROJECT_ROOT
from tests.generated import sample, write

from churn import model
from churn.artifacts.saved_model import SavedModel
from churn.contract import table
from churn.params import LogisticRegressionParams, TrainParams
from churn.stages import compile as compiler

CONTRACT = PROJECT_ROOT / "contract.yaml"
# The classifier `compile` can convert (the boosting one has no ONNX converter for this graph).
CLASSIFIER = LogisticRegressionParams(
    kind="logistic_regression", C=0.5, max_iter=500, class_weight=None
)
# Under seed 53 this skl2onnx lists the ai.onnx.ml opset first, under 0 the standard one last:
# the orders seen in CI. "random" adds a fresh seed on every run.
HASH_SEEDS = ("0", "53", "random")
# Converts the pickled pipeline in argv[1] for the contract in argv[3], writes the ONNX bytes
# to argv[2].
CONVERT = """
import pickle, sys
from pathlib import Path
from churn import contract
from churn.artifacts.saved_model import SavedModel
from churn.stages import compile as compiler
pipeline = pickle.loads(Path(sys.argv[1]).read_bytes())
onnx = compiler.convert(SavedModel(pipeline=pipeline), contract.load(sys.argv[3]))
Path(sys.argv[2]).write_bytes(onnx)
"""


@pytest.fixture(scope="module")
def pickled_pipeline(contract, raw_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    rows = table.load(contract, write(sample(raw_csv, 200), root / "raw.csv"))
    fitted = model.build(contract, TrainParams(classifier=CLASSIFIER, threshold=0.5)).fit(
        table.features(contract, rows), table.target(contract, rows)
    )
    path = root / "pipeline.pkl"
    path.write_bytes(pickle.dumps(fitted))
    return path


def convert_in_subprocess(pickled: Path, out: Path, hash_seed: str) -> bytes:
    subprocess.run(
        [sys.executable, "-c", CONVERT, str(pickled), str(out), str(CONTRACT)],
        check=True,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
    )
    return out.read_bytes()


def test_the_same_model_converts_to_the_same_bytes_in_one_process(pickled_pipeline, contract):
    pipeline = pickle.loads(pickled_pipeline.read_bytes())
    first = compiler.convert(SavedModel(pipeline=pipeline), contract)
    for _ in range(3):
        assert compiler.convert(SavedModel(pipeline=pipeline), contract) == first


def test_the_same_model_converts_to_the_same_bytes_under_any_hash_seed(
    pickled_pipeline, contract, tmp_path
):
    """Fresh interpreters with different PYTHONHASHSEED: set and dict orders differ in each."""
    pipeline = pickle.loads(pickled_pipeline.read_bytes())
    here = compiler.convert(SavedModel(pipeline=pipeline), contract)
    assert here
    differing = [
        seed
        for seed in HASH_SEEDS
        if convert_in_subprocess(pickled_pipeline, tmp_path / f"{seed}.onnx", seed) != here
    ]
    assert differing == []


def test_opset_imports_are_listed_in_a_fixed_order(pickled_pipeline, contract):
    import onnx

    pipeline = pickle.loads(pickled_pipeline.read_bytes())
    graph = onnx.load_from_string(compiler.convert(SavedModel(pipeline=pipeline), contract))
    domains = [opset.domain for opset in graph.opset_import]
    assert len(domains) >= 2  # the standard domain and ai.onnx.ml at least
    assert domains == sorted(domains)
