"""monitor.yml's structure: scheduled, least privilege per job, pinned actions, every step one
make target, the report uploaded whatever the outcome and handed to the issue job.
(actionlint and zizmor check it with the other workflows in test_workflows_lint.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
MONITOR = WORKFLOWS / "monitor.yml"
PIN = re.compile(r"^\s*-?\s*uses:\s*([\w.-]+/[\w.-]+)(?:/[\w./-]+)?@(\S+)\s*(.*)$")


def workflow() -> dict:
    return yaml.safe_load(MONITOR.read_text(encoding="utf-8"))


def all_steps():
    for job_id, job in workflow()["jobs"].items():
        for step in job["steps"]:
            yield job_id, step


def step_named(job: str, name: str) -> dict:
    return next(s for j, s in all_steps() if j == job and s.get("name") == name)


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-zA-Z][\w-]*):", makefile, flags=re.MULTILINE))


def test_runs_on_a_schedule_and_by_hand_only():
    triggers = workflow()[True]  # PyYAML reads the key `on` as True
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    (schedule,) = triggers["schedule"]
    assert len(schedule["cron"].split()) == 5


def test_only_the_issue_job_can_write_and_only_issues():
    flow = workflow()
    assert flow["permissions"] == {}
    assert flow["jobs"]["monitor"]["permissions"] == {"contents": "read"}
    assert flow["jobs"]["issue"]["permissions"] == {"contents": "read", "issues": "write"}
    assert set(flow["jobs"]) == {"monitor", "issue"}


def test_runs_are_queued_not_cancelled():
    assert workflow()["concurrency"] == {
        "group": "${{ github.workflow }}",
        "cancel-in-progress": False,
    }


def test_every_action_is_pinned_to_a_full_sha_like_in_the_other_workflows():
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS.glob("*.yml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if match := PIN.match(line):
                pins.setdefault(match.group(1), set()).add(match.group(2))
    ours = [line for line in MONITOR.read_text().splitlines() if "uses:" in line]
    assert ours
    for line in ours:
        match = PIN.match(line)
        assert match, line
        action, ref, comment = match.groups()
        assert re.fullmatch(r"[0-9a-f]{40}", ref), line
        assert re.search(r"#\s*v\d+\.\d+\.\d+", comment), line
        assert pins[action] == {ref}, f"{action} is pinned differently elsewhere"


def test_every_run_step_is_one_make_target_without_expressions():
    for job_id, step in all_steps():
        if "run" not in step:
            continue
        command = step["run"].strip()
        assert re.fullmatch(r"make [\w-]+", command), (job_id, command)
        assert "${{" not in command


@pytest.mark.parametrize(
    "target",
    [
        "install",
        "dvc-credentials",
        "data",
        "pull",
        "repro",
        "monitor-issue",
        "monitor",
    ],
)
def test_every_make_target_the_workflow_runs_exists(target):
    used = {step["run"].split()[1] for _, step in all_steps() if "run" in step}
    assert target in used
    assert target in make_targets()


def test_the_report_is_uploaded_whatever_the_outcome_and_handed_to_the_issue_job():
    monitor = step_named("monitor", "Check the model on the production window")
    assert monitor["run"] == "make monitor"
    assert "continue-on-error" not in monitor
    upload = step_named("monitor", "Upload the report")
    assert upload["if"] == "${{ !cancelled() }}"
    issue_job = workflow()["jobs"]["issue"]
    assert issue_job["needs"] == "monitor"
    assert issue_job["if"] == "${{ !cancelled() }}"
    download = step_named("issue", "Download the report")
    assert download["with"]["name"] == upload["with"]["name"]
    # The files the Makefile's monitor-issue reads are the ones uploaded, downloaded in place.
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    read = set(re.findall(r"^MONITOR_(?:JSON|MD) \?= (\S+)$", makefile, flags=re.MULTILINE))
    assert read == set(upload["with"]["path"].split())
    assert {str(Path(download["with"]["path"]) / Path(p).name) for p in read} == read


def test_the_token_reaches_the_issue_step_only():
    holders = [
        (job_id, step.get("name"))
        for job_id, step in all_steps()
        if "github.token" in str(step.get("env", {})) or "secrets." in str(step.get("env", {}))
    ]
    assert holders == [
        ("monitor", "Give DVC the remote's credentials, if configured"),
        ("issue", "Open or update the issue labelled model-monitoring"),
    ]
    issue_step = step_named("issue", "Open or update the issue labelled model-monitoring")
    assert issue_step["run"] == "make monitor-issue"
    assert issue_step["env"] == {"GITHUB_TOKEN": "${{ github.token }}"}


def test_checkouts_keep_no_credentials():
    for _, step in all_steps():
        if "actions/checkout" in step.get("uses", ""):
            assert step["with"]["persist-credentials"] is False
            assert "ref" not in step["with"]
