"""Stage `prepare`: validate the raw table against the contract, type it, and split it into
train and test sets.

Nothing is written unless the whole table is valid and trainable, and then atomically, so bad
raw data leaves the previous split in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from churn import atomic, provenance
from churn.artifacts import prepared_split
from churn.contract import Contract, DataValidationError, table
from churn.params import PrepareParams


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    test: pd.DataFrame


def check_trainable(contract: Contract, frame: pd.DataFrame, min_rows: int) -> None:
    """Refuse a table with one class, or too few rows of a class to train and evaluate on."""
    target = contract.target
    counts = frame[target.name].value_counts()
    for value, label in ((1, target.positive), (0, target.negative)):
        found = int(counts.get(value, 0))
        if found < min_rows:
            raise DataValidationError(
                [
                    f"column '{target.name}': {found} row(s) are '{label}', fewer than "
                    f"prepare.min_rows_per_class ({min_rows}): a model needs both classes"
                ]
            )


def split(contract: Contract, frame: pd.DataFrame, params: PrepareParams) -> Split:
    """Deterministic split, stratified on the target, independent of the order rows arrive in."""
    ordered = frame.sort_values(contract.id.name, kind="stable").reset_index(drop=True)
    train, test = train_test_split(
        ordered,
        test_size=params.test_size,
        random_state=params.random_state,
        stratify=ordered[contract.target.name],
    )
    return Split(train=train.reset_index(drop=True), test=test.reset_index(drop=True))


def run(contract: Contract, params: PrepareParams, raw_path: Path, out_dir: Path) -> dict:
    """Write the split and its manifest into `out_dir`, atomically."""
    typed = table.load(contract, raw_path)
    check_trainable(contract, typed, params.min_rows_per_class)
    parts = split(contract, typed, params)
    manifest = {
        "raw_file": raw_path.name,
        "raw_sha256": provenance.file_sha256(raw_path),
        "contract_sha256": contract.digest,
        "id": contract.id.name,
        "target": contract.target.name,
        "positive_label": contract.target.positive,
        "rows": len(typed),
        "train_rows": len(parts.train),
        "test_rows": len(parts.test),
        "positive_rate": round(float(parts.train[contract.target.name].mean()), 6),
    }
    with atomic.replaced_dir(out_dir) as staging:
        prepared_split.write(staging, parts.train, parts.test, manifest)
    return manifest
