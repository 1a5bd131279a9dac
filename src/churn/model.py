"""Build the scikit-learn Pipeline from the `train` params: preprocessing plus one classifier."""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churn.contract import schema
from churn.params import HistGradientBoostingParams, LogisticRegressionParams, TrainParams


def build_classifier(
    params: LogisticRegressionParams | HistGradientBoostingParams,
) -> LogisticRegression | HistGradientBoostingClassifier:
    """The estimator named by `params.kind`, with the remaining keys as its arguments."""
    arguments = params.model_dump(exclude={"kind"})
    if isinstance(params, LogisticRegressionParams):
        return LogisticRegression(**arguments)
    return HistGradientBoostingClassifier(**arguments)


def build_preprocessor() -> ColumnTransformer:
    # Categories come from the schema, not from the training rows, so the encoded width is
    # fixed and a category absent from one split still has its column.
    categories = [list(schema.column(name).categories) for name in schema.CATEGORICAL]
    return ColumnTransformer(
        [
            ("numeric", StandardScaler(), list(schema.NUMERIC)),
            (
                "categorical",
                OneHotEncoder(categories=categories, handle_unknown="ignore", sparse_output=False),
                list(schema.CATEGORICAL),
            ),
        ],
        verbose_feature_names_out=False,
    )


def build(params: TrainParams) -> Pipeline:
    """The untrained model: preprocessing followed by the configured classifier."""
    return Pipeline(
        [("preprocess", build_preprocessor()), ("classifier", build_classifier(params.classifier))]
    )
