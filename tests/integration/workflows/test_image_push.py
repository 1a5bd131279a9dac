"""The release publishes the smoke-tested image itself: pushed by ID under every tag, then
copied by digest to ECR. Run through the Makefile targets release.yml calls, against the
stand-in docker and aws CLIs of stand_ins/docker_cli (no Docker engine or registry here)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from tests.conftest import PROJECT_ROOT

TESTED = "sha256:" + "1" * 64
REBUILT = "sha256:" + "2" * 64
GHCR = "ghcr.io/example/churn"
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn"
STAND_INS = Path(__file__).parent / "stand_ins" / "docker_cli"


class Docker:
    """The stand-in's state: what the runner's Docker and the registries hold."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.save(
            {
                "images": [TESTED, REBUILT],
                "tags": {"churn-smoke:abc": TESTED},
                "logins": ["ghcr.io"],
                "registries": {},
                "digests": {},
            }
        )

    def load(self) -> dict:
        return json.loads(self.path.read_text(encoding="utf-8"))

    def save(self, state: dict) -> None:
        self.path.write_text(json.dumps(state), encoding="utf-8")

    def update(self, **changes: object) -> None:
        self.save({**self.load(), **changes})


@pytest.fixture
def docker(tmp_path: Path) -> Docker:
    return Docker(tmp_path / "docker-state.json")


def make(docker: Docker, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={
            **os.environ,
            "PATH": f"{STAND_INS}{os.pathsep}{os.environ['PATH']}",
            "STANDIN_DOCKER_STATE": str(docker.path),
            **env,
        },
    )


def test_the_tested_image_is_pushed_under_every_tag_and_its_digest_printed(docker):
    tags = f"{GHCR}:abc,{GHCR}:latest"
    result = make(docker, "push-image", f"IMAGE_ID={TESTED}", f"TAGS={tags}")
    assert result.returncode == 0, result.stderr
    state = docker.load()
    digests = set(state["registries"][GHCR].values())
    assert set(state["registries"][GHCR]) == {"abc", "latest"}
    assert len(digests) == 1
    (digest,) = digests
    assert state["digests"][digest] == TESTED
    # Exactly the lines release.yml appends to $GITHUB_OUTPUT.
    assert result.stdout.splitlines() == [f"digest={digest}", f"ref={GHCR}@{digest}"]
    pushed = [call[1] for call in state["calls"] if call[0] == "push"]
    assert pushed == [f"{GHCR}:abc", f"{GHCR}:latest"]


def test_a_tag_left_on_another_build_is_moved_to_the_tested_image(docker):
    docker.update(tags={"churn-smoke:abc": TESTED, f"{GHCR}:latest": REBUILT})
    result = make(docker, "push-image", f"IMAGE_ID={TESTED}", f"TAGS={GHCR}:latest")
    assert result.returncode == 0, result.stderr
    state = docker.load()
    assert state["digests"][state["registries"][GHCR]["latest"]] == TESTED


@pytest.mark.parametrize(
    ("image", "tags", "fail", "reason"),
    [
        ("sha256:" + "9" * 64, f"{GHCR}:abc", None, "No such image"),
        (TESTED, "", None, "no tags to push"),
        (TESTED, f"{GHCR}:abc,docker.io/other/churn:abc", None, "several repositories"),
        (TESTED, f"{GHCR}:abc", "denied: permission_denied: write_package", "denied"),
    ],
    ids=["unknown-image", "no-tags", "two-repositories", "registry-refuses"],
)
def test_a_push_that_cannot_publish_the_tested_image_fails(docker, image, tags, fail, reason):
    if fail:
        docker.update(fail={"push": fail})
    result = make(docker, "push-image", f"IMAGE_ID={image}", f"TAGS={tags}")
    assert result.returncode != 0
    assert reason in result.stderr
    assert result.stdout == ""


def pushed_to_ghcr(docker: Docker) -> str:
    result = make(docker, "push-image", f"IMAGE_ID={TESTED}", f"TAGS={GHCR}:abc")
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[1].removeprefix("ref=")


def test_the_ecr_copy_is_the_same_digest(docker):
    source = pushed_to_ghcr(docker)
    result = make(
        docker,
        "ecr-image",
        f"SOURCE={source}",
        f"ECR_REPOSITORY={ECR}",
        "TAG=abc",
        AWS_REGION="eu-west-1",
        AWS_ACCESS_KEY_ID="ASIA-STAND-IN",
    )
    assert result.returncode == 0, result.stderr
    state = docker.load()
    assert state["registries"][ECR]["abc"] == source.split("@")[1]
    assert ECR.split("/", maxsplit=1)[0] in state["logins"]
    assert "stand-in-ecr-password" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("source", "env", "reason"),
    [
        (f"{GHCR}:abc", {"AWS_ACCESS_KEY_ID": "ASIA-STAND-IN"}, "must name a digest"),
        (None, {}, "Unable to locate credentials"),
        (f"{GHCR}@sha256:" + "3" * 64, {"AWS_ACCESS_KEY_ID": "ASIA-STAND-IN"}, "not found"),
    ],
    ids=["by-tag", "no-aws-credentials", "unknown-digest"],
)
def test_an_ecr_copy_that_cannot_be_exact_fails(docker, source, env, reason):
    source = source or pushed_to_ghcr(docker)
    result = make(
        docker,
        "ecr-image",
        f"SOURCE={source}",
        f"ECR_REPOSITORY={ECR}",
        "TAG=abc",
        AWS_REGION="eu-west-1",
        **env,
    )
    assert result.returncode != 0
    assert reason in result.stderr
    assert ECR not in docker.load()["registries"]
