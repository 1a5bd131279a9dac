"""The image's entrypoint, run on this host (no Docker engine here) against directories laid
out like the image's /app and like SageMaker's /opt/ml/model (SM_MODEL_DIR stands in for its
path): `IMAGE` and `IMAGE serve` serve for real, checked by the release's own smoke test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.integration.conftest import Pipeline, free_port, wait_until_up

from churn.release import smoke

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Built:
    """What the Dockerfile copies to /app: the model and its compiled form."""

    model: Path
    compiled: Path


@pytest.fixture(scope="module")
def built(pipeline: Pipeline) -> Built:
    """The session pipeline's model and compiled model: what `make run` leaves in models/."""
    assert json.loads((pipeline.compiled_dir / "check.json").read_text())["passed"]
    return Built(pipeline.model_dir, pipeline.compiled_dir)


def lay_out(root: Path, built: Built, *, model: bool) -> Path:
    root.mkdir(parents=True)
    if model:
        shutil.copytree(built.model, root / "model")
        shutil.copytree(built.compiled, root / "compiled")
    return root


@dataclass
class Container:
    process: subprocess.Popen
    url: str
    log: Path

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/health", timeout=10) as response:
            return json.loads(response.read())


def entrypoint(
    app: Path, sagemaker: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """The entrypoint of a command that ends (no server)."""
    return subprocess.run(
        [sys.executable, "-m", "churn.deliver.image.entrypoint", *args],
        cwd=app,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "SM_MODEL_DIR": str(sagemaker), **env},
    )


@pytest.fixture
def start(tmp_path: Path) -> Iterator:
    started: list[subprocess.Popen] = []

    def starting(app: Path, sagemaker: Path, *args: str, **env: str) -> Container:
        port = env.pop("port", None) or str(free_port())
        log = tmp_path / f"container-{len(started)}.log"
        with log.open("w") as handle:
            process = subprocess.Popen(
                [sys.executable, "-m", "churn.deliver.image.entrypoint", *args],
                cwd=app,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env={
                    **os.environ,
                    "HOST": "127.0.0.1",
                    "PORT": port,
                    "SM_MODEL_DIR": str(sagemaker),
                    **env,
                },
            )
        started.append(process)
        url = f"http://127.0.0.1:{env.get('SAGEMAKER_BIND_TO_PORT', port)}"
        try:
            wait_until_up(f"{url}/ping", process)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}:\n{log.read_text()}") from exc
        return Container(process, url, log)

    yield starting
    for process in started:
        process.terminate()
        process.wait(timeout=30)


def passes_smoke(container: Container, built: Built) -> bool:
    example = built.model / "serving_input_example.json"
    return smoke.main(["--url", container.url, "--example", str(example), "--timeout", "30"]) == 0


@pytest.mark.parametrize("args", [("serve",), ()], ids=["IMAGE serve", "IMAGE"])
def test_the_image_serves_its_own_model(tmp_path, built, start, args):
    app = lay_out(tmp_path / "app", built, model=True)
    container = start(app, tmp_path / "opt-ml-model", *args)
    assert passes_smoke(container, built)
    assert container.health()["predictor"] == "onnx"  # compiled/ was found beside the model
    assert f"serving the model from the image ({app})" in container.log.read_text()


def test_sagemaker_serve_reads_the_mounted_model_directory(tmp_path, built, start):
    """SageMaker: `docker run IMAGE serve` with the model data unpacked at /opt/ml/model. The
    image's /app has no model here, so a served answer can only come from the mounted one."""
    app = lay_out(tmp_path / "app", built, model=False)
    sagemaker = lay_out(tmp_path / "opt-ml-model", built, model=True)
    container = start(app, sagemaker, "serve")
    assert passes_smoke(container, built)
    assert container.health()["predictor"] == "onnx"
    assert f"the SageMaker model directory {sagemaker}" in container.log.read_text()


def test_an_inference_pipeline_port_is_honoured(tmp_path, built, start):
    app = lay_out(tmp_path / "app", built, model=True)
    bind_to = str(free_port())
    container = start(app, tmp_path / "none", "serve", SAGEMAKER_BIND_TO_PORT=bind_to)
    assert container.url.endswith(f":{bind_to}")
    assert passes_smoke(container, built)


def test_extra_options_reach_the_service(tmp_path, built, start):
    app = lay_out(tmp_path / "app", built, model=True)
    container = start(app, tmp_path / "none", "serve", "--max-rows", "50")
    assert container.health()["params"]["serve"]["max_rows"] == 50


def test_a_mounted_directory_without_a_model_is_an_error(tmp_path, built):
    app = lay_out(tmp_path / "app", built, model=True)
    sagemaker = tmp_path / "opt-ml-model"
    sagemaker.mkdir()
    (sagemaker / "MLmodel").write_text("flavors: {}\n")  # an MLflow directory at the root
    result = entrypoint(app, sagemaker, "serve")
    assert result.returncode == 2
    assert "holds no model/MLmodel" in result.stderr
    assert "tar -czf model.tar.gz -C models model compiled" in result.stderr


def test_train_is_refused_and_other_commands_run(tmp_path, built):
    app = lay_out(tmp_path / "app", built, model=True)
    train = entrypoint(app, tmp_path / "none", "train")
    assert train.returncode == 2
    assert "does not train" in train.stderr
    ran = entrypoint(app, tmp_path / "none", sys.executable, "-c", "print('inside')")
    assert (ran.returncode, ran.stdout) == (0, "inside\n")
    missing = entrypoint(app, tmp_path / "none", "no-such-command")
    assert missing.returncode == 127
    assert "cannot run 'no-such-command'" in missing.stderr
