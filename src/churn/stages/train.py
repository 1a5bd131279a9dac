"""Stage `train`: fit the Pipeline described by the `train` params and save it (MLflow format)."""

from __future__ import annotations

from pathlib import Path

from churn import atomic, data, model, tracking
from churn.artifacts import prepared_split
from churn.params import TrainParams

_EXAMPLE_ROWS = 5


def run(params: TrainParams, prepared_dir: Path, model_dir: Path) -> None:
    """Fit on `train.parquet` and write the model directory atomically."""
    train = prepared_split.train_rows(prepared_dir)
    pipeline = model.build(params).fit(data.features(train), data.target(train))
    manifest = prepared_split.manifest(prepared_dir)
    metadata = {
        "params": params.model_dump(mode="json"),
        "data_sha256": manifest["raw_sha256"],
        "train_rows": manifest["train_rows"],
    }
    with atomic.replaced_dir(model_dir) as staging:
        # save_model insists on creating the directory itself.
        staging.rmdir()
        tracking.save_model(pipeline, staging, data.features(train).head(_EXAMPLE_ROWS), metadata)
