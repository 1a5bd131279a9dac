"""The other two ways of starting the service: the image's own command (run outside a
container, in a directory laid out as the Dockerfile lays out /app) and `make serve`.
Both listen on PORT. Also: what the service process imports, and what it does without ONNX."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import PROJECT_ROOT, copy_project
from tests.integration.conftest import free_port
from tests.integration.serve.conftest import Pipeline, running, server_env

from churn.artifacts import saved_model

pytestmark = pytest.mark.slow


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined."""
    lines = dockerfile.read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
    parsed = [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in lines
        if line.strip() and not line.lstrip().startswith("#")
    ]
    last_from = max(i for i, (name, _) in enumerate(parsed) if name == "FROM")
    return parsed[last_from:]


def _env_of(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env = {}
    for name, args in instructions:
        if name == "ENV":
            for pair in args.split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def _python(argv: list[str]) -> list[str]:
    # In the image `python` is the service's virtual environment; here it is this one.
    return [sys.executable if part == "python" else part for part in argv]


def test_the_image_command_serves_on_port_with_onnx(pipeline: Pipeline, tmp_path: Path) -> None:
    stage = _instructions(PROJECT_ROOT / "Dockerfile")
    env = _env_of(stage)
    assert env["PORT"] == "8080"
    assert env["OMP_NUM_THREADS"] == "1"
    # Lay out the image's working directory as its COPY lines do, from this session's pipeline.
    built = {
        "models/model": pipeline.model_dir,
        "models/compiled": pipeline.compiled_dir,
    }
    app = tmp_path / "app"
    for name, args in stage:
        if name == "COPY" and not args.startswith("--from"):
            source, target = args.split()
            destination = app / target
            if target.endswith("/"):
                destination /= Path(source).name
            destination.parent.mkdir(parents=True, exist_ok=True)
            copy = shutil.copytree if built[source].is_dir() else shutil.copy
            copy(built[source], destination)
    # `docker run IMAGE`: the entrypoint with the default command.
    command = _python(json.loads(dict(stage)["ENTRYPOINT"]) + json.loads(dict(stage)["CMD"]))
    healthcheck = _python(json.loads(dict(stage)["HEALTHCHECK"].split(" CMD ", 1)[1]))
    port = free_port()
    # HOST: the image listens on 0.0.0.0; outside a container the test keeps to loopback.
    server_environment = server_env(port, HOST="127.0.0.1", GIT_SHA="feedface")
    with running(command, server_environment, app, tmp_path / "image.log") as server:
        health = server.client.get("/health").json()
        assert health["predictor"] == "onnx"
        assert health["git_commit"] == "feedface"
        checked = subprocess.run(healthcheck, env=server_environment, check=False, timeout=30)
        assert checked.returncode == 0
    down = subprocess.run(healthcheck, env=server_environment, check=False, timeout=30)
    assert down.returncode != 0


def test_make_serve_falls_back_to_sklearn_without_a_compiled_model(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    project = copy_project(tmp_path / "project")
    shutil.copytree(pipeline.model_dir, project / "models" / "model")
    port = free_port()
    # -o: treat the virtual environment as up to date (this copy shares the running one), and
    # the model as current (this copy's dvc.lock is not this session's pipeline).
    argv = [
        "make",
        "--no-print-directory",
        "-o",
        ".venv/.installed",
        "-o",
        "current-model",
        "serve",
    ]
    log = tmp_path / "make.log"
    with running(argv, server_env(port), project, log, stop=signal.SIGTERM) as server:
        health = server.client.get("/health").json()
        assert health["predictor"] == "sklearn"
        assert "check.json" in health["predictor_reason"]
        features = pipeline.features.iloc[:20]
        body = {"dataframe_split": json.loads(features.to_json(orient="split", index=False))}
        served = server.client.post("/invocations", json=body).json()["predictions"]
        expected = saved_model.load(pipeline.model_dir).predict_proba(features)
        np.testing.assert_allclose(np.array(served)[:, 1], expected, rtol=0, atol=1e-6)
        missing = server.client.get("/scores/1")
        assert missing.status_code == 404
        assert "no pre-scored store is configured" in missing.json()["message"]
    # Stopped the way `docker stop` or a process manager stops it: a graceful shutdown, and no
    # "make: *** [serve] Terminated" (make itself, signalled too, still ends by the signal).
    text = log.read_text()
    assert "Application shutdown complete" in text
    assert "***" not in text


def test_the_onnx_service_imports_neither_mlflow_nor_training_nor_sklearn(
    pipeline: Pipeline,
) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from pathlib import Path
        from churn.deliver.serve.app import Settings, create_app

        app = create_app(Settings(Path({str(pipeline.model_dir)!r}),
                                  compiled_dir=Path({str(pipeline.compiled_dir)!r})))

        async def start_and_stop():
            async with app.router.lifespan_context(app):
                assert app.state.service.predictor_kind == "onnx"

        asyncio.run(start_and_stop())
        banned = ("mlflow", "churn.stages.train", "churn.tracking", "sklearn", "pandas")
        print(sorted(m for m in sys.modules if m.split(".")[0] in banned or m in banned))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stdout
