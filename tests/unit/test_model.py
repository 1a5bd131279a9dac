"""The model is built from the contract and the params: the declared blank rules become
scikit-learn imputers, categories are encoded over the contract's list, and the whole pipeline
(imputers included) compiles to ONNX that scores like it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from tests.generated import sample, write

from churn import model
from churn.artifacts.saved_model import SavedModel
from churn.contract import table
from churn.contract.spec import parse
from churn.params import HistGradientBoostingParams, LogisticRegressionParams, TrainParams
from churn.stages import compile as compiler

LOGISTIC = TrainParams(
    classifier=LogisticRegressionParams(
        kind="logistic_regression", C=0.3, max_iter=500, class_weight="balanced"
    ),
    threshold=0.5,
)
BOOSTING = TrainParams(
    classifier=HistGradientBoostingParams(
        kind="hist_gradient_boosting",
        learning_rate=0.2,
        max_iter=7,
        max_depth=2,
        min_samples_leaf=5,
        l2_regularization=0.5,
        random_state=3,
    ),
    threshold=0.5,
)
BLANKS = parse(
    """
data: {path: data/t.csv}
id: {column: key, type: string}
target: {column: label, positive: "bad", negative: "good"}
features:
  income: {kind: number, blank: median}
  debt: {kind: number, blank: mean}
  assets: {kind: number, blank: {fill: 0}}
  flag: {kind: binary, blank: {fill: 1}}
  home: {kind: category, categories: [own, rent, parents], blank: {fill: missing}}
  job: {kind: category, categories: [fixed, freelance], blank: most_frequent}
  marital: {kind: category, categories: [married, single], blank: {fill: single}}
  age: {kind: number, min: 18, max: 99}
"""
)


@pytest.fixture(scope="module")
def typed(contract, raw_csv, tmp_path_factory):
    path = write(sample(raw_csv, 200), tmp_path_factory.mktemp("sample") / "raw.csv")
    return table.load(contract, path)


def test_build_passes_params_as_sklearn_arguments(contract):
    """Params keys are the estimator's own argument names, passed through unchanged."""
    classifier = model.build(contract, LOGISTIC).named_steps["classifier"]
    assert isinstance(classifier, LogisticRegression)
    assert classifier.get_params()["C"] == 0.3
    assert classifier.get_params()["class_weight"] == "balanced"
    boosting = model.build(contract, BOOSTING).named_steps["classifier"]
    assert isinstance(boosting, HistGradientBoostingClassifier)
    assert boosting.get_params()["max_iter"] == 7


@pytest.mark.parametrize("params", [LOGISTIC, BOOSTING], ids=["logistic", "boosting"])
def test_built_pipeline_fits_and_predicts_probabilities(contract, params, typed):
    features = table.features(contract, typed)
    pipeline = model.build(contract, params).fit(features, table.target(contract, typed))
    proba = pipeline.predict_proba(features)[:, 1]
    assert proba.shape == (len(typed),)
    assert np.all((proba >= 0) & (proba <= 1))


def test_encoding_width_comes_from_the_contract_not_the_rows(contract, typed):
    """A category absent from the training rows still gets its column."""
    features = table.features(contract, typed)
    pipeline = model.build(contract, LOGISTIC).fit(features, table.target(contract, typed))
    names = list(pipeline.named_steps["preprocess"].get_feature_names_out())
    expected = sum(1 if f.numeric else len(f.encoded_categories) for f in contract.features)
    assert len(names) == expected


def _blank_rows(rows: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.normal(100, 20, rows),
            "debt": rng.exponential(5, rows),
            "assets": rng.exponential(50, rows),
            "flag": rng.integers(0, 2, rows).astype(float),
            "home": rng.choice(["own", "rent", "parents", ""], rows).astype(object),
            "job": rng.choice(["fixed", "freelance", ""], rows).astype(object),
            "marital": rng.choice(["married", "single", ""], rows).astype(object),
            "age": rng.integers(18, 99, rows).astype(float),
        }
    )
    for name in ("income", "debt", "assets", "flag"):
        frame.loc[rng.random(rows) < 0.15, name] = np.nan
    label = (rng.random(rows) < 0.3).astype(int)
    return frame, label


def test_each_blank_rule_is_an_imputer_inside_the_model():
    frame, label = _blank_rows()
    pipeline = model.build(BLANKS, LOGISTIC).fit(frame, label)
    imputers = [s for s in _steps(pipeline) if isinstance(s, SimpleImputer)]
    assert {i.strategy for i in imputers} == {"median", "mean", "constant", "most_frequent"}
    # Blanks are filled, not refused: every row gets a probability.
    proba = pipeline.predict_proba(frame)[:, 1]
    assert np.isfinite(proba).all()
    # A category filled with a new value ("missing") has its own encoded column.
    names = list(pipeline.named_steps["preprocess"].get_feature_names_out())
    assert "home_missing" in names


def _steps(pipeline) -> list:
    found = []
    for _, transformer, _ in pipeline.named_steps["preprocess"].transformers_:
        found += [step for _, step in getattr(transformer, "steps", [])]
    return found


def test_the_imputers_compile_to_onnx_that_scores_like_the_pipeline():
    """ONNX Runtime has no double or string Imputer; the compile stage's own converter must
    give the pipeline's probabilities on rows with blanks in every kind of column."""
    frame, label = _blank_rows()
    pipeline = model.build(BLANKS, LOGISTIC).fit(frame, label)
    saved = SavedModel(pipeline=pipeline)
    onnx_bytes = compiler.convert(saved, BLANKS)
    fresh, _ = _blank_rows(seed=1)
    got = compiler.score_onnx(onnx_bytes, BLANKS, fresh)
    np.testing.assert_allclose(got, pipeline.predict_proba(fresh)[:, 1], rtol=0, atol=1e-9)
