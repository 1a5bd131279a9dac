"""The DAGs as Airflow's DAG processor sees them: generated from `dvc.yaml`, one task per stage,
DVC's edges. Apart from the Celery run (test_airflow.py) so the two run on different workers.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from tests.conftest import PROJECT_ROOT, copy_project, git
from tests.engines.conftest import DAGS_FOLDER, AirflowHome, stage_names

# The DAG file as Airflow's DAG processor sees it, generated from each project's dvc.yaml
# (CHURN_PROJECT_DIR), all in one process: Airflow's start-up is the slow part.
LIST_TASKS = """
import json, os, sys
from airflow.dag_processing.dagbag import DagBag
listed = {}
for project in sys.argv[2:]:
    os.environ["CHURN_PROJECT_DIR"] = project
    bag = DagBag(dag_folder=sys.argv[1])
    listed[project] = {
        "errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "dags": {
            dag_id: {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks}
            for dag_id, dag in bag.dags.items()
        },
        "order": {dag_id: [t.task_id for t in dag.tasks] for dag_id, dag in bag.dags.items()},
    }
print(json.dumps(listed))
"""
CARD_STAGE = (
    "  card:\n"
    "    cmd: python -c \"print('card')\" > card.txt\n"
    "    deps:\n"
    "      - models/model\n"
    "      - eval/metrics.json\n"
    "    outs:\n"
    "      - card.txt\n"
)


@pytest.fixture(scope="module")
def with_card(tmp_path_factory) -> Path:
    """A copy of the project whose dvc.yaml has one more stage, reading the model and metrics."""
    project = copy_project(tmp_path_factory.mktemp("with-card"))
    git(project, "init", "-q")  # `dvc dag` needs a repository
    pipeline_file = project / "dvc.yaml"
    text = pipeline_file.read_text()
    assert "\nplots:\n" in text
    pipeline_file.write_text(text.replace("\nplots:\n", "\n" + CARD_STAGE + "\nplots:\n", 1))
    return project


@pytest.fixture(scope="module")
def listed(airflow_settings: AirflowHome, with_card: Path) -> dict[Path, dict]:
    projects = [PROJECT_ROOT, with_card]
    script = [str(airflow_settings.bin / "python"), "-c", LIST_TASKS, str(DAGS_FOLDER)]
    result = subprocess.run(
        [*script, *map(str, projects)],
        env=airflow_settings.env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])
    for project in projects:
        assert found[str(project)]["errors"] == {}
    return {project: found[str(project)] for project in projects}


def dvc_edges(project: Path) -> set[tuple[str, str]]:
    """(upstream, downstream) stage pairs as DVC itself draws them."""
    dot = subprocess.run(
        ["dvc", "dag", "--dot"], cwd=project, capture_output=True, text=True, check=True
    ).stdout
    edges = set(re.findall(r'"([^"]+)" -> "([^"]+)"', dot))
    return {(a, b) for a, b in edges if not a.endswith(".dvc")}


def stage_edges(tasks: dict[str, list[str]], stages: set[str]) -> set[tuple[str, str]]:
    return {
        (up, name) for name, ups in tasks.items() if name in stages for up in ups if up in stages
    }


def test_each_dag_has_one_task_per_stage_with_dvcs_edges(listed):
    listed = listed[PROJECT_ROOT]
    names = stage_names(PROJECT_ROOT)
    pipeline = listed["dags"]["churn_pipeline"]
    retrain = listed["dags"]["churn_retrain"]
    assert set(pipeline) == {*names, "checkout_revision", "assemble_lock"}
    assert set(retrain) == {*names, "refresh_data", "open_pull_request"}
    # Same order as dvc.yaml (which is already in dependency order here).
    assert [t for t in listed["order"]["churn_pipeline"] if t in names] == names
    expected = dvc_edges(PROJECT_ROOT)
    assert stage_edges(pipeline, set(names)) == expected
    assert stage_edges(retrain, set(names)) == expected
    assert set(pipeline["assemble_lock"]) == {*names, "checkout_revision"}
    assert set(retrain["open_pull_request"]) == {*names, "refresh_data"}
    assert list(listed["dags"]["churn_rescore"]) == ["rescore"]


def test_a_stage_added_to_dvc_yaml_becomes_a_task_with_its_edges(listed, with_card):
    project = with_card
    listed = listed[project]
    pipeline = listed["dags"]["churn_pipeline"]
    assert set(pipeline["card"]) == {"checkout_revision", "train", "evaluate"}
    assert "card" in pipeline["assemble_lock"]
    assert "card" in listed["dags"]["churn_retrain"]["open_pull_request"]
    names = set(stage_names(project))
    assert "card" in names
    assert stage_edges(pipeline, names) == dvc_edges(project)
