"""`churn report` on real git repositories: a weak baseline on `main`, candidate branches."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tests.conftest import PROJECT_ROOT, git, run
from tests.integration.report.conftest import NO_LOCK_TAG, first_number

from churn import cli
from churn.contract import load

pytestmark = pytest.mark.slow

ARGS = (
    "--model", "models/model",
    "--data", "artifacts/prepared",
    "--raw", load(PROJECT_ROOT / "contract.yaml").data_path,
    "--metrics", "eval/metrics.json",
)  # fmt: skip


@dataclass
class Outcome:
    code: int
    markdown: str
    report: dict
    assets: Path

    def metric(self, name: str) -> dict:
        return next(m for m in self.report["metrics"] if m["name"] == name)


def report(repo: Path, base: str, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    """Run `churn report` in-process in `repo` (as `make report` would)."""
    out = repo / "reports"
    monkeypatch.chdir(repo)
    code = cli.main(
        [
            "report", "--base", base, *ARGS,
            "--out", str(out / "report.md"),
            "--json", str(out / "report.json"),
            "--assets", str(out / "assets"),
        ]
    )  # fmt: skip
    return Outcome(
        code=code,
        markdown=(out / "report.md").read_text(),
        report=json.loads((out / "report.json").read_text()),
        assets=out / "assets",
    )


def test_improved_model_is_better_with_an_interval_above_zero(improved_repo, monkeypatch):
    """(a) The normal model beats the weak baseline on the same rows, significantly."""
    outcome = report(improved_repo, "main", monkeypatch)
    assert outcome.code == 0
    assert outcome.report["mode"] == "paired"
    assert outcome.report["verdict"]["kind"] == "better"
    auc = outcome.metric("roc_auc")
    assert 0 < auc["low"] <= auc["delta"] <= auc["high"]
    assert outcome.markdown.startswith("## ✅ Better")
    assert "| `train.classifier.kind` | `hist_gradient_boosting` | `logistic_regression` |" in (
        outcome.markdown
    )
    assert "The raw data is identical at both revisions" in outcome.markdown
    assert "```mermaid" in outcome.markdown
    assert {p.name for p in outcome.assets.iterdir()} == {"roc.png", "metric_changes.png"}
    assert "✓ dvc.lock: the committed dvc.lock matches this run" in outcome.markdown


def test_baseline_numbers_are_the_base_model_on_the_candidate_rows(improved_repo, monkeypatch):
    """The base column is main's model re-scored on this branch's test rows (same split here,
    so it equals what main recorded)."""
    outcome = report(improved_repo, "main", monkeypatch)
    recorded = json.loads(git(improved_repo, "show", "main:eval/metrics.json"))
    assert outcome.metric("roc_auc")["base"] == pytest.approx(recorded["roc_auc"], abs=1e-6)
    candidate = json.loads((improved_repo / "eval" / "metrics.json").read_text())
    assert outcome.metric("roc_auc")["candidate"] == pytest.approx(candidate["roc_auc"], abs=1e-6)


def test_worse_model_fails_the_gate_even_when_the_branch_lowers_its_bar(worse_repo):
    """(b) Exit 1; the policy comes from main, not from the branch that relaxed it."""
    result = run(
        worse_repo, "churn", "report", "--base", "main", *ARGS,
        "--out", "reports/report.md", "--json", "reports/report.json", check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("worse:")
    payload = json.loads((worse_repo / "reports" / "report.json").read_text())
    assert payload["verdict"]["kind"] == "worse"
    assert payload["gate_source"] == "the base revision `main`"
    assert payload["metrics"][0]["high"] < -0.005
    markdown = (worse_repo / "reports" / "report.md").read_text()
    assert markdown.startswith("## ❌ Worse")
    assert "Gate **failed**" in markdown
    assert "| `gate.max_regression` | `0.005` | `0.5` |" in markdown


def test_unchanged_model_has_no_significant_change_and_intervals_contain_zero(
    unchanged_repo, monkeypatch
):
    """(c) The same model: every interval contains 0 and the gate passes."""
    outcome = report(unchanged_repo, "main", monkeypatch)
    assert outcome.code == 0
    assert outcome.report["verdict"]["kind"] == "unchanged"
    for metric in outcome.report["metrics"]:
        assert metric["low"] <= 0 <= metric["high"]
    assert "No significant change" in outcome.markdown.splitlines()[0]
    assert "No parameter changed." in outcome.markdown


def test_base_without_a_pipeline_run_gives_a_no_baseline_report(main_repo, monkeypatch):
    """(d) The base commit has no dvc.lock: only the floors apply."""
    outcome = report(main_repo, NO_LOCK_TAG, monkeypatch)
    assert outcome.code == 0
    assert outcome.report["mode"] == "no_baseline"
    assert outcome.report["verdict"]["kind"] == "no_baseline"
    assert outcome.markdown.startswith("## ℹ️ No baseline")  # noqa: RUF001
    assert "has no dvc.lock" in outcome.markdown
    assert "| Metric | Candidate |" in outcome.markdown


def test_missing_base_revision_gives_a_no_baseline_report(main_repo, monkeypatch):
    """(d) The base branch is not in the clone: the report says how to fetch it."""
    outcome = report(main_repo, "no-such-branch", monkeypatch)
    assert outcome.code == 0
    assert outcome.report["mode"] == "no_baseline"
    assert "git fetch --depth=1 origin no-such-branch:no-such-branch" in outcome.markdown


def test_changed_data_is_compared_on_the_candidate_rows_with_a_data_diff(
    new_data_repo, main_repo, monkeypatch, contract
):
    """(e) Rows dropped from the raw data: paired on the new test rows, and the diff shows it."""
    outcome = report(new_data_repo, "main", monkeypatch)
    manifest = json.loads((new_data_repo / "artifacts/prepared/manifest.json").read_text())
    assert outcome.report["mode"] == "paired"
    assert outcome.report["test_rows"] == manifest["test_rows"]
    diff = outcome.report["data_diff"]
    base_rows = len(pd.read_csv(main_repo / contract.data_path))
    assert (diff["status"], diff["base_rows"], diff["candidate_rows"]) == (
        "changed",
        base_rows,
        manifest["rows"],
    )
    assert diff["candidate_target_rate"] != diff["base_target_rate"]
    assert diff["shifts"][0]["column"] == first_number(contract)
    assert f"| Rows | {base_rows:,} | {manifest['rows']:,} |" in outcome.markdown


def test_ci_shallow_clone_gets_the_baseline_from_the_remote(improved_repo, tmp_path, dvc_remote):
    """A CI checkout: only the branch and a depth-1 `main`, an empty cache, the remote."""
    run(improved_repo, "dvc", "push", "--all-branches")
    clone = tmp_path / "ci"
    subprocess.run(
        ["git", "clone", "-q", "--depth=1", "--branch", "improve-model",
         improved_repo.as_uri(), str(clone)],
        check=True,
    )  # fmt: skip
    git(clone, "fetch", "-q", "--depth=1", "origin", "main:main")
    run(clone, "dvc", "remote", "modify", "--local", "local", "url", str(dvc_remote))
    run(clone, "dvc", "pull")
    result = run(clone, "churn", "report", "--base", "main", *ARGS,
                 "--out", "report.md", "--json", "report.json", check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload = json.loads((clone / "report.json").read_text())
    assert (payload["mode"], payload["verdict"]["kind"]) == ("paired", "better")
    assert payload["reproducibility"]["in_remote"] is True


def _isolated_copy(repo: Path, dest: Path) -> Path:
    """A copy of `repo` whose DVC cache is empty and which has no remote."""
    shutil.copytree(repo, dest, symlinks=True)
    (dest / ".dvc" / "config.local").unlink()
    run(dest, "dvc", "remote", "remove", "local")
    run(dest, "dvc", "config", "--local", "cache.dir", str(dest.parent / "empty-cache"))
    return dest


def test_model_in_neither_cache_nor_remote_falls_back_to_recorded_metrics(
    improved_repo, tmp_path, monkeypatch
):
    """Unpaired: main's numbers come from git alone, with no interval and a clear note."""
    repo = _isolated_copy(improved_repo, tmp_path / "fresh")
    outcome = report(repo, "main", monkeypatch)
    recorded = json.loads(git(repo, "show", "main:eval/metrics.json"))
    assert outcome.code == 0
    assert outcome.report["mode"] == "unpaired"
    assert outcome.metric("roc_auc")["base"] == recorded["roc_auc"]
    assert outcome.metric("roc_auc")["low"] is None
    assert "Unpaired: the model of main is in neither the DVC cache nor the remote" in (
        outcome.markdown
    )
    assert "n/a (unpaired)" in outcome.markdown
    assert "DVC remote: unknown: no default DVC remote is configured" in outcome.markdown


def test_baseline_that_cannot_score_the_new_schema_falls_back_to_recorded_metrics(
    new_contract_repo, monkeypatch, contract
):
    """A column the base model needs is gone from the candidate's rows: unpaired, said why."""
    outcome = report(new_contract_repo, "main", monkeypatch)
    assert outcome.report["mode"] == "unpaired"
    assert "the base model cannot score the candidate's rows" in outcome.markdown
    assert first_number(contract) in outcome.report["mode_note"]


def test_workspace_without_a_pipeline_run_cannot_be_reported(main_repo, tmp_path, capsys):
    """Exit 2 and the reason on stderr, never a traceback."""
    clone = tmp_path / "bare"
    subprocess.run(["git", "clone", "-q", str(main_repo), str(clone)], check=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(clone)
        code = cli.main(["report", "--base", "main", *ARGS, "--out", "report.md"])
    assert code == 2
    assert "models/model is missing: run the pipeline first" in capsys.readouterr().err


def test_gate_policy_at_the_base_revision_is_used_even_without_a_baseline(
    main_repo, tmp_path, monkeypatch
):
    """A base commit without a run still sets the bar: its floors, not the candidate's."""
    repo = tmp_path / "strict"
    shutil.copytree(main_repo, repo, symlinks=True)
    git(repo, "checkout", "-q", "-b", "strict-base", NO_LOCK_TAG)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["gate"]["floors"] = {"roc_auc": 0.99}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git(repo, "commit", "-q", "-am", "strict floors")
    git(repo, "checkout", "-q", "main")
    outcome = report(repo, "strict-base", monkeypatch)
    assert outcome.code == 1
    assert outcome.report["verdict"]["kind"] == "worse"
    assert "below its floor 0.99" in outcome.report["verdict"]["reason"]


def test_outside_a_git_repository_the_report_cannot_be_made(tmp_path, capsys, monkeypatch):
    """Exit 2 with the reason, not a traceback."""
    monkeypatch.chdir(tmp_path)
    code = cli.main(["report", "--base", "main", *ARGS, "--out", "report.md"])
    assert code == 2
    assert "is not inside a git repository" in capsys.readouterr().err


class _Unauthorized(http.server.BaseHTTPRequestHandler):
    """A DVC HTTP remote for which this run has no credentials: every request gets a 401."""

    def _refuse(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="dvc"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = _refuse  # noqa: N815 (names http.server dispatches to)

    def log_message(self, *args: object) -> None:
        pass


def test_fork_without_remote_credentials_gets_a_report_that_says_so(
    improved_repo, tmp_path, monkeypatch
):
    """No crash: the comparison falls back to git's numbers and the remote line names the cause."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        repo = _isolated_copy(improved_repo, tmp_path / "fork")
        url = f"http://127.0.0.1:{server.server_port}/store"
        run(repo, "dvc", "remote", "add", "--default", "private", url)
        outcome = report(repo, "main", monkeypatch)
    finally:
        server.shutdown()
        server.server_close()
    assert outcome.code == 0
    assert outcome.report["mode"] == "unpaired"
    assert outcome.report["reproducibility"]["in_remote"] is False
    assert "cannot read it (no credentials" in outcome.markdown
