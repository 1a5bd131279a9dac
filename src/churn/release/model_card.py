"""The model card attached to each GitHub release: what the model is, how good, trained on what.

`render` is pure (a dict in, Markdown out); `read` gathers its input from the saved model's
`MLmodel` metadata (params, data hash, training rows) and the pipeline's metrics file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from churn.artifacts import saved_model


class ModelCardError(ValueError):
    """The model directory or the metrics file is missing or not what the pipeline writes."""


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params as dotted keys: {'classifier': {'C': 1}} -> {'classifier.C': 1}."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def read(model_dir: Path, metrics_path: Path) -> dict[str, Any]:
    """Collect the card's facts from a saved model directory and its metrics JSON."""
    try:
        model = saved_model.read(model_dir)
    except saved_model.ModelLoadError as exc:
        raise ModelCardError(str(exc)) from None
    if not metrics_path.is_file():
        raise ModelCardError(f"metrics file {metrics_path} does not exist")
    metadata = model.metadata
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelCardError(f"{metrics_path} is not valid JSON: {exc}") from exc
    return {
        "params": metadata.get("params") or {},
        "data_sha256": metadata.get("data_sha256", "unknown"),
        "train_rows": metadata.get("train_rows", "unknown"),
        "model_sha256": model.digest,
        "sklearn_version": model.sklearn_version,
        "features": [f"{column['name']} ({column['type']})" for column in model.inputs],
        "metrics": metrics,
    }


def render(card: dict[str, Any], version: str, commit: str) -> str:
    """The card as Markdown, for a release body and a file beside the wheel."""
    lines = [
        f"# Model card: churn model {version}",
        "",
        f"Built from commit `{commit}`. Predicts the probability that a customer churns.",
        "",
        "## Metrics (held-out test split)",
        "",
        "| metric | value |",
        "|---|---:|",
        *(f"| {name} | {value:.4f} |" for name, value in sorted(card["metrics"].items())),
        "",
        "## Parameters",
        "",
        "| parameter | value |",
        "|---|---|",
        *(f"| `{name}` | `{value}` |" for name, value in sorted(flatten(card["params"]).items())),
        "",
        "## Data and artifact",
        "",
        f"- Training data sha256: `{card['data_sha256']}`",
        f"- Training rows: {card['train_rows']}",
        f"- Model file sha256: `{card['model_sha256']}`",
        f"- scikit-learn: {card['sklearn_version']}",
        f"- Input columns: {', '.join(card['features']) or 'unknown'}",
        "",
    ]
    return "\n".join(lines)
