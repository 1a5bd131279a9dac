"""Stage `evaluate`: score the held-out rows once, then write metrics, plots and predictions for
DVC and log the same numbers (with the params, model and provenance) as one MLflow run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve

from churn import atomic, metrics, provenance, tracking
from churn.artifacts import prepared_split, saved_model
from churn.contract import load as load_contract
from churn.contract import table
from churn.params import Params

_DECIMALS = 6


def _records(**columns: np.ndarray) -> list[dict[str, float]]:
    rounded = {k: np.round(np.asarray(v, dtype=float), _DECIMALS) for k, v in columns.items()}
    return [
        dict(zip(rounded, map(float, row), strict=True))
        for row in zip(*rounded.values(), strict=True)
    ]


def build_plots(
    y_true: np.ndarray, y_score: np.ndarray, threshold: float, bins: int
) -> dict[str, object]:
    """Curve data in the shapes DVC's plot templates expect (no infinities: they break Vega)."""
    fpr, tpr, roc_thresholds = roc_curve(y_true, y_score)
    precision, recall, pr_thresholds = precision_recall_curve(y_true, y_score)
    fraction_positive, mean_predicted = calibration_curve(y_true, y_score, n_bins=bins)
    return {
        "roc.json": {"roc": _records(fpr=fpr, tpr=tpr, threshold=np.clip(roc_thresholds, 0, 1))},
        "precision_recall.json": {
            "precision_recall": _records(
                recall=recall[:-1], precision=precision[:-1], threshold=pr_thresholds
            )
        },
        "calibration.json": {
            "calibration": _records(
                mean_predicted=mean_predicted, fraction_positive=fraction_positive
            )
        },
        "confusion.json": {
            "confusion": [
                {"actual": int(a), "predicted": int(p)}
                for a, p in zip(y_true, (y_score >= threshold).astype(int), strict=True)
            ]
        },
    }


def _flat_params(params: Params) -> dict[str, object]:
    flat: dict[str, object] = {}
    for stage in ("prepare", "train", "evaluate"):
        section = getattr(params, stage).model_dump(mode="json")
        for key, value in section.items():
            if isinstance(value, dict):
                flat.update({f"{stage}.{key}.{k}": v for k, v in value.items()})
            else:
                flat[f"{stage}.{key}"] = value
    return flat


def run(
    params: Params,
    *,
    model_dir: Path,
    prepared_dir: Path,
    metrics_path: Path,
    plots_dir: Path,
    predictions_path: Path,
) -> dict[str, float]:
    """Evaluate the model on `test.parquet`; return the metrics that were written and logged."""
    test = prepared_split.test_rows(prepared_dir)
    model = saved_model.load(model_dir)
    contract = load_contract(saved_model.read(model_dir).contract)
    threshold = model.threshold
    if threshold is None:
        raise saved_model.ModelLoadError(f"{model_dir} records no label threshold: retrain it")
    y_true = table.target(contract, test)
    y_score = model.predict_proba(table.features(contract, test))
    settings = params.evaluate
    scores = {
        k: round(v, _DECIMALS) for k, v in metrics.score_all(y_true, y_score, threshold).items()
    }

    predictions = pd.DataFrame(
        {contract.id.name: test[contract.id.name], "actual": y_true, "score": np.round(y_score, 9)}
    )
    atomic.write_text(predictions_path, predictions.to_csv(index=False))
    with atomic.replaced_dir(plots_dir) as staging:
        for name, content in build_plots(
            y_true, y_score, threshold, settings.calibration_bins
        ).items():
            (staging / name).write_text(json.dumps(content) + "\n")
    atomic.write_text(metrics_path, json.dumps(scores, indent=2) + "\n")

    manifest = prepared_split.manifest(prepared_dir)
    changed = provenance.changed_files()
    tracking.log_run(
        params=_flat_params(params),
        metrics=scores,
        model_dir=model_dir,
        tags={
            "mlflow.source.git.commit": provenance.git_commit(),
            # What `-dirty` stands for: the files, and the diff itself as an artifact.
            "git.changed_files": ", ".join(changed) or "(none)",
            "data_sha256": str(manifest["raw_sha256"]),
            "model_sha256": model.digest,
            **provenance.experiment(),
        },
        artifact_dirs={"plots": plots_dir},
        texts={"working_tree.diff": provenance.working_tree_diff()} if changed else {},
    )
    return scores
