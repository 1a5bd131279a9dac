"""Everything that touches MLflow: saving the model in MLflow format and logging pipeline runs.

This is the only module that imports MLflow (it is slow to import and absent from the service
image). Without `MLFLOW_TRACKING_URI`, runs go to a SQLite store under `mlruns/` in the
project; set the variable to use a tracking server instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import sys
import uuid
import warnings
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from sklearn.pipeline import Pipeline

# The project's own store, under its root (also for `dvc exp run --temp`; see provenance).
LOCAL_STORE = "mlruns"
# The project's name (the package's): its MLflow experiment unless MLFLOW_EXPERIMENT_NAME says.
DEFAULT_EXPERIMENT = __name__.partition(".")[0]
# The MLmodel fields MLflow fills with the clock and a random id. Pinning them makes the saved
# model byte-identical for identical training, so DVC sees "no change" and the committed
# dvc.lock can be checked against a CI rerun.
_EPOCH = "1970-01-01 00:00:00.000000"


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` if set, else the project's local SQLite store."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    from churn import provenance

    store = (provenance.project_root() / LOCAL_STORE).resolve()
    store.mkdir(exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


def _artifact_location(uri: str) -> str | None:
    # Without a server, MLflow would put artifacts in ./mlruns of whatever directory the stage
    # runs in; keep them beside the database instead. A server decides for itself.
    if uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///"))
        return (database.parent / "artifacts").resolve().as_uri()
    return None


def save_model(
    pipeline: Pipeline, path: Path, input_example: pd.DataFrame, metadata: Mapping[str, Any]
) -> None:
    """Write `pipeline` as an MLflow model directory with a signature and an input example.

    Serialization is cloudpickle, on purpose: MLflow 3's default, skops, refuses a plain
    ColumnTransformer pipeline unless every type is listed as trusted, and loads about 1.2 s
    slower. Pickle's risk (loading runs code) is acceptable here because the file is produced by
    our own pipeline and addressed by its hash in dvc.lock; never load a model from elsewhere.
    """
    import mlflow.sklearn
    from mlflow.models import infer_signature

    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values; ours are 0/1 flags the
        # schema already forbids to be blank, so the hint is noise.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        signature = infer_signature(input_example, pipeline.predict_proba(input_example))
    # Pinned explicitly: inferring them imports the model in a subprocess and is slow.
    requirements = [
        f"{pkg}=={version(pkg)}" for pkg in ("scikit-learn", "cloudpickle", "pandas", "numpy")
    ]
    # The pickle warning is the trade-off the docstring explains; say it once there, not per run.
    # And an environment without pip (MLflow warns it cannot pin it) is no problem: the
    # environment files are rewritten below without the saving machine's tools.
    quieted = [logging.getLogger(name) for name in ("mlflow.sklearn", "mlflow.utils.environment")]
    levels = [logger.level for logger in quieted]
    for logger in quieted:
        logger.setLevel(logging.ERROR)
    try:
        mlflow.sklearn.save_model(
            pipeline,
            str(path),
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            signature=signature,
            input_example=input_example,
            pip_requirements=requirements,
            metadata=dict(metadata),
            pyfunc_predict_fn="predict_proba",
        )
    finally:
        for logger, level in zip(quieted, levels, strict=True):
            logger.setLevel(level)
    _pin_volatile_fields(path)
    _without_nan(path)


def _without_nan(path: Path) -> None:
    """Blanks in the input example as JSON null: MLflow writes NaN, which is not JSON and which
    strict readers (the service's, at start-up) refuse."""
    for name in ("input_example.json", "serving_input_example.json"):
        example = path / name
        if example.is_file():
            document = json.loads(example.read_text(encoding="utf-8"))
            example.write_text(json.dumps(_nan_to_none(document)), encoding="utf-8")


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    return value


def _pin_volatile_fields(path: Path) -> None:
    from churn.artifacts import saved_model

    mlmodel = path / saved_model.MLMODEL
    spec = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    digest = hashlib.sha256(saved_model.read(path).pickle_file.read_bytes()).hexdigest()
    spec["utc_time_created"] = _EPOCH
    spec["model_uuid"] = uuid.UUID(digest[:32]).hex
    spec.pop("model_id", None)
    # MLflow records the interpreter's patch version and the build tools of the machine that
    # saved the model; the project pins neither (.python-version says 3.11, the locks hold no
    # pip), so a runner with another 3.11.x would write other bytes and another dvc.lock for
    # the same commit and data. The model needs the minor version (cloudpickle) and the
    # runtime packages, which requirements.txt pins from the lock.
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    spec["flavors"]["python_function"]["python_version"] = minor
    mlmodel.write_text(yaml.safe_dump(spec, sort_keys=True), encoding="utf-8")
    _pin_environment(path, spec["flavors"]["python_function"]["env"], minor)


def _pin_environment(path: Path, files: Mapping[str, str], minor: str) -> None:
    """The model's environment files (MLmodel names them) without the saving machine's
    versions."""
    python_env = path / files["virtualenv"]
    env = yaml.safe_load(python_env.read_text(encoding="utf-8"))
    env["python"] = minor
    env["build_dependencies"] = ["pip", "setuptools", "wheel"]
    python_env.write_text(yaml.safe_dump(env, sort_keys=False), encoding="utf-8")
    conda = path / files["conda"]
    env = yaml.safe_load(conda.read_text(encoding="utf-8"))
    # MLflow writes `python=3.11.7` and `pip<=23.2.1`, or `pip` alone when the environment has
    # none: the same two lines whatever the machine, then the pinned packages as they are.
    rest = [d for d in env["dependencies"] if _conda_name(d) not in ("python", "pip")]
    env["dependencies"] = [f"python={minor}", "pip", *rest]
    conda.write_text(yaml.safe_dump(env, sort_keys=False), encoding="utf-8")


def _conda_name(dependency: Any) -> str | None:
    """`pip<=23.2.1` -> `pip`; None for the `pip:` list of packages."""
    if not isinstance(dependency, str):
        return None
    return re.split(r"[<>=!~ ]", dependency, maxsplit=1)[0]


def log_run(
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    model_dir: Path,
    tags: Mapping[str, str],
    artifact_dirs: Mapping[str, Path],
    *,
    texts: Mapping[str, str] | None = None,
) -> str:
    """Record one pipeline run (params, metrics, model, provenance tags, small text artifacts
    such as the working tree's diff); return its id. A DVC experiment's run is named after it."""
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME", DEFAULT_EXPERIMENT)
    if mlflow.get_experiment_by_name(experiment) is None:
        mlflow.create_experiment(experiment, artifact_location=_artifact_location(uri))
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=tags.get("dvc.experiment"), tags=dict(tags)) as run:
        mlflow.log_params(dict(params))
        mlflow.log_metrics(dict(metrics))
        for name, text in (texts or {}).items():
            mlflow.log_text(text, name)
        mlflow.log_artifacts(str(model_dir), artifact_path="model")
        for name, directory in artifact_dirs.items():
            mlflow.log_artifacts(str(directory), artifact_path=name)
        return run.info.run_id


def register_model(
    model_dir: Path,
    *,
    name: str,
    alias: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
) -> str:
    """Log the model as a run, register it as a new version of `name`, point `alias` at it.

    Returns the new version number. The alias (not the deprecated stages) is how consumers
    find the current model: `models:/<name>@<alias>`.
    """
    import mlflow
    from mlflow import MlflowClient

    run_id = log_run(params, metrics, model_dir, tags, artifact_dirs={})
    registered = mlflow.register_model(f"runs:/{run_id}/model", name, tags=dict(tags))
    MlflowClient().set_registered_model_alias(name, alias, registered.version)
    return str(registered.version)
