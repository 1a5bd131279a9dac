"""Command `wheel`: ship the model inside an installable package ("embedded" delivery).

The package is the template in `template/` (a tiny `load`/`predict` API), plus, added at build
time: the model directory, `churn.artifacts.saved_model` as its loader (one copy of the loading
code, not two), and `build.json` (model digest, training metadata, label threshold). Its
dependencies are read from the versions the model was trained with, so the wheel installs
nothing the model does not need and never an incompatible scikit-learn.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import string
import subprocess
import sys
import tempfile
from importlib.metadata import version as installed_version
from pathlib import Path

from churn import contract
from churn.artifacts import saved_model
from churn.user_error import UserError

TEMPLATE = "pyproject.toml.in"
# The project's name (the package's): its installed version numbers the wheel.
_PROJECT = __name__.partition(".")[0]
# A pickled scikit-learn estimator is only guaranteed to load in the version that pickled it;
# the other libraries keep their formats within a major version.
_EXACT = {"scikit-learn"}
# The wheel unpickles the model itself: MLflow is not needed to use it.
_NOT_NEEDED = {"mlflow"}
_PINNED = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;,]+)$")


class WheelError(UserError, RuntimeError):
    """The wheel could not be built from this template and model."""


def build(model_dir: Path, source_dir: Path, out_dir: Path) -> Path:
    """Build the wheel into `out_dir` and return its path."""
    card = saved_model.read(model_dir)
    if card.threshold is None or not card.contract.is_file():
        raise WheelError(f"{model_dir} lacks its threshold or contract: retrain it (`make run`)")
    package = _package(source_dir)
    version = f"{installed_version(_PROJECT)}+{card.digest[:12]}"
    ignored = shutil.ignore_patterns("__pycache__")
    with tempfile.TemporaryDirectory(prefix=f"{_PROJECT}-wheel-") as tmp:
        stage = Path(tmp) / "project"
        shutil.copytree(package, stage / package.name, ignore=ignored)
        # One copy of the loading and validating code, not two: the project's own modules.
        shutil.copy2(saved_model.__file__, stage / package.name / "_saved_model.py")
        shutil.copytree(
            Path(contract.__file__).parent, stage / package.name / "_contract", ignore=ignored
        )
        shutil.copytree(model_dir, stage / package.name / "model")
        build_info = {
            "version": version,
            "model_digest": card.digest,
            "threshold": card.threshold,
            "model_metadata": card.metadata,
        }
        (stage / package.name / "build.json").write_text(json.dumps(build_info, indent=2) + "\n")
        (stage / "pyproject.toml").write_text(
            render_pyproject(source_dir / TEMPLATE, model_dir, version), encoding="utf-8"
        )
        built = _run_build(stage, Path(tmp) / "dist")
        # Copied beside its final name, then renamed: never a half-written wheel in `out_dir`.
        out_dir.mkdir(parents=True, exist_ok=True)
        partial = out_dir / f".{built.name}.partial"
        shutil.copyfile(built, partial)
        os.replace(partial, out_dir / built.name)
        return out_dir / built.name


def render_pyproject(template: Path, model_dir: Path, version: str) -> str:
    """The template with this build's version, Python range and dependencies filled in."""
    if not template.is_file():
        raise WheelError(f"no package template at {template}")
    dependencies = "\n".join(f"  {json.dumps(d)}," for d in dependencies_of(model_dir))
    try:
        return string.Template(template.read_text(encoding="utf-8")).substitute(
            version=version,
            requires_python=python_range(model_dir),
            dependencies=dependencies,
        )
    except (KeyError, ValueError) as exc:
        raise WheelError(f"{template}: unknown or malformed placeholder ({exc})") from None


def dependencies_of(model_dir: Path) -> list[str]:
    """Requirements compatible with the library versions the model was trained with."""
    requirements = saved_model.read(model_dir).requirements
    if not requirements.is_file():
        raise WheelError(f"{model_dir} lists no training requirements (no {requirements.name})")
    result = []
    for text in requirements.read_text(encoding="utf-8").splitlines():
        line = text.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        pinned = _PINNED.match(line)
        if not pinned:
            result.append(line)
            continue
        name, version = pinned["name"], pinned["version"]
        if name.lower() in _NOT_NEEDED:
            continue
        if name.lower() in _EXACT:
            result.append(f"{name}=={version}")
        else:
            major = int(version.split(".", 1)[0])
            result.append(f"{name}>={version},<{major + 1}")
    return result


def python_range(model_dir: Path) -> str:
    """The Python minor version the model was pickled with: cloudpickle's bytecode needs it."""
    trained = saved_model.read(model_dir).python_version
    major, minor = (trained or f"{sys.version_info.major}.{sys.version_info.minor}").split(".")[:2]
    return f">={major}.{minor},<{major}.{int(minor) + 1}"


def _package(source_dir: Path) -> Path:
    packages = [p.parent for p in Path(source_dir).glob("*/__init__.py")]
    if len(packages) != 1:
        raise WheelError(f"{source_dir} must hold exactly one package, found {len(packages)}")
    return packages[0]


def _run_build(project: Path, dist: Path) -> Path:
    # No isolation: the build backend (hatchling) comes from the locked environment, offline.
    command = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)]
    result = subprocess.run([*command, str(project)], capture_output=True, text=True, check=False)
    wheels = sorted(dist.glob("*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        raise WheelError(f"building the wheel failed:\n{result.stdout}\n{result.stderr}".strip())
    return wheels[0]
