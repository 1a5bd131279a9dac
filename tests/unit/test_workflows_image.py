"""The image's build and start, checked without a Docker engine: the Dockerfile's structure,
the one declaration of the project's Python that everything follows, and the base-image check
the build runs first."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
DECLARED = (ROOT / ".python-version").read_text(encoding="utf-8").strip()
CHECK = ROOT / "src" / "churn" / "deliver" / "image" / "python_version.py"


def instructions(name: str) -> list[str]:
    """The arguments of every `name` instruction, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.+)$", joined, re.M)]


def test_the_python_version_is_declared_once_as_major_dot_minor():
    assert re.fullmatch(r"3\.\d+", DECLARED)


def test_no_path_in_the_image_names_a_python_version():
    """`/opt/venv/lib/python3.11/...` built on a 3.12 base, then died: 'No module named churn'."""
    assert re.findall(r"python\d\.\d+", DOCKERFILE) == []


def test_every_stage_builds_on_the_declared_python():
    assert instructions("ARG")[0] == f"PYTHON_VERSION={DECLARED}"
    stages = instructions("FROM")
    assert len(stages) == 2
    for stage in stages:
        assert stage.startswith("python:${PYTHON_VERSION}-slim"), stage


def test_the_build_checks_the_base_images_python_before_installing_anything():
    runs = instructions("RUN")
    assert runs[0].startswith("python /tmp/python_version.py /tmp/python-version")
    assert "COPY .python-version /tmp/python-version" in DOCKERFILE
    assert "COPY src/churn/deliver/image/python_version.py /tmp/python_version.py" in DOCKERFILE
    assert "pip install" not in runs[0]
    dockerignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "!.python-version" in dockerignore


def test_docker_run_image_and_image_serve_both_serve():
    """SageMaker runs `docker run IMAGE serve`: `serve` replaces CMD, never the entrypoint."""
    (entrypoint,) = instructions("ENTRYPOINT")
    (command,) = instructions("CMD")
    assert json.loads(entrypoint) == ["python", "-m", "churn.deliver.image.entrypoint"]
    assert json.loads(command) == ["serve"]
    assert "PYTHONPATH=/opt/churn" in DOCKERFILE
    assert "COPY src/churn /opt/churn/churn" in DOCKERFILE


@pytest.mark.parametrize(
    ("where", "pattern"),
    [
        ("pyproject.toml", None),
        (".pre-commit-config.yaml", r"python: python(\d\.\d+)"),
        ("Makefile", r"PYTHON_VERSION := \$\(strip \$\(file < (\.python-version)\)\)"),
    ],
)
def test_what_cannot_read_the_declaration_agrees_with_it(where, pattern):
    text = (ROOT / where).read_text(encoding="utf-8")
    if where == "pyproject.toml":
        project = tomllib.loads(text)
        minor = int(DECLARED.split(".")[1])
        assert project["project"]["requires-python"] == f">={DECLARED},<3.{minor + 1}"
        assert project["tool"]["ruff"]["target-version"] == f"py3{minor}"
        return
    (found,) = re.findall(pattern, text)
    assert found in (DECLARED, ".python-version")


def test_ci_sets_up_the_declared_python():
    setups = {
        (path.name, job_id): step
        for path in sorted((ROOT / ".github" / "workflows").glob("*.yml"))
        for job_id, job in yaml.safe_load(path.read_text())["jobs"].items()
        for step in job.get("steps", [])
        if "actions/setup-python" in step.get("uses", "")
    }
    assert {name for name, _ in setups} >= {"pr.yml", "release.yml"}
    for where, step in setups.items():
        assert step["with"] == {"python-version-file": ".python-version"}, where


def test_dependabot_proposes_no_other_python_for_the_base_image():
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    (docker,) = [u for u in config["updates"] if u["package-ecosystem"] == "docker"]
    assert {
        "dependency-name": "python",
        "update-types": ["version-update:semver-major", "version-update:semver-minor"],
    } in docker["ignore"]


def check_base_image(declared: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The build's first step, as it runs in the base image: a plain file, run by its Python."""
    version_file = tmp_path / "python-version"
    version_file.write_text(f"{declared}\n", encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(CHECK), str(version_file)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )


def test_a_base_image_with_the_declared_python_passes(tmp_path):
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert running == DECLARED  # the test environment itself follows the declaration
    result = check_base_image(DECLARED, tmp_path)
    assert result.returncode == 0, result.stderr


def test_a_base_image_with_another_python_fails_the_build_saying_why(tmp_path):
    """What a python:3.12-slim base meets: the project declares another version."""
    other = f"3.{sys.version_info[1] + 1}"
    result = check_base_image(other, tmp_path)
    assert result.returncode == 1
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert f"the base image runs Python {running}" in result.stderr
    assert f"declares Python {other} in .python-version" in result.stderr
    assert "Traceback" not in result.stderr
