"""The prepared split `prepare` writes: train and test rows (Parquet) and a manifest.

The one owner of that layout: the stages, the report and the benchmarks read the split through
here, never by file name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

TRAIN_FILE = "train.parquet"
TEST_FILE = "test.parquet"
MANIFEST_FILE = "manifest.json"
# Rows per Parquet row group (what a streamed read decodes at once), and per batch handed to a
# model: a batch as a DataFrame of a few dozen text columns is about 1 KiB a row, so a scored
# batch stays near 20 MiB whatever the size of the split.
ROW_GROUP_ROWS = 100_000
BATCH_ROWS = 20_000


def write(staging: Path, train: pd.DataFrame, test: pd.DataFrame, manifest: dict[str, Any]) -> None:
    """Fill a (staging) directory with the split and its manifest."""
    train.to_parquet(staging / TRAIN_FILE, index=False, row_group_size=ROW_GROUP_ROWS)
    test.to_parquet(staging / TEST_FILE, index=False, row_group_size=ROW_GROUP_ROWS)
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


class TestSplit:
    """The test rows read a column or a batch at a time, never whole: the report scores two
    models on millions of rows in bounded memory."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, prepared_dir: Path | str) -> None:
        import pyarrow.parquet as pq

        self.path = test_file(prepared_dir)
        self._file = pq.ParquetFile(self.path)
        self.columns: list[str] = list(self._file.schema_arrow.names)

    def __len__(self) -> int:
        return int(self._file.metadata.num_rows)

    def column(self, name: str) -> np.ndarray:
        """One column, all rows (ids, labels: a few bytes a row)."""
        return self._file.read(columns=[name]).column(0).to_numpy(zero_copy_only=False)

    def map_batches(
        self,
        columns: list[str],
        score: Callable[[pd.DataFrame], np.ndarray],
        batch_rows: int = BATCH_ROWS,
    ) -> np.ndarray:
        """`score` applied to each batch of `columns`, the results concatenated in row order."""
        import numpy as np

        parts = [
            np.asarray(score(batch.to_pandas()))
            for batch in self._file.iter_batches(batch_size=batch_rows, columns=columns)
        ]
        return np.concatenate(parts) if parts else np.empty(0)
