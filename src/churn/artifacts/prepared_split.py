"""The prepared split `prepare` writes: train and test rows (Parquet) and a manifest.

The one owner of that layout: the stages, the report and the benchmarks read the split through
here, never by file name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

TRAIN_FILE = "train.parquet"
TEST_FILE = "test.parquet"
MANIFEST_FILE = "manifest.json"


def write(staging: Path, train: pd.DataFrame, test: pd.DataFrame, manifest: dict[str, Any]) -> None:
    """Fill a (staging) directory with the split and its manifest."""
    train.to_parquet(staging / TRAIN_FILE, index=False)
    test.to_parquet(staging / TEST_FILE, index=False)
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def train_rows(prepared_dir: Path | str) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(Path(prepared_dir) / TRAIN_FILE)


def test_rows(prepared_dir: Path | str) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(Path(prepared_dir) / TEST_FILE)


def manifest(prepared_dir: Path | str) -> dict[str, Any]:
    return json.loads((Path(prepared_dir) / MANIFEST_FILE).read_text(encoding="utf-8"))


def test_file(prepared_dir: Path | str) -> Path:
    """The test split's path (for tools that read it themselves, e.g. DVC at another revision)."""
    return Path(prepared_dir) / TEST_FILE
