"""Build the scikit-learn Pipeline from the data contract and the `train` params: blank
handling, scaling and encoding as the contract declares them, then one classifier.

Only scikit-learn parts, so the saved model holds no project code: every declared fill is a
`SimpleImputer` (a constant, or learned from the training split), categories are one-hot encoded
over the contract's closed list. Derived blanks are filled before the model (`contract.complete`).
"""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churn.contract import Contract
from churn.contract.spec import Feature
from churn.params import HistGradientBoostingParams, LogisticRegressionParams, TrainParams

# How a blank category reaches the model (see contract.text and contract.values).
BLANK_CATEGORY = ""


def build_classifier(
    params: LogisticRegressionParams | HistGradientBoostingParams,
) -> LogisticRegression | HistGradientBoostingClassifier:
    """The estimator named by `params.kind`, with the remaining keys as its arguments."""
    arguments = params.model_dump(exclude={"kind"})
    if isinstance(params, LogisticRegressionParams):
        return LogisticRegression(**arguments)
    return HistGradientBoostingClassifier(**arguments)


def _imputer(feature: Feature) -> SimpleImputer | None:
    """The imputer for a feature's declared blank rule (None: blanks are refused or derived)."""
    blank = feature.blank
    if blank is None or blank.rule == "derive":
        return None
    missing = float("nan") if feature.numeric else BLANK_CATEGORY
    if blank.rule == "fill":
        return SimpleImputer(missing_values=missing, strategy="constant", fill_value=blank.value)
    return SimpleImputer(missing_values=missing, strategy=blank.rule)


def _groups(contract: Contract) -> dict[tuple, list[Feature]]:
    """Features that take the same preprocessing, keyed by it (numeric?, blank rule, fill)."""
    groups: dict[tuple, list[Feature]] = {}
    for feature in contract.features:
        blank = feature.blank
        rule = (blank.rule, blank.value) if blank is not None and blank.rule != "derive" else None
        groups.setdefault((feature.numeric, rule), []).append(feature)
    return groups


def build_preprocessor(contract: Contract) -> ColumnTransformer:
    branches = []
    for (numeric, rule), features in _groups(contract).items():
        names = [f.name for f in features]
        steps = [] if rule is None else [_imputer(features[0])]
        if numeric:
            steps.append(StandardScaler())
        else:
            # Categories come from the contract, not from the training rows, so the encoded
            # width is fixed and a category absent from one split still has its column.
            steps.append(
                OneHotEncoder(
                    categories=[list(f.encoded_categories) for f in features],
                    handle_unknown="ignore",
                    sparse_output=False,
                )
            )
        label = f"{'numeric' if numeric else 'categorical'}{'' if rule is None else '_' + rule[0]}"
        branches.append((f"{label}_{len(branches)}", make_pipeline(*steps), names))
    return ColumnTransformer(branches, verbose_feature_names_out=False)


def build(contract: Contract, params: TrainParams) -> Pipeline:
    """The untrained model: preprocessing followed by the configured classifier."""
    return Pipeline(
        [
            ("preprocess", build_preprocessor(contract)),
            ("classifier", build_classifier(params.classifier)),
        ]
    )
