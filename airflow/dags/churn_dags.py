"""The churn pipeline on Apache Airflow: three DAGs, the stages generated from `dvc.yaml`.

Copy this file into any Airflow 3 deployment's DAG folder (or point the folder at this
repository's `airflow/dags/`). It runs in Airflow's environment and imports only Airflow, the
standard library, and the project's dependency-free `pipeline_graph` module (loaded by path).
Every task runs the project's own commands (`churn task ...`, `make ...`) in the project's
environment inside a worker's checkout, so the two environments never mix.

DAGs
----
``churn_pipeline`` (manual): ``checkout_revision`` -> one task per `dvc.yaml` stage, in the
    pipeline's order and with its edges -> ``assemble_lock``. Each stage task `dvc pull`s its
    inputs at the hashes its upstream tasks hand over (XCom), runs
    `dvc repro --single-item <stage>` (DVC skips and pulls an unchanged stage), and `dvc push`es
    its outputs; the last task assembles the run's `dvc.lock` and checks it against the remote.
    Params: ``revision`` (branch, tag or commit; default ``main``), ``results_dir`` (where the
    worker writes the run's `dvc.lock`, metrics and plots; default: nowhere, XCom only).
``churn_retrain`` (weekly): ``refresh_data`` downloads the latest table from the data source,
    `dvc commit`s and pushes it (skipping the rest when it has not changed) -> the stages ->
    ``open_pull_request`` commits the new `.dvc` file, `dvc.lock` and metrics on a branch,
    pushes it to `origin` and opens a pull request through GitHub's REST API, whose CI applies
    the same gate as to any change. Params: ``base`` (default ``main``), ``data_source``,
    ``github_repo``.
``churn_rescore`` (daily): ``rescore`` checks out ``revision`` (default ``main``: the released
    model), pulls the model and data, and runs `make score` into the score store that the
    service reads (replaced atomically; the running service picks it up). Params:
    ``score_store``, ``score_input`` (a table on the worker; default: the pipeline's raw data).

Configuration
-------------
Each worker's environment:
    ``CHURN_CHECKOUT``     (required) the worker's own clone of the repository, with the
                           project's environment in `.venv` (`make install`) and its own DVC
                           cache. Tasks fetch from and push branches to its `origin` remote, and
                           check revisions out by force: never point it at a working copy.
                           One task at a time per checkout (a lock file enforces it).
The DAG processor's and workers' environment:
    ``CHURN_PROJECT_DIR``  the checkout whose `dvc.yaml` the DAGs are generated from (default:
                           the repository holding this file). Runs of another revision must
                           have the same stages; `assemble_lock` refuses a mismatch.
    ``CHURN_AIRFLOW_QUEUES`` comma-separated Celery queues: stage *i* goes to queue *i mod n*,
                           the other tasks to the first (default: Airflow's default queue).
Airflow Variables (a DAG param of the same name without `churn_` wins for one run):
    ``churn_data_source`` (http(s)/file URL or path of the latest table), ``churn_github_repo``
    (owner/name), ``churn_score_store`` (path of the service's score store), ``churn_score_input``.
Airflow Connection ``churn_github``: password = a token that may push branches and open pull
    requests; host = the API URL for GitHub Enterprise (default https://api.github.com). Without
    the connection, the worker's ``GITHUB_TOKEN`` and ``GITHUB_API_URL`` are used. Pushing the
    branch uses the checkout's own git credentials (a deploy key with write access).

Executors: locally `make airflow` (standalone, LocalExecutor, SQLite). With the Celery executor,
start workers with ``airflow celery worker --concurrency 1 --queues <queue>``, each with its own
``CHURN_CHECKOUT``. With the Kubernetes executor, use an image built from the project's (its
checkout at `/app` with `.venv` from `make install`) plus Apache Airflow in its own
environment, and set ``CHURN_CHECKOUT`` in the pod template. See README, "When one machine is
not enough".
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook, Param, Variable, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowNotFoundException, AirflowSkipException

PROJECT = Path(os.environ.get("CHURN_PROJECT_DIR") or Path(__file__).resolve().parents[2])
QUEUES = [q.strip() for q in os.environ.get("CHURN_AIRFLOW_QUEUES", "").split(",") if q.strip()]
GRAPH_MODULE = Path("src", "churn", "engines", "pipeline_graph.py")
GITHUB_CONNECTION = "churn_github"


def _graph_module(project: Path) -> Any:
    """The project's `pipeline_graph`, loaded from its file: the package itself (and its
    dependencies) never enter Airflow's environment."""
    name = "churn_pipeline_graph"
    spec = importlib.util.spec_from_file_location(name, project / GRAPH_MODULE)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {project / GRAPH_MODULE}: is CHURN_PROJECT_DIR right?")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


PIPELINE = _graph_module(PROJECT).read(PROJECT)


# ---- What every task does on its worker ------------------------------------------------------


def _checkout() -> Path:
    value = os.environ.get("CHURN_CHECKOUT", "")
    if not value or not (Path(value) / ".git").exists():
        raise RuntimeError(
            f"CHURN_CHECKOUT={value!r} on this worker is not a git checkout of the project: "
            "give each worker its own clone (with `make install`) and set the variable"
        )
    return Path(value)


@contextlib.contextmanager
def _exclusive(checkout: Path) -> Iterator[None]:
    """One task at a time in a checkout, whatever the worker's concurrency."""
    with (checkout / ".git" / "churn-task.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _git(checkout: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=checkout, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"`git {' '.join(args)}` failed: {result.stderr.strip()}")
    return result.stdout.strip()


def _resolve(checkout: Path, ref: str) -> str:
    """The commit `ref` names in `origin` (a branch, a tag or a commit)."""
    _git(checkout, "fetch", "--quiet", "--force", "--tags", "origin")
    for candidate in (f"origin/{ref}", ref):
        with contextlib.suppress(RuntimeError):
            return _git(checkout, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}")
    raise ValueError(f"revision {ref!r} is neither a branch of origin, a tag nor a commit")


def _at(checkout: Path, revision: str) -> None:
    """Put the checkout at `revision`, dropping what earlier tasks wrote into tracked files."""
    try:
        _git(checkout, "cat-file", "-e", f"{revision}^{{commit}}")
    except RuntimeError:  # made after this checkout last fetched
        _git(checkout, "fetch", "--quiet", "--force", "--tags", "origin")
    _git(checkout, "checkout", "--quiet", "--force", "--detach", revision)


def _project(
    checkout: Path, *command: str, inputs: list | None = None, env: dict | None = None
) -> str:
    """Run a project command in the checkout with the project's environment.

    The checkout's `src/` comes first on PYTHONPATH so the revision's code runs even when
    `.venv` is shared with another checkout (as `make airflow` does). The command's stderr is
    the task's log; its stdout is returned (the JSON payload of `churn task`).
    """
    environment = {
        **os.environ,
        **(env or {}),
        "PATH": f"{checkout / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(checkout / "src"),
    }
    result = subprocess.run(
        command,
        cwd=checkout,
        input=None if inputs is None else json.dumps(inputs),
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed with exit code {result.returncode}")
    return result.stdout


def _task_command(checkout: Path, *args: str, inputs: list, env: dict | None = None) -> dict:
    return json.loads(_project(checkout, "churn", "task", *args, inputs=inputs, env=env))


def _setting(name: str, *, required: bool = True) -> str:
    """A DAG param for this run, else the Airflow Variable `churn_<name>`."""
    value = get_current_context()["params"].get(name) or Variable.get(f"churn_{name}", default="")
    if required and not value:
        raise ValueError(f"set the Airflow Variable churn_{name}, or the param {name!r} of the run")
    return str(value)


# ---- Tasks ---------------------------------------------------------------------------------


@task(task_id="checkout_revision")
def checkout_revision(revision: str) -> dict:
    """Fix the run's commit once, so every task works at the same one however refs move."""
    checkout = _checkout()
    with _exclusive(checkout):
        return {"revision": _resolve(checkout, revision), "stage": None, "files": []}


@task
def run_stage(name: str, source: dict, upstream: list[dict]) -> dict:
    """`churn task stage <name>` at the run's revision, fed the upstream payloads."""
    checkout = _checkout()
    with _exclusive(checkout):
        _at(checkout, source["revision"])
        return _task_command(checkout, "stage", name, inputs=[source, *upstream])


@task(task_id="assemble_lock")
def assemble_lock(source: dict, stages: list[dict]) -> dict:
    """The run's `dvc.lock` (and metrics), checked against the DVC remote; written to
    `results_dir` when the run names one."""
    checkout = _checkout()
    out = _setting("results_dir", required=False)
    with _exclusive(checkout):
        _at(checkout, source["revision"])
        return _task_command(
            checkout, "assemble", *(["--out", out] if out else []), inputs=[source, *stages]
        )


@task(task_id="refresh_data")
def refresh_data(base: str) -> dict:
    """Bring the latest table into DVC at the head of `base`; skip the run if it is unchanged."""
    checkout = _checkout()
    source = _setting("data_source")
    with _exclusive(checkout):
        revision = _resolve(checkout, base)
        _at(checkout, revision)
        payload = _task_command(checkout, "refresh-data", "--source", source, inputs=[])
    if not payload["changed"]:
        raise AirflowSkipException(f"the data at {source} is what {base} already pins")
    return payload


def _github_env() -> dict[str, str]:
    """Token and API URL from the `churn_github` connection, if there is one."""
    try:
        connection = BaseHook.get_connection(GITHUB_CONNECTION)
    except AirflowNotFoundException:
        return {}
    env = {"GITHUB_TOKEN": connection.password or ""}
    if connection.host:
        scheme = connection.schema or "https"
        host = connection.host if "://" in connection.host else f"{scheme}://{connection.host}"
        port = f":{connection.port}" if connection.port else ""
        env["GITHUB_API_URL"] = host.rstrip("/") + port
    return env


@task(task_id="open_pull_request")
def open_pull_request(base: str, source: dict, stages: list[dict]) -> dict:
    """Commit the new pins on a branch, push it, and open (or reuse) the pull request."""
    checkout = _checkout()
    repo = _setting("github_repo")
    run_id = get_current_context()["run_id"]
    with _exclusive(checkout):
        _at(checkout, source["revision"])
        return _task_command(
            checkout,
            "open-pr",
            "--repo",
            repo,
            "--base",
            base,
            "--run-id",
            run_id,
            inputs=[source, *stages],
            env=_github_env(),
        )


@task(task_id="rescore")
def rescore(revision: str) -> dict:
    """`make score` with the model released at `revision`, into the service's score store."""
    checkout = _checkout()
    store, table = _setting("score_store", required=False), _setting("score_input", required=False)
    overrides = []  # unset: the Makefile's defaults, inside the checkout
    if store:
        overrides.append(f"SCORES={store}")
    if table:
        overrides.append(f"SCORE_INPUT={table}")
    with _exclusive(checkout):
        commit = _resolve(checkout, revision)
        _at(checkout, commit)
        # STAMP= : the worker's environment is built ahead; a task never reinstalls it.
        _project(checkout, "make", "STAMP=", "data", "pull", "score", *overrides)
    return {"revision": commit, "store": store or "(the Makefile's default, in the checkout)"}


# ---- DAGs ----------------------------------------------------------------------------------


def _queue(index: int) -> dict[str, str]:
    return {"queue": QUEUES[index % len(QUEUES)]} if QUEUES else {}


def _stages(source: Any) -> list[Any]:
    """One task per stage of `dvc.yaml`, in its order, each fed its upstream stages' payloads."""
    made: dict[str, Any] = {}
    for index, stage in enumerate(PIPELINE.stages):
        made[stage.name] = run_stage.override(task_id=stage.name, **_queue(index))(
            stage.name, source, [made[name] for name in stage.upstream]
        )
    return list(made.values())


@dag(
    dag_id="churn_pipeline",
    schedule=None,
    catchup=False,
    tags=["churn", "dvc"],
    params={
        "revision": Param("main", type="string", description="branch, tag or commit to run"),
        "results_dir": Param("", type="string", description="folder for dvc.lock and metrics"),
    },
    doc_md=__doc__,
)
def churn_pipeline() -> None:
    source = checkout_revision.override(**_queue(0))("{{ params.revision }}")
    assemble_lock.override(**_queue(0))(source, _stages(source))


@dag(
    dag_id="churn_retrain",
    schedule="@weekly",
    catchup=False,  # no start date either: scheduled from the next tick after deployment
    max_active_runs=1,
    tags=["churn", "dvc", "github"],
    params={
        "base": Param("main", type="string", description="branch to retrain and propose to"),
        "data_source": Param("", type="string", description="else Variable churn_data_source"),
        "github_repo": Param("", type="string", description="else Variable churn_github_repo"),
    },
    doc_md=__doc__,
)
def churn_retrain() -> None:
    source = refresh_data.override(**_queue(0))("{{ params.base }}")
    open_pull_request.override(**_queue(0))("{{ params.base }}", source, _stages(source))


@dag(
    dag_id="churn_rescore",
    schedule="@daily",
    catchup=False,  # no start date either: scheduled from the next tick after deployment
    max_active_runs=1,
    tags=["churn", "scores"],
    params={
        "revision": Param("main", type="string", description="the released model's revision"),
        "score_store": Param("", type="string", description="else Variable churn_score_store"),
        "score_input": Param("", type="string", description="else Variable churn_score_input"),
    },
    doc_md=__doc__,
)
def churn_rescore() -> None:
    rescore.override(**_queue(0))("{{ params.revision }}")


churn_pipeline()
churn_retrain()
churn_rescore()
