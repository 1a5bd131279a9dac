"""Read `params.yaml` (the knobs) and `gate.yaml` (the gate policy) into frozen, typed objects.

A missing key or a typo fails at load time, not halfway through a training run: every model
forbids extra keys and has no defaults, except the gate's `rule` (see `GateParams`). Keys under
`classifier` are the scikit-learn argument names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from churn.user_error import UserError


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


class PrepareParams(_Strict):
    test_size: Annotated[float, Field(gt=0, lt=1)]
    random_state: int
    # Fewer rows of either class than this and `prepare` refuses the table: a model cannot be
    # trained, or evaluated, on a handful of positives.
    min_rows_per_class: Annotated[int, Field(ge=2)]


class LogisticRegressionParams(_Strict):
    kind: Literal["logistic_regression"]
    C: Annotated[float, Field(gt=0)]
    max_iter: Annotated[int, Field(gt=0)]
    class_weight: Literal["balanced"] | None


class HistGradientBoostingParams(_Strict):
    kind: Literal["hist_gradient_boosting"]
    learning_rate: Annotated[float, Field(gt=0)]
    max_iter: Annotated[int, Field(gt=0)]
    max_depth: Annotated[int, Field(gt=0)] | None
    min_samples_leaf: Annotated[int, Field(gt=0)]
    l2_regularization: Annotated[float, Field(ge=0)]
    random_state: int


ClassifierParams = Annotated[
    LogisticRegressionParams | HistGradientBoostingParams, Field(discriminator="kind")
]


class TrainParams(_Strict):
    classifier: ClassifierParams
    # Label cut-off (probability >= threshold is positive), saved in the model's metadata so
    # every delivery labels alike without reading params.yaml.
    threshold: Annotated[float, Field(gt=0, lt=1)]


class EvaluateParams(_Strict):
    calibration_bins: Annotated[int, Field(ge=2)]


class GateParams(_Strict):
    """The policy a candidate must meet (`gate.yaml`); read from the base revision by
    `churn report`, so a pull request cannot lower its own bar.

    `rule` says what the confidence interval of the primary metric's change must show:
    `not_worse` fails only a candidate whose whole interval lies below -max_regression (worse
    with confidence); `non_inferior` passes only a candidate whose whole interval lies above
    -max_regression (shown to be no worse than tolerated). Its default, `not_worse`, keeps
    policies written before the key existed meaning what they meant.
    """

    rule: Literal["not_worse", "non_inferior"] = "not_worse"
    primary_metric: str
    confidence: Annotated[float, Field(gt=0.5, lt=1)]
    max_regression: Annotated[float, Field(ge=0)]
    min_improvement: Annotated[float, Field(ge=0)]
    floors: dict[str, float]


QualityMetric = Literal["roc_auc", "precision", "recall"]


class DriftParams(_Strict):
    """Population stability index (`churn.psi`) at or above which drift alerts fire."""

    feature: Annotated[float, Field(gt=0)]
    probability: Annotated[float, Field(gt=0)]


class LabelParams(_Strict):
    # Fewer outcomes joined to predictions than this: realized quality is shown, not judged.
    min_rows: Annotated[int, Field(ge=1)]
    # Realized metrics below these fire an alert (any of roc_auc, precision, recall).
    floors: dict[QualityMetric, Annotated[float, Field(ge=0, le=1)]]


class BusinessParams(_Strict):
    """One business metric, computed per period (by prediction time) from joined outcomes."""

    name: Annotated[str, Field(min_length=1, max_length=80)]
    # precision: share of actual positives among those flagged; recall: share of actual
    # positives that were flagged; flagged_rate: share flagged; positive_rate: share positive.
    metric: Literal["precision", "recall", "flagged_rate", "positive_rate"]
    # D: per day, W: per week (Monday to Sunday), M: per calendar month (UTC).
    period: Literal["D", "W", "M"]
    minimum: Annotated[float, Field(ge=0, le=1)] | None
    maximum: Annotated[float, Field(ge=0, le=1)] | None
    # A period with fewer joined outcomes is shown, not judged.
    min_rows: Annotated[int, Field(ge=1)]

    @model_validator(mode="after")
    def _bounds_in_order(self) -> BusinessParams:
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("minimum is above maximum")
        return self


class MonitorParams(_Strict):
    """`churn monitor`'s thresholds; alerts fire on effect sizes, never on p-values."""

    # A window with fewer scored rows cannot be judged: the monitor stops with exit 2.
    min_rows: Annotated[int, Field(ge=1)]
    drift: DriftParams
    # Share of a column's cells outside the contract above which an alert fires.
    max_out_of_contract: Annotated[float, Field(ge=0, le=1)]
    # A feature's share of blanks above the training split's by more than this fires an alert.
    max_missing_increase: Annotated[float, Field(ge=0, le=1)]
    labels: LabelParams
    business: BusinessParams


class Params(_Strict):
    prepare: PrepareParams
    train: TrainParams
    evaluate: EvaluateParams
    monitor: MonitorParams


class ParamsError(UserError, ValueError):
    """`params.yaml` is unreadable or does not match the expected shape."""


def _validated(model: type[_Strict], raw: object, source: str, prefix: str = ""):
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{prefix}{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ParamsError(f"{source} is invalid: {problems}") from None


def parse(raw: object, source: str = "params.yaml") -> Params:
    """Validate an already-parsed YAML document."""
    if isinstance(raw, dict) and "gate" in raw:
        raise ParamsError(
            f"{source} is invalid: the gate policy has its own file now; move the `gate:` "
            "section's keys to gate.yaml"
        )
    return _validated(Params, raw, source)


def parse_gate(raw: object, source: str = "gate.yaml", prefix: str = "") -> GateParams:
    """Validate an already-parsed gate policy; `prefix` names where it sits (e.g. `gate.`)."""
    return _validated(GateParams, raw, source, prefix)


def read_yaml(path: Path | str) -> object:
    """The parsed YAML document at `path`; `ParamsError` when absent or malformed."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path} not found") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {exc}") from None


def load(path: Path | str) -> Params:
    """Load and validate a params file."""
    return parse(read_yaml(path), str(path))


def load_gate(path: Path | str) -> GateParams:
    """Load and validate a gate policy file."""
    return parse_gate(read_yaml(path), str(path))
