import numpy as np
import pytest

from churn import metrics


def test_score_all_on_a_perfect_ranking():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.8, 0.9])
    scores = metrics.score_all(y, p, threshold=0.5)
    assert list(scores) == list(metrics.METRICS)
    assert scores["roc_auc"] == 1.0
    assert scores["average_precision"] == 1.0
    assert scores["accuracy"] == 1.0
    assert scores["f1"] == 1.0
    assert scores["brier"] == pytest.approx(np.mean((p - y) ** 2))


def test_threshold_only_affects_label_metrics():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.9])
    low, high = metrics.score_all(y, p, 0.3), metrics.score_all(y, p, 0.95)
    assert low["roc_auc"] == high["roc_auc"]
    assert low["accuracy"] != high["accuracy"]
    assert high["f1"] == 0.0


def test_directions_are_declared():
    assert metrics.METRICS["roc_auc"].higher_is_better
    assert not metrics.METRICS["log_loss"].higher_is_better
    assert not metrics.METRICS["brier"].higher_is_better


def test_log_loss_survives_certain_wrong_predictions():
    scores = metrics.score_all(np.array([0, 1]), np.array([1.0, 0.0]), 0.5)
    assert np.isfinite(scores["log_loss"])
