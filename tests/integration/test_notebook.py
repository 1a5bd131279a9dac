"""The exploration notebook runs top to bottom, headless, in a Jupyter kernel of the project's
own environment (the one `make notebook` opens), on the project's table: it cannot rot."""

from __future__ import annotations

import shutil
import sys

import pytest
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.name for n in NOTEBOOKS])
def test_notebook_executes_headless_on_the_projects_data(notebook, contract, raw_csv, tmp_path):
    # Imported here, not at collection: nbformat's schema validation loads a URI grammar that
    # takes ~2 s of CPU to build, which every pytest-xdist worker would pay to collect this file.
    import nbformat
    from nbclient import NotebookClient

    stored = nbformat.read(notebook, as_version=4)
    assert all(not cell.get("outputs") for cell in stored.cells), "commit notebooks stripped"
    for name in ("contract.yaml", "params.yaml"):
        shutil.copy(PROJECT_ROOT / name, tmp_path / name)
    (tmp_path / contract.data_path).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(raw_csv, tmp_path / contract.data_path)
    (tmp_path / "notebooks").mkdir()
    # One more cell, in memory only: which Python the kernel runs.
    stored.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.prefix, end='')"))
    client = NotebookClient(
        stored,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path / "notebooks")}},
    )
    executed = client.execute()
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    # The kernel ran in this environment, as `make notebook` gives it.
    assert executed.cells[-1].outputs[0].text == sys.prefix
