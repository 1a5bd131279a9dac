"""The saved model's bytes depend on the locks and the data, not on the machine that trained it.

MLflow writes the training interpreter and its build tools into the model directory. The model
directory is a DVC output: its hash is in `dvc.lock`, so a runner with another Python 3.11.x
or another pip would write a different lock for the same commit and data.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import pandas as pd
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from churn import tracking

MINOR = f"{sys.version_info.major}.{sys.version_info.minor}"


def _saved(tmp_path: Path) -> Path:
    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    pipeline = Pipeline([("classifier", LogisticRegression())]).fit(frame, [0, 0, 1, 1])
    path = tmp_path / "model"
    tracking.save_model(pipeline, path, frame.head(2), metadata={})
    return path


def test_the_model_names_python_by_its_minor_version_and_pins_no_build_tool(tmp_path):
    path = _saved(tmp_path)
    patch = platform.python_version()
    assert patch != MINOR
    texts = {p.name: p.read_text(encoding="utf-8") for p in path.iterdir() if p.suffix != ".pkl"}
    assert [name for name, text in texts.items() if patch in text] == []
    for tool in ("pip", "setuptools"):
        assert [name for name, text in texts.items() if f"{tool}==" in text] == [], tool
        assert [name for name, text in texts.items() if f"{tool}<=" in text] == [], tool

    mlmodel = yaml.safe_load(texts["MLmodel"])
    assert mlmodel["flavors"]["python_function"]["python_version"] == MINOR
    assert yaml.safe_load(texts["python_env.yaml"])["python"] == MINOR
    assert f"python={MINOR}" in yaml.safe_load(texts["conda.yaml"])["dependencies"]
    # The project's Python, as it declares it once.
    assert (Path(__file__).parents[2] / ".python-version").read_text().strip() == MINOR


def test_mlflow_still_loads_the_model_and_its_environment(tmp_path):
    from mlflow.pyfunc import load_model
    from mlflow.utils.environment import _PythonEnv

    path = _saved(tmp_path)
    env = _PythonEnv.from_yaml(str(path / "python_env.yaml"))
    assert env.python == MINOR
    assert {"pip", "setuptools", "wheel"} <= set(env.build_dependencies)
    loaded = load_model(str(path))
    assert loaded.metadata.flavors["python_function"]["python_version"] == MINOR


def test_a_machine_without_pip_saves_the_same_bytes(tmp_path, monkeypatch, caplog):
    """A venv made without pip (nothing needs it once uv is in): MLflow then writes `pip`
    unpinned, and warns; the model directory must not change."""
    import importlib.metadata

    with_pip = _saved(tmp_path / "with-pip")
    found = importlib.metadata.version

    def without_pip(name: str) -> str:
        if name == "pip":
            raise importlib.metadata.PackageNotFoundError(name)
        return found(name)

    monkeypatch.setattr(importlib.metadata, "version", without_pip)
    no_pip = _saved(tmp_path / "no-pip")

    assert sorted(p.name for p in no_pip.iterdir()) == sorted(p.name for p in with_pip.iterdir())
    for path in with_pip.iterdir():
        assert (no_pip / path.name).read_bytes() == path.read_bytes(), path.name
    assert "pip version" not in caplog.text
