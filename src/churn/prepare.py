"""Stage `prepare`: validate the raw table, clean it, and split it into train and test sets."""

from __future__ import annotations

import json
from pathlib import Path

from churn import atomic, data, provenance, schema
from churn.params import PrepareParams

TRAIN_FILE = "train.parquet"
TEST_FILE = "test.parquet"
MANIFEST_FILE = "manifest.json"


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
        split.train.to_parquet(staging / TRAIN_FILE, index=False)
        split.test.to_parquet(staging / TEST_FILE, index=False)
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def load_manifest(prepared_dir: Path) -> dict[str, object]:
    return json.loads((prepared_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
