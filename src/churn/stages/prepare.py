"""Stage `prepare`: validate the raw table, clean it, and split it into train and test sets."""

from __future__ import annotations

from pathlib import Path

from churn import atomic, data, provenance
from churn.artifacts import prepared_split
from churn.contract import schema
from churn.params import PrepareParams


def run(params: PrepareParams, raw_path: Path, out_dir: Path) -> dict[str, object]:
    """Write `train.parquet`, `test.parquet` and `manifest.json` into `out_dir`, atomically."""
    typed = data.validate(data.load_raw(raw_path))
    split = data.split(data.clean(typed), params.test_size, params.random_state)
    manifest = {
        "raw_file": raw_path.name,
        "raw_sha256": provenance.file_sha256(raw_path),
        "rows": len(typed),
        "train_rows": len(split.train),
        "test_rows": len(split.test),
        "churn_rate": round(float(split.train[schema.TARGET].mean()), 6),
    }
    with atomic.replaced_dir(out_dir) as staging:
        prepared_split.write(staging, split.train, split.test, manifest)
    return manifest
