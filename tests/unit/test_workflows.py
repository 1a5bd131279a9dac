"""The workflows' structure: pinned actions, least privilege, thin steps, no shell injection."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
NAMES = ("pr.yml", "pr-comment.yml", "release.yml")
PIN = re.compile(r"^\s*-?\s*uses:\s*([\w.-]+/[\w.-]+(?:/[\w./-]+)?)@(\S+)(.*)$")


def load(name: str) -> dict:
    # PyYAML reads the key `on` as True.
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def steps(workflow: dict):
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


@pytest.mark.parametrize("name", NAMES)
def test_every_action_is_pinned_to_a_full_sha_with_its_version(name):
    lines = [line for line in (WORKFLOWS / name).read_text().splitlines() if "uses:" in line]
    assert lines
    for line in lines:
        match = PIN.match(line)
        assert match, line
        _, ref, comment = match.groups()
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"not a full commit SHA: {line}"
        assert re.search(r"#\s*v\d+\.\d+\.\d+", comment), f"no version comment: {line}"


def test_an_action_has_the_same_pin_everywhere():
    seen: dict[str, set[str]] = {}
    for name in NAMES:
        for line in (WORKFLOWS / name).read_text().splitlines():
            if match := PIN.match(line):
                action = "/".join(match.group(1).split("/")[:2])
                seen.setdefault(action, set()).add(match.group(2))
    assert {action: shas for action, shas in seen.items() if len(shas) > 1} == {}


@pytest.mark.parametrize("name", NAMES)
def test_no_expression_is_interpolated_into_a_shell(name):
    """Values reach `run:` only through `env:`, so no input can become shell code."""
    for job_id, step in steps(load(name)):
        assert "${{" not in step.get("run", ""), (job_id, step["run"])


@pytest.mark.parametrize("name", NAMES)
def test_each_run_step_is_one_command(name):
    """Thin workflows: logic lives in the Makefile and the package, not in YAML."""
    for job_id, step in steps(load(name)):
        command = step.get("run", "").strip()
        for separator in ("\n", "&&", ";"):
            assert separator not in command, (job_id, command)


@pytest.mark.parametrize("name", NAMES)
def test_superseded_runs_are_grouped(name):
    assert "group" in load(name)["concurrency"]


def test_pull_request_workflow_is_read_only_and_untrusted():
    workflow = load("pr.yml")
    assert set(workflow[True]) == {"pull_request"}
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    for job in workflow["jobs"].values():
        assert "permissions" not in job
        for step in job["steps"]:
            if "actions/checkout" in step.get("uses", ""):
                assert step["with"]["persist-credentials"] is False


def test_pull_request_workflow_uploads_the_report_even_when_the_gate_fails():
    job = load("pr.yml")["jobs"]["train-report"]
    names = [step.get("name", step.get("uses")) for step in job["steps"]]
    gate = names.index("Compare with the base branch and apply the gate")
    upload = names.index("Upload the report")
    assert gate < upload
    assert "continue-on-error" not in job["steps"][gate]
    assert job["steps"][upload]["if"] == "${{ !cancelled() }}"
    assert job["steps"][gate]["run"].startswith("make report BASE=")


def test_comment_workflow_has_only_the_permissions_it_needs():
    workflow = load("pr-comment.yml")
    assert set(workflow[True]) == {"workflow_run"}
    assert workflow[True]["workflow_run"]["workflows"] == [load("pr.yml")["name"]]
    assert workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {
        "actions": "read",
        "contents": "read",
        "pull-requests": "write",
    }


def test_comment_workflow_never_checks_out_pull_request_code():
    (job,) = load("pr-comment.yml")["jobs"].values()
    for step in job["steps"]:
        if "actions/checkout" in step.get("uses", ""):
            assert "ref" not in step.get("with", {})
            assert step["with"]["persist-credentials"] is False


def test_comment_is_sticky_and_images_are_private_by_default():
    (job,) = load("pr-comment.yml")["jobs"].values()
    post = next(s for s in job["steps"] if "cml comment" in s.get("run", ""))
    assert "cml comment update" in post["run"]
    assert '--target="pr/$PR_NUMBER"' in post["run"]
    assert "--watermark-title=" in post["run"]
    assert post["env"]["PUBLISH_IMAGES"] == "${{ vars.CML_PUBLISH_IMAGES == 'true' }}"


def test_the_comment_goes_where_github_says_not_where_the_artifact_says():
    (job,) = load("pr-comment.yml")["jobs"].values()
    names = [step.get("name", step.get("uses")) for step in job["steps"]]
    target = job["steps"][
        names.index("Check the artifact and ask GitHub which pull request it belongs to")
    ]
    assert target["id"] == "target"
    assert (
        target["run"]
        == 'make pr-comment-target ARTIFACT="$RUNNER_TEMP/pr-report" >> "$GITHUB_OUTPUT"'
    )
    post = next(s for s in job["steps"] if "cml comment" in s.get("run", ""))
    assert post["env"]["PR_NUMBER"] == "${{ steps.target.outputs.number }}"
    assert post["env"]["REPORT"] == "${{ steps.target.outputs.report }}"
    # Nothing is installed or posted unless GitHub named exactly one pull request.
    for step in job["steps"][names.index(target["name"]) + 1 :]:
        assert step["if"] == "steps.target.outputs.number != ''", step


def test_cml_installs_without_scripts_and_only_the_posting_step_holds_the_token():
    workflow = load("pr-comment.yml")
    (job,) = workflow["jobs"].values()
    install = next(s for s in job["steps"] if s.get("name") == "Install CML")
    assert install["run"].startswith("npm install --global --ignore-scripts @dvcorg/cml@0.20.6")
    assert "env" not in install
    assert "env" not in workflow
    assert "env" not in job
    holders = {
        step.get("name", step.get("uses")): where
        for step in job["steps"]
        for where in ("env", "with")
        if "github.token" in json.dumps(step.get(where, {}))
    }
    assert holders == {
        # The artifact download (GitHub's own action), our lookup, and CML's one command.
        "Download the report of the pull request run": "with",
        "Check the artifact and ask GitHub which pull request it belongs to": "env",
        "Post or update the report comment": "env",
    }


def test_release_grants_write_access_per_job_only():
    workflow = load("release.yml")
    assert workflow["permissions"] == {}
    assert workflow[True]["push"] == {"branches": ["main"], "tags": ["v*"]}
    jobs = workflow["jobs"]
    assert jobs["image"]["permissions"] == {"contents": "read", "packages": "write"}
    assert jobs["sagemaker"]["permissions"] == {
        "contents": "read",
        "packages": "read",
        "id-token": "write",
    }
    assert jobs["publish"]["permissions"] == {"contents": "write"}
    assert jobs["register"]["permissions"] == {"contents": "read"}
    assert jobs["publish"]["if"] == "startsWith(github.ref, 'refs/tags/v')"


def test_release_saves_the_dvc_cache_that_pull_requests_restore():
    def cache_key(workflow: str, action: str) -> str:
        for _, step in steps(load(workflow)):
            if action in step.get("uses", ""):
                return step["with"]["key"]
        raise AssertionError(f"{workflow} has no {action}")

    saved = cache_key("release.yml", "actions/cache/save")
    restored = cache_key("pr.yml", "actions/cache/restore")
    assert saved == restored == "dvc-cache-${{ hashFiles('dvc.lock') }}"


def test_pull_requests_never_get_the_remote_write_credentials():
    """PR code may read the DVC remote, never write it: only the read-only secret, and no
    fallback to release.yml's read-write one (without it, PRs run without the remote)."""
    assert set(re.findall(r"secrets\.(\w+)", (WORKFLOWS / "pr.yml").read_text())) == {
        "DVC_REMOTE_READ_CONFIG"
    }
    (credentials,) = [s for _, s in steps(load("pr.yml")) if s.get("run") == "make dvc-credentials"]
    assert credentials["env"] == {"DVC_REMOTE_CONFIG": "${{ secrets.DVC_REMOTE_READ_CONFIG }}"}


def test_release_pushes_exactly_the_image_that_passed_the_smoke_test():
    """One build, loaded into the runner's Docker; the smoke test and the push both name it by
    the build's image ID (its content digest). A second build would be another image."""
    job = load("release.yml")["jobs"]["image"]
    builds = [s for s in job["steps"] if "docker/build-push-action" in s.get("uses", "")]
    (build,) = builds
    assert build["id"] == "build"
    assert build["with"]["load"] is True
    assert build["with"]["push"] is False
    assert build["with"]["provenance"] is False
    tested = "${{ steps.build.outputs.imageid }}"
    ids = [step.get("id") for step in job["steps"]]
    smoke = next(s for s in job["steps"] if s.get("run", "").startswith("make smoke"))
    assert smoke["run"] == 'make smoke IMAGE="$IMAGE_ID"'
    assert smoke["env"] == {"IMAGE_ID": tested}
    push = job["steps"][ids.index("push")]
    assert push["run"] == 'make push-image IMAGE_ID="$IMAGE_ID" TAGS="$TAGS" >> "$GITHUB_OUTPUT"'
    assert push["env"] == {"IMAGE_ID": tested, "TAGS": "${{ steps.meta.outputs.tags }}"}
    assert job["steps"].index(smoke) < ids.index("push")
    assert job["steps"][ids.index("meta")]["with"]["sep-tags"] == ","
    assert job["outputs"] == {"ref": "${{ steps.push.outputs.ref }}"}


def test_sagemaker_gets_the_pushed_digest_only_when_configured():
    jobs = load("release.yml")["jobs"]
    job = jobs["sagemaker"]
    assert job["needs"] == "image"
    assert job["if"] == ("vars.SAGEMAKER_ECR_REPOSITORY != '' && vars.SAGEMAKER_ECR_ROLE_ARN != ''")
    aws = next(s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert aws["with"]["role-to-assume"] == "${{ vars.SAGEMAKER_ECR_ROLE_ARN }}"
    copy = next(s for s in job["steps"] if s.get("run", "").startswith("make ecr-image"))
    assert copy["env"]["SOURCE"] == "${{ needs.image.outputs.ref }}"
    # Nothing else in the release builds or pushes an image.
    for name, other in jobs.items():
        for step in other.get("steps", []):
            if "docker/build-push-action" in step.get("uses", ""):
                assert name == "image"
            assert "docker push" not in step.get("run", "")
