"""monitor.yml's `monitor` job executed for real by act (conftest.py), on a repository fresh
from the template: after the first push to main (release.yml saved main's DVC cache) and with no
MONITOR_WINDOW, the job restores main's model, reruns nothing, monitors the sample and is green,
and the report it uploads says healthy."""

from __future__ import annotations

import json

import pytest
from tests.conftest import git
from tests.integration.workflows.conftest import Github, Release, step_results

from churn.release import monitor_issue

pytestmark = pytest.mark.slow

MONITOR_RUN = 104


@pytest.fixture(scope="module")
def monitor_run(github: Github, release: Release):
    assert release.result.returncode == 0, "the release run must pass first (test_act.py)"
    return github.run_act(
        "workflow_dispatch",
        event={
            "ref": "refs/heads/main",
            "inputs": {},
            "repository": {"full_name": "example/churn", "default_branch": "main"},
            "after": git(github.origin, "rev-parse", "main"),
        },
        workflow="monitor.yml",
        job="monitor",
        run_id=MONITOR_RUN,
        record=github.root / "monitor-record.json",
    )


def test_the_monitor_job_of_a_fresh_repository_is_green_and_healthy(github, monitor_run):
    log = monitor_run.stdout + monitor_run.stderr
    assert monitor_run.returncode == 0, log[-4000:]
    steps = step_results(log)
    for name in (
        "Restore main's DVC cache",
        "Reproduce the pipeline (expected to rerun nothing)",
        "Check the model on the production window",
        "Upload the report",
    ):
        assert steps.get(name) == "Success", (name, steps)
    assert "stand-in cache: restored dvc-cache-" in log
    assert "Running stage" not in log  # main's outputs came from the cache, nothing retrained
    report = github.artifacts / str(MONITOR_RUN) / "monitor-report"
    text = (report / "monitor.json").read_text()
    assert monitor_issue.parse(text).status == "healthy"
    document = json.loads(text)
    assert document["window"]["kind"] == "sample"
    assert (report / "monitor.md").read_text().startswith("## Model monitor: healthy")
