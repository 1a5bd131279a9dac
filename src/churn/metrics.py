"""The model-quality metrics: one definition shared by `evaluate` and the PR report.

Each metric takes the true labels and the predicted churn probabilities. Metrics that need a
hard label apply the threshold from `params.yaml` (`evaluate.threshold`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    roc_auc_score,
)


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    uses_threshold: bool
    # Called with (labels, probabilities), or (labels, predicted labels) when `uses_threshold`.
    compute: Callable[[np.ndarray, np.ndarray], float]
    label: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", True, False, lambda y, p: float(roc_auc_score(y, p)), "ROC AUC"),
        Metric(
            "average_precision",
            True,
            False,
            lambda y, p: float(average_precision_score(y, p)),
            "Average precision",
        ),
        Metric("accuracy", True, True, lambda y, lab: float(accuracy_score(y, lab)), "Accuracy"),
        Metric("f1", True, True, lambda y, lab: float(f1_score(y, lab, zero_division=0.0)), "F1"),
        Metric(
            "log_loss",
            False,
            False,
            lambda y, p: float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
            "Log loss",
        ),
        Metric("brier", False, False, lambda y, p: float(brier_score_loss(y, p)), "Brier score"),
    )
}


def score(name: str, y_true: np.ndarray, y_score: np.ndarray, threshold: float) -> float:
    """One metric of probabilities `y_score` against labels `y_true`."""
    metric = METRICS[name]
    values = (y_score >= threshold).astype(int) if metric.uses_threshold else y_score
    return metric.compute(y_true, values)


def score_all(y_true: np.ndarray, y_score: np.ndarray, threshold: float) -> dict[str, float]:
    """Every metric, in a fixed order."""
    return {name: score(name, y_true, y_score, threshold) for name in METRICS}
