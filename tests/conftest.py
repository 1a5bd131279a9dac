"""Fixtures shared by every test: an isolated MLflow store and the real sample data."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def isolated_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Point MLflow (here and in every subprocess) at a throwaway store, never the project's."""
    store = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
        yield uri


@pytest.fixture(scope="session", autouse=True)
def venv_tools_on_path() -> Iterator[None]:
    """Subprocesses find this environment's `churn`, `dvc` and `mlflow` even when pytest was
    started without activating the virtual environment. DVC sends no usage report: each of the
    suite's few hundred DVC commands would otherwise leave a report file in the temporary
    directory and start a process to send it."""
    bin_dir = str(Path(sys.executable).parent)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", bin_dir + os.pathsep + os.environ.get("PATH", ""))
        patch.setenv("DVC_NO_ANALYTICS", "1")
        yield


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """A directory `build` fills once per test run, however many pytest-xdist workers ask for
    it: under xdist it lives in the run's shared temporary root and a file lock makes the other
    workers wait for the first one's result instead of building their own. Whoever uses it only
    reads it."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        path = tmp_path_factory.mktemp(name)
        build(path)
        return path
    from filelock import FileLock

    path = tmp_path_factory.getbasetemp().parent / name
    with FileLock(f"{path}.lock"):
        done = path / ".built"
        if not done.is_file():
            shutil.rmtree(path, ignore_errors=True)  # a worker that failed half-way
            path.mkdir()
            build(path)
            done.touch()
    return path


# Processes one_per_run started in this process, to reap once stopped.
_STARTED: dict[int, subprocess.Popen] = {}


def started_alone(process: subprocess.Popen) -> int:
    """Remember `process` (started with `start_new_session=True`) for `stop_group`; return its
    process group's id."""
    _STARTED[process.pid] = process
    return process.pid


def stop_group(group: int) -> None:
    """Kill a process group `started_alone` made, here or in another worker."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    if group in _STARTED:
        _STARTED.pop(group).wait()


@contextlib.contextmanager
def one_per_run(
    tmp_path_factory: pytest.TempPathFactory, name: str, start: Callable[[Path], tuple[int, str]]
) -> Iterator[str]:
    """A server every pytest-xdist worker of the run shares: the first to ask for it starts it,
    the last to let it go kills it. `start(directory)` returns its process group (from
    `started_alone`) and its address; it runs in a session of its own, so it outlives the worker
    that started it if another still uses it. Without xdist, the session's own."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        group, address = start(tmp_path_factory.mktemp(name))
        try:
            yield address
        finally:
            stop_group(group)
        return
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent
    ledger = shared / f"{name}.json"
    with FileLock(f"{ledger}.lock"):
        state = json.loads(ledger.read_text()) if ledger.is_file() else {"users": 0}
        if state["users"] == 0:  # the first, or the first since the last let go
            directory = shared / name
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir()
            state["group"], state["address"] = start(directory)
        state["users"] += 1
        ledger.write_text(json.dumps(state))
    try:
        yield state["address"]
    finally:
        with FileLock(f"{ledger}.lock"):
            state = json.loads(ledger.read_text())
            state["users"] -= 1
            if state["users"] == 0:
                stop_group(state["group"])
            ledger.write_text(json.dumps(state))


@pytest.fixture(scope="session")
def contract():
    """The project's data contract: everything table-specific in the tests comes from it."""
    from churn import contract as data_contract

    return data_contract.load(PROJECT_ROOT / "contract.yaml")


@pytest.fixture(scope="session")
def raw_csv(tmp_path_factory: pytest.TempPathFactory, contract) -> Path:
    """The project's raw table: the workspace copy (`make data`), else rebuilt from the source
    the contract declares."""
    from churn.stages import fetch

    workspace = PROJECT_ROOT / contract.data_path
    if workspace.is_file():
        return workspace
    if contract.source is None:
        pytest.fail(f"{contract.data_path} is not here and has no declared source: `make data`")
    name = Path(contract.data_path).name
    rebuilt = built_once(
        tmp_path_factory, "raw", lambda root: fetch.rebuild_from_source(contract, root / name)
    )
    return rebuilt / name


# The unit tests whose material comes from the project's contract and layout: run again, as
# they stand, on a project adopted for another table or renamed, they show the suite is about
# the template, not about the example.
TEMPLATE_TESTS = tuple(
    f"tests/unit/{name}.py"
    for name in (
        "test_contract_files",
        "test_serve_inputs",
        "test_score_input",
        "test_model",
        "test_cli",
        "test_pipeline_deps",
        "test_boundaries",
    )
)


def template_suite(basetemp: Path) -> list[str]:
    """The command that runs TEMPLATE_TESTS in another project's directory. The nested session
    gets its own temporary root: given none, it would number one in the shared root and, at
    its exit, delete the oldest sessions' directories there (an earlier run's tens of
    thousands of files), inside the test that started it."""
    return [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "--basetemp", str(basetemp), *TEMPLATE_TESTS,
    ]  # fmt: skip


def _tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [f for f in out.split("\0") if f and (PROJECT_ROOT / f).is_file()]


def copy_project(dest: Path) -> Path:
    """Copy the project's source files (what git would see) into `dest`, without outputs."""
    for name in _tracked_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, target)
    return dest


def run(repo: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command in `repo`; unless `check` is off, fail the test with its output."""
    result = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{cmd} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def make(repo: Path, *targets: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run make targets in a copy of the project, as a person would (its `.venv` is this one:
    `-o` treats the copy's missing virtual environment as up to date)."""
    return run(
        repo, "make", "--no-print-directory", "-o", ".venv/.installed", *targets, check=check
    )


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, env=env
    ).stdout.strip()


# `make test` runs on two workers (pytest-xdist). Each worker takes whole work units, so a
# module's fixtures (a trained repository, a running service) are built once: a unit is a test
# file, except for the files sharing the act runs' package fixtures (tests/integration/
# workflows/conftest.py: one stand-in GitHub, one release run, one pull request), which go
# together so that each workflow run happens once. Collection checks this list.
ACT_FILES = frozenset(
    f"tests/integration/workflows/{name}.py"
    for name in ("test_act", "test_act_data_pr", "test_act_monitor", "test_release_steps")
)
_ACT_FIXTURES = {"release", "worse_pull_request"}
# `make test-engines`, also on two workers, has two units: the Celery run, the longest by far,
# and every other engine test (the Spark cluster first, then Prometheus and the DAG listing).
# Handed out file by file, xdist had queued the Prometheus rule tests (13 s) behind the Celery run.
CELERY_FILE = "tests/engines/test_airflow.py"
SPARK_FILE = "tests/engines/test_spark_score.py"


def work_unit(nodeid: str) -> str:
    """What one worker runs whole: the test's file, all of ACT_FILES, or the engine tests but
    the Celery run's."""
    path = nodeid.split("::", maxsplit=1)[0]
    if path in ACT_FILES:
        return "act"
    if path.startswith("tests/engines/") and path != CELERY_FILE:
        return "engines"
    return path


# xdist's own `--dist loadgroup` cannot group here: it renames items through an attribute pytest
# 9 no longer reads, and every test became a unit of its own (module fixtures built twice).
@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    # Units go out in collection order (below: the long ones first), not by their test count.
    config.option.loadscopereorder = False
    return ByWorkUnit(config, log)


def _start_rank(item: pytest.Item) -> int:
    """The act runs' chain is the longest unit, then the report's repositories, then the rest of
    the integration tests; the unit tests, seconds each, fill the gaps at the end."""
    path = item.nodeid.split("::", maxsplit=1)[0]
    if path in ACT_FILES or path in (CELERY_FILE, SPARK_FILE):
        return 0
    if path.startswith("tests/integration/report/"):
        return 1
    return 2 if path.startswith("tests/integration/") else 3


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    misplaced = sorted(
        {
            item.nodeid.split("::", maxsplit=1)[0]
            for item in items
            if _ACT_FIXTURES & set(getattr(item, "fixturenames", ()))
        }
        - ACT_FILES
    )
    if misplaced:
        raise pytest.UsageError(
            f"these files use the act runs' fixtures: add to ACT_FILES: {misplaced}"
        )
    items.sort(key=_start_rank)  # stable: each file's tests stay together and in order
