"""Material for the monitor's unit tests: a small contract with every kind of column (a derived
blank too), rows drawn from it (optionally shifted), a real fitted model, and prediction log
files written in the log's own format (`prediction_log.RowFormat`, `file_name`, `partition`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from churn import model
from churn.artifacts import prediction_log
from churn.artifacts.saved_model import SavedModel
from churn.contract import Contract
from churn.contract.spec import parse
from churn.params import LogisticRegressionParams, TrainParams

CONTRACT: Contract = parse(
    """
data: {path: data/t.csv}
id: {column: customer_id, type: integer}
target: {column: churn, positive: "Yes", negative: "No"}
features:
  plan: {kind: category, categories: [basic, plus, pro]}
  tenure: {kind: number, min: 0, max: 120}
  paperless: {kind: binary}
  charges: {kind: number, min: 0, max: 200}
  total: {kind: number, min: 0, max: 20000, blank: {derive: tenure * charges}}
  secret: {kind: number, min: 0, max: 10, personal: true}
"""
)
PLANS = ("basic", "plus", "pro")
PARAMS = TrainParams(
    classifier=LogisticRegressionParams(
        kind="logistic_regression", C=1.0, max_iter=500, class_weight=None
    ),
    threshold=0.5,
)


def rows(
    count: int, seed: int, *, tenure_shift: float = 0.0, plans=(0.5, 0.3, 0.2)
) -> pd.DataFrame:
    """Typed rows as the prepared split holds them: id, target (0/1), features."""
    rng = np.random.default_rng(seed)
    tenure = np.clip(rng.gamma(2.0, 12.0, count) + tenure_shift, 0, 120).round()
    charges = rng.uniform(20, 110, count).round(2)
    plan = rng.choice(PLANS, count, p=list(plans))
    paperless = rng.integers(0, 2, count).astype(float)
    logit = -1.0 - 0.05 * tenure + 0.02 * charges + np.where(plan == "basic", 0.8, -0.4)
    churn = (rng.random(count) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "customer_id": np.arange(count) + seed * 100_000,
            "churn": churn,
            "plan": plan,
            "tenure": tenure,
            "paperless": paperless,
            "charges": charges,
            "total": tenure * charges,
            "secret": rng.integers(0, 10, count).astype(float),
        }
    )


def fitted(train: pd.DataFrame) -> SavedModel:
    pipeline = model.build(CONTRACT, PARAMS)
    pipeline.fit(train[list(CONTRACT.feature_names)], train["churn"])
    return SavedModel(pipeline=pipeline, metadata={"threshold": PARAMS.threshold}, digest="a" * 64)


def write_log(
    directory: Path,
    frame: pd.DataFrame,
    probabilities: np.ndarray,
    *,
    version: str,
    start: datetime,
    step: timedelta = timedelta(seconds=1),
    contract: Contract = CONTRACT,
    threshold: float = PARAMS.threshold,
) -> None:
    """Log `frame`'s rows as the service does, one request per row, `step` apart from `start`:
    one closed file per day partition."""
    row_format = prediction_log.RowFormat(
        model_version=version,
        threshold=threshold,
        columns=tuple(n for n in contract.feature_names if n not in contract.personal),
        id_name=contract.id.name,
    )
    by_day: dict[str, bytearray] = {}
    for i, row in enumerate(frame.itertuples(index=False)):
        when = start + i * step
        request = prediction_log.Request(f"r{i}", int(when.timestamp() * 1_000_000), "/predict")
        columns = {name: [getattr(row, name)] for name in row_format.columns}
        ids = [getattr(row, contract.id.name)]
        line = row_format.lines(request, columns, ids, probabilities[i : i + 1], [0])
        by_day.setdefault(
            prediction_log.partition(when.astimezone(UTC).date()), bytearray()
        ).extend(line)
    for partition, data in by_day.items():
        folder = directory / partition
        folder.mkdir(parents=True, exist_ok=True)
        name = prediction_log.file_name(start, "test-host", 4242).removesuffix(
            prediction_log.OPEN_SUFFIX
        )
        (folder / name).write_bytes(bytes(data))
