"""The model, embedded in your application: no service to call, no MLflow to install.

    import churn_model

    probabilities = churn_model.predict(frame)  # probability of the positive class, per row
    labels = churn_model.predict_label(frame)  # 1 where it reaches the model's threshold
    churn_model.info()  # version, model digest, threshold, training params and data hash
    churn_model.contract()  # the data contract: the columns `frame` must hold

`frame` is a pandas DataFrame, or anything `pandas.DataFrame()` accepts such as a list of dicts,
holding the contract's feature columns (others, such as the id or the label, are ignored). Its
values are checked by the same rules as the pipeline's raw data and the service's requests:
blanks (None, NaN, "") are accepted where the contract allows them and filled as it says, and
anything else it refuses raises `ValueError` naming the column and rows.

This directory is the template `churn wheel` builds from. The build adds the model directory
(`model/`, with its contract), its loader (`_saved_model.py`, a copy of
`churn.artifacts.saved_model`), the contract's rules (`_contract/`, a copy of `churn.contract`)
and `build.json`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._contract import Contract, DataValidationError, complete, values
from ._contract import load as _load_contract
from ._saved_model import CONTRACT, SavedModel
from ._saved_model import load as _load_model_dir

_HERE = Path(__file__).parent


@cache
def load() -> SavedModel:
    """The bundled model, unpickled on first use and then kept."""
    return _load_model_dir(_HERE / "model")


@cache
def contract() -> Contract:
    """The data contract the bundled model was trained under."""
    return _load_contract(_HERE / "model" / CONTRACT)


@cache
def info() -> dict[str, Any]:
    """What was built into this package: version, model digest, threshold, training metadata."""
    return json.loads((_HERE / "build.json").read_text(encoding="utf-8"))


def predict(frame: Any) -> np.ndarray:
    """The probability of the positive class for each row."""
    return np.asarray(load().predict_proba(_features(frame)), dtype=float)


def predict_label(frame: Any, threshold: float | None = None) -> np.ndarray:
    """1 where the probability reaches `threshold` (default: the model's own), else 0."""
    cut = info()["threshold"] if threshold is None else threshold
    return (predict(frame) >= cut).astype(int)


def _features(frame: Any) -> pd.DataFrame:
    frame = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
    rules = contract()
    missing = [name for name in rules.feature_names if name not in frame.columns]
    if missing:
        raise ValueError(f"missing column(s): {', '.join(missing)}")
    try:
        typed, _ = values.check(rules, {n: frame[n].tolist() for n in rules.feature_names})
        typed = complete.derive_blanks(rules, typed)
    except DataValidationError as exc:
        raise ValueError(str(exc)) from None
    return pd.DataFrame(
        {
            f.name: np.asarray(typed[f.name], dtype=np.float64 if f.numeric else object)
            for f in rules.features
        }
    )
