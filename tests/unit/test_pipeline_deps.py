"""`dvc.yaml` is true: each stage depends on exactly the code it imports (transitively, inside
the package), so an edit to the contract's code or a shared module reruns the stages that read
it, and an edit elsewhere reruns none."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from tests.conftest import PROJECT_ROOT

SRC = PROJECT_ROOT / "src"
PACKAGE = next(p.name for p in SRC.iterdir() if (p / "__init__.py").is_file())
# Wiring, not computation: the entry point dispatches to the stage module.
WIRING = {"__init__.py", "__main__.py", "cli.py"}


def _module_file(module: str) -> Path | None:
    base = SRC.joinpath(*module.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _imports(path: Path) -> set[Path]:
    here = ".".join(path.relative_to(SRC).with_suffix("").parts)
    package = (
        here.rsplit(".", 1)[0] if path.name != "__init__.py" else here.removesuffix(".__init__")
    )
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names = [module] + [f"{module}.{a.name}" for a in node.names]
        for name in names:
            if name.split(".")[0] == PACKAGE:
                parts = name.split(".")
                # The package __init__ files on the way are imported too.
                for depth in range(2, len(parts) + 1):
                    file = _module_file(".".join(parts[:depth]))
                    if file is not None:
                        found.add(file)
    return found


def closure(start: Path) -> set[Path]:
    seen, todo = set(), [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(_imports(path))
    return {p for p in seen if p.name not in WIRING or p.parent != SRC / PACKAGE}


def _stages() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("stage", list(_stages()))
def test_each_stage_depends_on_exactly_the_code_it_imports(stage):
    spec = _stages()[stage]
    module = SRC / PACKAGE / "stages" / f"{stage}.py"
    needed = {p.relative_to(PROJECT_ROOT) for p in closure(module) if p.name != "__init__.py"}
    declared = [Path(d) for d in spec["deps"] if d.startswith("src/")]

    def covered(path: Path) -> bool:
        return any(path == d or d in path.parents for d in declared)

    assert sorted(str(p) for p in needed if not covered(p)) == [], "imported but not a dep"
    unused = [d for d in declared if not any(p == d or d in p.parents for p in needed)]
    assert unused == [], "a dep the stage never imports"
