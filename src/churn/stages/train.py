"""Stage `train`: fit the Pipeline the contract and the `train` params describe, and save it
(MLflow format) with its label threshold and a copy of the contract it was trained under."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from churn import atomic, model, tracking
from churn.artifacts import prepared_split, saved_model
from churn.contract import Contract, ContractError, table
from churn.model import BLANK_CATEGORY
from churn.params import TrainParams

_EXAMPLE_ROWS = 5


def input_example(contract: Contract, features: pd.DataFrame) -> pd.DataFrame:
    """A few training rows for the model's signature and serving example, complete ones first
    (a blank would reach the example file as NaN, which JSON cannot carry)."""
    blank = pd.DataFrame(
        {
            f.name: features[f.name].isna() if f.numeric else features[f.name] == BLANK_CATEGORY
            for f in contract.features
        }
    ).any(axis=1)
    return pd.concat([features[~blank], features[blank]]).head(_EXAMPLE_ROWS)


def run(contract: Contract, params: TrainParams, prepared_dir: Path, model_dir: Path) -> None:
    """Fit on the training split and write the model directory atomically."""
    manifest = prepared_split.manifest(prepared_dir)
    if manifest.get("contract_sha256") != contract.digest:
        raise ContractError(
            f"{prepared_dir} was prepared under another data contract: run `dvc repro`"
        )
    train = prepared_split.train_rows(prepared_dir)
    features = table.features(contract, train)
    pipeline = model.build(contract, params).fit(features, table.target(contract, train))
    metadata = {
        "params": params.model_dump(mode="json"),
        "threshold": params.threshold,
        "target": contract.target.name,
        "positive_label": contract.target.positive,
        "contract_sha256": contract.digest,
        "data_sha256": manifest["raw_sha256"],
        "train_rows": manifest["train_rows"],
    }
    with atomic.replaced_dir(model_dir) as staging:
        # save_model insists on creating the directory itself.
        staging.rmdir()
        tracking.save_model(pipeline, staging, input_example(contract, features), metadata)
        saved_model.write_contract(staging, contract.text)
