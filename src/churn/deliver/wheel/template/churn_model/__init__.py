"""The churn model, embedded in your application: no service to call, no MLflow to install.

    import churn_model

    probabilities = churn_model.predict(frame)  # churn probability, one per row
    labels = churn_model.predict_label(frame)  # 1 = likely to churn, at the project's threshold
    churn_model.info()  # version, model digest, training params and data hash

`frame` is a pandas DataFrame, or anything `pandas.DataFrame()` accepts such as a list of dicts,
holding the model's feature columns (others are ignored) with clean values: categories spelled
as in training and no missing values.

This directory is the template `churn wheel` builds from. The build adds the model directory
(`model/`), its loader (`_saved_model.py`, a copy of `churn.artifacts.saved_model`) and
`build.json`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._saved_model import SavedModel
from ._saved_model import load as _load_model_dir

_HERE = Path(__file__).parent


@cache
def load() -> SavedModel:
    """The bundled model, unpickled on first use and then kept."""
    return _load_model_dir(_HERE / "model")


@cache
def info() -> dict[str, Any]:
    """What was built into this package: version, model digest, threshold, training metadata."""
    return json.loads((_HERE / "build.json").read_text(encoding="utf-8"))


def predict(frame: Any) -> np.ndarray:
    """The probability that each row's customer churns."""
    model = load()
    return np.asarray(model.predict_proba(_features(frame, model)), dtype=float)


def predict_label(frame: Any, threshold: float | None = None) -> np.ndarray:
    """1 where the churn probability reaches `threshold` (default: the project's), else 0."""
    cut = info()["threshold"] if threshold is None else threshold
    return (predict(frame) >= cut).astype(int)


def _features(frame: Any, model: SavedModel) -> pd.DataFrame:
    frame = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
    columns = list(model.pipeline.feature_names_in_)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"missing column(s): {', '.join(missing)}")
    features = frame[columns]
    blank = [c for c in columns if features[c].isna().any()]
    if blank:
        raise ValueError(f"missing value(s) in column(s): {', '.join(blank)}")
    return features
