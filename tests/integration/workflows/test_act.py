"""release.yml, pr.yml and pr-comment.yml executed for real by act on this host (conftest.py).

The story of a template repository: the first push to main runs release.yml's pipeline job
(no DVC remote content: the data is rebuilt, the pipeline runs, the DVC cache is saved); then a
pull request makes the model clearly worse. Its train-report job must restore main's cache,
fail at the gate, still upload the report, and pr-comment.yml must post it as the one sticky
comment of that pull request.
"""

from __future__ import annotations

import json

import pytest
from tests.conftest import git
from tests.github_api import StandInGitHub, pull_request
from tests.integration.workflows.conftest import (
    BASE_REPOSITORY,
    COMMENT_RUN,
    FORK,
    FORK_BRANCH,
    PR_NUMBER,
    PR_RUN,
    Github,
    pull_request_event,
    step_results,
    workflow_run_event,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pr_run(worse_pull_request: Github):
    github = worse_pull_request
    return github.run_act(
        "pull_request",
        event=pull_request_event(github.origin),
        workflow="pr.yml",
        job="train-report",
        run_id=PR_RUN,
        record=github.root / "pr-record.json",
    )


@pytest.fixture(scope="module")
def comment_run(worse_pull_request: Github, pr_run):
    """pr-comment.yml after the PR run; GitHub's API (stand-in) knows the pull request, opened
    from a fork whose branch head is the commit the PR run tested."""
    github = worse_pull_request
    head = git(github.origin, "rev-parse", "worse-model")
    git(github.origin, "checkout", "-q", "--detach", "main")
    record = github.root / "comment.json"
    with StandInGitHub(repository=BASE_REPOSITORY) as api:
        api.pulls = [
            pull_request(PR_NUMBER, base=BASE_REPOSITORY, head=FORK, branch=FORK_BRANCH, sha=head)
        ]
        result = github.run_act(
            "workflow_run",
            event=workflow_run_event(str(PR_RUN), "failure", head),
            workflow="pr-comment.yml",
            job="comment",
            run_id=COMMENT_RUN,
            record=record,
            env={"GITHUB_API_URL": api.url},
        )
    return result, record


def test_release_pipeline_job_publishes_model_wheel_card_and_dvc_cache(github, release):
    log = release.result.stdout + release.result.stderr
    assert release.result.returncode == 0, log[-3000:]
    steps = step_results(log)
    assert "Push data, outputs and run-cache to the DVC remote" not in steps  # no credentials
    assert steps["Save the DVC cache for pull requests"] == "Success"
    (entry,) = github.cache.iterdir()
    assert entry.name.startswith("dvc-cache-")
    assert any((entry / ".dvc" / "cache").rglob("*"))
    assert (release.artifact / "models" / "model" / "MLmodel").is_file()
    assert list((release.artifact / "dist").glob("*.whl"))
    card = (release.artifact / "dist" / "model-card.md").read_text()
    metrics = json.loads((release.artifact / "eval" / "metrics.json").read_text())
    assert f"| roc_auc | {metrics['roc_auc']:.4f} |" in card


def test_a_clearly_worse_model_fails_the_job_at_the_gate(pr_run):
    log = pr_run.stdout + pr_run.stderr
    steps = step_results(log)
    assert pr_run.returncode != 0, log[-3000:]
    assert "stand-in cache: restored dvc-cache-" in log  # main's model, saved by release.yml
    # Like a fork's run: no credentials, and no crash because of it.
    assert "No DVC remote credentials in this run" in log
    assert steps.get("Compare with the base branch and apply the gate") == "Failure", steps
    # Everything before the gate worked, and the report was handed over regardless.
    for name in (
        "Install the locked environment",
        "Reproduce the pipeline (unchanged stages are reused)",
        "Upload the report",
    ):
        assert steps.get(name) == "Success", (name, steps)


def test_the_artifact_holds_the_report_metrics_and_pr_number(github, pr_run):
    artifact = github.artifacts / str(PR_RUN) / "pr-report"
    assert (artifact / "pr-number").read_text() == f"{PR_NUMBER}\n"
    main_auc = json.loads((github.origin / "eval" / "metrics.json").read_text())["roc_auc"]
    assert json.loads((artifact / "metrics.json").read_text())["roc_auc"] < main_auc
    assert "worse" in (artifact / "report.json").read_text().lower()
    report = (artifact / "report.md").read_text()
    assert "| Metric |" in report
    # Paired: main's model came from the restored DVC cache and was re-scored on the same rows.
    assert "same" in report
    assert "unpaired" not in report.lower()
    # The remote's state is reported, not fatal.
    assert "DVC remote" in report


def test_the_comment_workflow_posts_one_sticky_comment_without_publishing_images(comment_run):
    result, record = comment_run
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    posted = json.loads(record.read_text())
    assert posted["args"][:2] == ["comment", "update"]
    assert f"--target=pr/{PR_NUMBER}" in posted["args"]
    assert "--watermark-title=Model report" in posted["args"]
    assert "--publish=false" in posted["args"]
    assert posted["token"]
    assert posted["do_not_track"] == "true"
    body = posted["body"]
    assert "| Metric |" in body
    assert "ROC AUC" in body
    assert "Worse" in body.splitlines()[0]
