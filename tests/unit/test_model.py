from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from churn import data, model
from churn.contract import schema
from churn.params import HistGradientBoostingParams, LogisticRegressionParams, TrainParams

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

LOGISTIC = TrainParams(
    classifier=LogisticRegressionParams(
        kind="logistic_regression", C=0.3, max_iter=500, class_weight="balanced"
    )
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
    )
)


@pytest.fixture(scope="module")
def sample():
    return data.clean(data.validate(data.load_raw(FIXTURES / "valid_sample.csv")))


def test_build_passes_params_as_sklearn_arguments():
    """Params keys are the estimator's own argument names, passed through unchanged."""
    classifier = model.build(LOGISTIC).named_steps["classifier"]
    assert isinstance(classifier, LogisticRegression)
    assert classifier.get_params()["C"] == 0.3
    assert classifier.get_params()["class_weight"] == "balanced"
    boosting = model.build(BOOSTING).named_steps["classifier"]
    assert isinstance(boosting, HistGradientBoostingClassifier)
    assert boosting.get_params()["max_iter"] == 7


@pytest.mark.parametrize("params", [LOGISTIC, BOOSTING], ids=["logistic", "boosting"])
def test_built_pipeline_fits_and_predicts_probabilities(params, sample):
    pipeline = model.build(params).fit(data.features(sample), data.target(sample))
    proba = pipeline.predict_proba(data.features(sample))[:, 1]
    assert proba.shape == (len(sample),)
    assert np.all((proba >= 0) & (proba <= 1))


def test_encoding_width_comes_from_the_schema_not_the_rows(sample):
    """A category missing from the training rows still gets its column."""
    only_monthly = sample[sample["contract"] == "Month-to-month"]
    pipeline = model.build(LOGISTIC).fit(data.features(only_monthly), data.target(only_monthly))
    names = list(pipeline.named_steps["preprocess"].get_feature_names_out())
    assert "contract_Two year" in names
    expected = len(schema.NUMERIC) + sum(
        len(schema.column(c).categories) for c in schema.CATEGORICAL
    )
    assert len(names) == expected
