"""`churn wheel`: the model as an installable package, checked in a fresh virtual environment.

The fresh environment gets only the wheel and its dependency closure, installed offline from
the same hash-pinned lock (and so the same package cache) that `make install` used: no network,
and nothing from the project's own environment leaks in.
"""

from __future__ import annotations

import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import requires
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from tests.conftest import PROJECT_ROOT
from tests.integration.conftest import Trained

from churn import cli
from churn.artifacts import saved_model
from churn.contract import table

pytestmark = pytest.mark.slow

TEMPLATE = PROJECT_ROOT / "src" / "churn" / "deliver" / "wheel" / "template"
LOCK = PROJECT_ROOT / "requirements" / "dev.txt"

PACKAGE = next(TEMPLATE.glob("*/__init__.py")).parent.name
PROJECT = TEMPLATE.parents[2].name

# Runs inside the fresh environment: the README's example on the raw table, exact predictions on
# the test split, labels, info, bad-input errors, isolation.
PROBE = """
import importlib, importlib.util, json, sys
import numpy as np, pandas as pd

package, rows, raw, absent_feature, strict, project = sys.argv[1:7]
model = importlib.import_module(package)
frame = pd.DataFrame(**json.load(open(rows)))
errors = []
broken = [frame.drop(columns=[absent_feature])]
if strict:
    broken.append(frame.assign(**{strict: np.nan}))
for case in broken:
    try:
        model.predict(case)
    except ValueError as exc:
        errors.append(str(exc))
print(json.dumps({
    "probabilities": model.predict(frame).tolist(),
    "labels": model.predict_label(frame).tolist(),
    "readme_example": model.predict(pd.read_csv(raw)).tolist(),
    "info": model.info(),
    "errors": errors,
    "absent": [m for m in (project, "mlflow") if importlib.util.find_spec(m) is None],
    "prefix": sys.prefix,
}))
"""


def _build(trained: Trained, out: Path, source: Path = TEMPLATE) -> int:
    return cli.main(
        [
            "wheel",
            "--model",
            str(trained.model_dir),
            "--source",
            str(source),
            "--out",
            str(out),
        ]
    )


@pytest.fixture(scope="module")
def wheel(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    assert _build(trained, out) == 0
    (built,) = out.glob("*.whl")
    return built


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(archive.read(name).decode())


def test_wheel_carries_the_model_and_pins_its_training_versions(wheel, trained):
    """scikit-learn exactly as trained, no MLflow, the Python it was pickled with."""
    model = saved_model.load(trained.model_dir)
    mlmodel = yaml.safe_load((trained.model_dir / "MLmodel").read_text())
    metadata = _metadata(wheel)
    dependencies = metadata.get_all("Requires-Dist")

    assert f"scikit-learn=={mlmodel['flavors']['sklearn']['sklearn_version']}" in dependencies
    assert {canonicalize_name(Requirement(d).name) for d in dependencies} == {
        "scikit-learn",
        "pandas",
        "numpy",
        "cloudpickle",
        "pyyaml",
    }
    python = mlmodel["flavors"]["python_function"]["python_version"]
    assert Requirement(f"python{metadata['Requires-Python']}").specifier.contains(python + ".0")
    assert metadata["Version"].endswith("+" + model.digest[:12])
    with zipfile.ZipFile(wheel) as archive:
        files = set(archive.namelist())
        bundled = archive.read(f"{PACKAGE}/model/model.pkl")
    assert {
        f"{PACKAGE}/__init__.py",
        f"{PACKAGE}/_saved_model.py",
        f"{PACKAGE}/_contract/rules.py",
        f"{PACKAGE}/model/contract.yaml",
        f"{PACKAGE}/build.json",
    } <= files
    assert bundled == (trained.model_dir / "model.pkl").read_bytes()


def test_wheel_build_is_reproducible(wheel, trained, tmp_path):
    """The same model and template give the very same bytes (a release can be re-verified)."""
    assert _build(trained, tmp_path) == 0
    assert (tmp_path / wheel.name).read_bytes() == wheel.read_bytes()


def _locked_closure(names: list[str]) -> str:
    """The lock's hash-pinned entries for `names` and everything they depend on."""
    entries: dict[str, list[str]] = {}
    current: list[str] = []
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            current = [line]
            entries[canonicalize_name(re.split(r"[=<>!~ ;\[]", line, maxsplit=1)[0])] = current
        elif line.strip().startswith("--hash"):
            current.append(line)
    needed: set[str] = set()
    todo = [Requirement(n) for n in names]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in needed or (
            requirement.marker and not requirement.marker.evaluate({"extra": ""})
        ):
            continue
        needed.add(name)
        todo.extend(Requirement(r) for r in requires(name) or [])
    return "\n".join("\n".join(entries[n]) for n in sorted(needed)) + "\n"


def _fresh_venv(path: Path, wheel: Path) -> Path:
    uv = shutil.which("uv")
    assert uv, "uv (from the locked environment) is needed to build the test environment"

    def run(*args: str) -> None:
        result = subprocess.run([uv, *args], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"uv {' '.join(args)}:\n{result.stdout}\n{result.stderr}"

    run("venv", "--quiet", "--python", sys.executable, str(path))
    python = path / "bin" / "python"
    closure = path.parent / "closure.txt"
    closure.write_text(_locked_closure(_metadata(wheel).get_all("Requires-Dist")))
    install = ["pip", "install", "--quiet", "--offline", "--python", str(python), "--no-deps"]
    run(*install, "--require-hashes", "-r", str(closure))
    run(*install, str(wheel))
    run("pip", "check", "--quiet", "--python", str(python))  # the closure is complete
    return python


def test_fresh_environment_predicts_exactly_like_the_pipeline(wheel, trained, contract, tmp_path):
    """Installed alone in a new venv, the package gives the pipeline's probabilities, takes the
    raw table as the README shows (blanks included), and refuses what the contract refuses."""
    python = _fresh_venv(tmp_path / "venv", wheel)
    test = pd.read_parquet(trained.test_split)
    rows = tmp_path / "rows.json"
    # The id rides along: columns the model does not use are ignored.
    rows.write_text(json.dumps(test.drop(columns=[contract.target.name]).to_dict(orient="split")))
    absent = contract.features[0].name
    strict = next((f.name for f in contract.features if f.blank is None), "")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}

    arguments = [PACKAGE, str(rows), str(trained.raw_csv), absent, strict, PROJECT]
    probe = subprocess.run(
        [str(python), "-I", "-c", PROBE, *arguments],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout)
    model = saved_model.load(trained.model_dir)
    expected = model.predict_proba(table.features(contract, test))
    np.testing.assert_array_equal(np.array(result["probabilities"]), expected)
    assert result["labels"] == (expected >= model.threshold).astype(int).tolist()
    raw = table.load(contract, trained.raw_csv)
    np.testing.assert_allclose(
        result["readme_example"], model.predict_proba(table.features(contract, raw)), atol=1e-9
    )
    assert result["info"]["model_digest"] == model.digest
    assert result["info"]["threshold"] == model.threshold
    assert result["errors"][0] == f"missing column(s): {absent}"
    if strict:
        assert f"column '{strict}': blank value" in result["errors"][1]
    assert result["absent"] == [PROJECT, "mlflow"]
    assert Path(result["prefix"]) == tmp_path / "venv"


def test_bad_template_or_model_is_a_clear_error(trained, tmp_path, capsys):
    """Exit 2 with the reason, no traceback and no wheel."""
    assert _build(trained, tmp_path / "dist", source=tmp_path / "nowhere") == 2
    assert "must hold exactly one package, found 0" in capsys.readouterr().err
    missing = Trained(tmp_path / "no-model", trained.test_split, trained.raw_csv)
    assert _build(missing, tmp_path / "dist") == 2
    assert "not an MLflow model directory" in capsys.readouterr().err
    assert not (tmp_path / "dist").exists()
