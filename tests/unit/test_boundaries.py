"""Module boundaries from DESIGN.md, checked rather than hoped for."""

import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "churn"


def _imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_importing_the_package_does_nothing_heavy():
    """`import churn` loads no data or ML library and touches nothing."""
    loaded = _imported_after("import churn")
    assert not {"pandas", "sklearn", "mlflow", "dvc"} & loaded


def test_only_tracking_imports_mlflow_in_source():
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name != "tracking.py"
        and any(
            line.strip().startswith(("import mlflow", "from mlflow"))
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "module", ["churn.saved_model", "churn.report", "churn.serve", "churn.score"]
)
def test_delivery_and_report_modules_do_not_load_mlflow_or_training(module):
    if (
        not (SRC / module.split(".")[1]).exists()
        and not (SRC / f"{module.split('.')[1]}.py").exists()
    ):
        pytest.skip(f"{module} not present")
    loaded = _imported_after(f"import {module}")
    assert "mlflow" not in loaded
    assert "churn.train" not in loaded
    assert "churn.tracking" not in loaded
