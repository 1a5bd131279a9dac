"""Register the released model in MLflow's model registry and make it the `champion`.

Runs after the release image passed its smoke test. It needs a shared tracking server: with
`MLFLOW_TRACKING_URI` unset there is nothing to register into (the project's local store lives
on one machine), so it says so and succeeds without doing anything.
"""

from __future__ import annotations

import os
from pathlib import Path

from churn import provenance
from churn.release import model_card


def run(model_dir: Path, metrics_path: Path, name: str, alias: str) -> str:
    """Register `model_dir` as a new version of `name` with `alias`; return what happened."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        return (
            "MLFLOW_TRACKING_URI is not set: skipping model registration. Set it (a repository "
            f"variable in CI) to register each release and point the '{alias}' alias at it."
        )
    card = model_card.read(model_dir, metrics_path)
    tags = {
        "git_commit": provenance.git_commit(),
        "data_sha256": str(card["data_sha256"]),
        "model_sha256": str(card["model_sha256"]),
    }
    from churn import tracking

    version = tracking.register_model(
        model_dir,
        name=name,
        alias=alias,
        params=model_card.flatten(card["params"]),
        metrics=card["metrics"],
        tags=tags,
    )
    return f"registered {name} version {version}; alias '{alias}' now points at it"
