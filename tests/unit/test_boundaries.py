"""Module boundaries, checked rather than hoped for: the folders are the architecture.

Layers, lowest first: the building blocks (`contract/`, `artifacts/` and the top-level modules),
then `stages/`, `report/`, `deliver/` and `monitor/` side by side, then `engines/` (which run the
stages and deliveries at scale, e.g. the score delivery's own chunk scorer inside Spark tasks)
beside `release/`, then `cli`.
A module imports from its own folder or from a lower layer, never sideways or upwards, so a
delivery can be deleted with its folder.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = next(p.name for p in SRC.iterdir() if (p / "__init__.py").is_file())
ROOT = SRC / PACKAGE

BLOCKS = 0
SIDE_BY_SIDE = {"stages", "report", "deliver", "monitor"}


def _layer(module: str) -> tuple[int, str]:
    """(layer, folder) of a module path inside the package, e.g. 'deliver.serve.app'."""
    first = module.split(".", maxsplit=1)[0]
    if first in ("cli", "__main__"):
        return 3, "cli"
    if first in ("release", "engines"):
        return 2, first
    if first in SIDE_BY_SIDE:
        # deliver/serve and deliver/score are separate deliveries: their own folder is the unit.
        folder = ".".join(module.split(".")[:2]) if first == "deliver" else first
        return 1, folder
    return BLOCKS, first if (ROOT / first).is_dir() else ""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == PACKAGE:
                found |= {f"{PACKAGE}.{a.name}" for a in node.names}
            elif node.module.startswith(PACKAGE + "."):
                found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith(PACKAGE + ".")}
    return {m.removeprefix(PACKAGE + ".") for m in found}


def _existing(module: str) -> str | None:
    """The longest prefix of `module` that is a module or package of ours."""
    parts = module.split(".")
    while parts:
        base = ROOT.joinpath(*parts)
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    return None


def _violations() -> list[str]:
    found = []
    for path in ROOT.rglob("*.py"):
        if "template" in path.relative_to(ROOT).parts:
            continue  # the wheel's package template is not part of this package
        here = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        layer, folder = _layer(here)
        for target in filter(None, map(_existing, _imports(path))):
            their_layer, their_folder = _layer(target)
            sideways = their_layer == layer and layer > BLOCKS and their_folder != folder
            if their_layer > layer or sideways:
                found.append(f"{here} imports {target}")
    return sorted(found)


def test_modules_import_only_their_own_folder_or_lower_layers():
    assert _violations() == []


def _imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_importing_the_package_does_nothing_heavy():
    """`import <package>` loads no data or ML library and touches nothing."""
    loaded = _imported_after(f"import {PACKAGE}")
    assert not {"pandas", "sklearn", "mlflow", "dvc"} & loaded


def test_only_tracking_imports_mlflow_in_source():
    offenders = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if path.name != "tracking.py"
        and any(
            line.strip().startswith(("import mlflow", "from mlflow"))
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "module", ["artifacts.saved_model", "report", "deliver.serve.app", "deliver.score.run"]
)
def test_delivery_and_report_modules_do_not_load_mlflow_or_training(module):
    loaded = _imported_after(f"import {PACKAGE}.{module}")
    assert "mlflow" not in loaded
    assert f"{PACKAGE}.stages.train" not in loaded
    assert f"{PACKAGE}.tracking" not in loaded


def test_a_refused_input_is_one_line_and_exit_2_without_loading_the_data_libraries():
    """Recognising a user error costs nothing: the modules that raise them load pandas,
    scikit-learn or DVC, seconds before a one-line message."""
    code = (
        "import io, sys\n"
        f"from {PACKAGE} import cli\n"
        "sys.stdin = io.StringIO('not json')\n"
        "code = cli.main(['task', 'assemble'])\n"
        "print(code, *sorted({'pandas', 'sklearn', 'dvc', 'mlflow'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2"]
    assert out.stderr.startswith(f"{PACKAGE} task assemble: stdin is not JSON")
    assert out.stderr.count("\n") == 1
