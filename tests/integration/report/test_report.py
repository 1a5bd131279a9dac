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
from tests.integration.report.conftest import (
    NO_LOCK_TAG,
    REPORTED,
    TINY_C,
    edit_gate,
    edit_params,
    first_number,
)

from churn import cli
from churn.contract import load
from churn.report.compare import MIN_FRESH_ROWS

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


@dataclass(frozen=True)
class Ran:
    """What `churn report` exited with and printed, run in-process (the CLI's own `main`; the
    process level is `make report`'s test below)."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def churn_report(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    def call(repo: Path, base: str, *options: str) -> Ran:
        monkeypatch.chdir(repo)
        capsys.readouterr()
        code = cli.main(["report", "--base", base, *ARGS, *options])
        printed = capsys.readouterr()
        return Ran(code, printed.out, printed.err)

    return call


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


def test_worse_model_fails_the_gate_even_when_the_branch_lowers_its_bar(worse_repo, churn_report):
    """(b) Exit 1; the policy comes from main, not from the branch that relaxed it."""
    result = churn_report(
        worse_repo, "main", "--out", "reports/report.md", "--json", "reports/report.json"
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("worse:")
    payload = json.loads((worse_repo / "reports" / "report.json").read_text())
    assert payload["verdict"]["kind"] == "worse"
    assert payload["gate_source"] == "`gate.yaml` at the base revision `main`"
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


@pytest.mark.parametrize("base", ["nonexistent-rev", "deadbeef", "main~999"])
def test_a_base_revision_that_does_not_resolve_fails_closed(worse_repo, base, churn_report):
    """A branch that lowered its own gate and ruined the model, against a base that does not
    exist: no verdict (exit 2), the reason on stderr and in the short report, never the
    branch's own lenient policy."""
    result = churn_report(
        worse_repo, base, "--out", "reports/report.md", "--json", "reports/report.json"
    )
    assert result.returncode == 2, result.stdout
    assert f"the base revision '{base}' does not resolve" in result.stderr
    assert "Traceback" not in result.stderr
    markdown = (worse_repo / "reports" / "report.md").read_text()
    assert markdown.startswith("## ⛔ No report could be made: the base revision")
    assert "Gate **failed**" in markdown
    payload = json.loads((worse_repo / "reports" / "report.json").read_text())
    assert (payload["passed"], payload["exit_code"]) == (False, 2)


def test_changed_data_is_compared_on_the_candidate_rows_with_a_data_diff(
    new_data_repo, main_repo, monkeypatch, contract
):
    """(e) Rows dropped from the raw data: the split is drawn anew, so most new test rows
    trained main's model; too few are left to pair on, and the headline says the unpaired
    comparison may be biased. The data diff shows what moved."""
    outcome = report(new_data_repo, "main", monkeypatch)
    manifest = json.loads((new_data_repo / "artifacts/prepared/manifest.json").read_text())
    fresh = _fresh_test_rows(new_data_repo, main_repo)
    assert fresh.sum() < 500  # the sample's size: a premise of this case
    assert outcome.report["mode"] == "unpaired"
    assert outcome.report["excluded_rows"] == manifest["test_rows"] - fresh.sum()
    assert "may be biased" in outcome.markdown.splitlines()[0]
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
    run(clone, "dvc", "pull", "--with-deps", REPORTED)
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
    """A column the base model needs is gone from the candidate's rows (its contract dropped
    it): unpaired, and the report says why and that the contract changed."""
    outcome = report(new_contract_repo, "main", monkeypatch)
    assert outcome.report["mode"] == "unpaired"
    assert "the base model cannot score the candidate's rows" in outcome.markdown
    assert first_number(contract) in outcome.report["mode_note"]
    assert (
        f"The data contract changed: features removed: {first_number(contract)}"
        in (outcome.report["mode_note"])
    )
    assert "the data contract changed" in outcome.markdown.splitlines()[0]


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
    edit_gate(repo, lambda gate: gate.update(floors={"roc_auc": 0.99}))
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
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
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


def _fresh_test_rows(candidate: Path, base: Path) -> pd.Series:
    """Mask of the candidate's test rows absent from the base's training split."""
    from churn.contract import load

    id_column = load(PROJECT_ROOT / "contract.yaml").id.name
    test = pd.read_parquet(candidate / "artifacts/prepared/test.parquet")
    train_ids = pd.read_parquet(base / "artifacts/prepared/train.parquet")[id_column]
    return ~test[id_column].isin(train_ids)


def test_a_changed_split_is_not_judged_on_the_base_models_training_rows(
    resplit_repo, improved_repo, monkeypatch
):
    """(f) A new split seed: most candidate test rows trained the base model. Too few are left,
    so the comparison is unpaired (the base's recorded metrics) and the headline says it may
    be biased, instead of a paired comparison that flatters the base."""
    fresh = _fresh_test_rows(resplit_repo, improved_repo)
    # The premise of this case: the split changed, and too few rows are new to the base.
    assert (~fresh).sum() > 0
    assert fresh.sum() < MIN_FRESH_ROWS
    outcome = report(resplit_repo, "improve-model", monkeypatch)
    assert outcome.report["mode"] == "unpaired"
    assert outcome.report["excluded_rows"] == (~fresh).sum()
    headline = outcome.markdown.splitlines()[0]
    assert "may be biased: the split changed" in headline
    recorded = json.loads(git(resplit_repo, "show", "improve-model:eval/metrics.json"))
    assert outcome.metric("roc_auc")["base"] == recorded["roc_auc"]
    assert f"{(~fresh).sum():,} of its {len(fresh):,} test rows" in outcome.report["mode_note"]


def test_with_enough_fresh_rows_both_models_are_scored_on_those_only(
    wide_split_repo, improved_repo, monkeypatch, contract
):
    """(g) Half the rows held out anew: the rows the base never saw are enough to pair on, and
    the base column is the base model scored on exactly those rows."""
    from churn import metrics
    from churn.artifacts import saved_model

    fresh = _fresh_test_rows(wide_split_repo, improved_repo)
    if fresh.sum() < MIN_FRESH_ROWS:
        pytest.skip(
            f"the table is too small for this case: half of it held out anew leaves "
            f"{fresh.sum()} rows the base never saw, fewer than the {MIN_FRESH_ROWS} it needs"
        )
    assert (~fresh).sum() > 0
    outcome = report(wide_split_repo, "improve-model", monkeypatch)
    assert outcome.report["mode"] == "paired"
    assert outcome.report["test_rows"] == fresh.sum()
    assert outcome.report["excluded_rows"] == (~fresh).sum()
    test = pd.read_parquet(wide_split_repo / "artifacts/prepared/test.parquet")[fresh.to_numpy()]
    base = saved_model.load(improved_repo / "models" / "model")
    scores = base.predict_proba(test[list(base.pipeline.feature_names_in_)])
    expected = metrics.score("roc_auc", test[contract.target.name].to_numpy(), scores, 0.5)
    assert outcome.metric("roc_auc")["base"] == pytest.approx(expected, abs=1e-9)
    assert "that the base model was not trained on" in outcome.report["mode_note"]


def test_a_significant_drop_within_tolerance_is_not_called_no_change(tiny_c_repo, monkeypatch):
    """(h) The issue's example (C=0.0003): the words follow the interval of ROC AUC. When the
    interval excludes 0 the headline says worse (within tolerance or beyond), never "No
    significant change"; the gate's verdict follows the rule not_worse."""
    outcome = report(tiny_c_repo, "improve-model", monkeypatch)
    auc = outcome.metric("roc_auc")
    headline = outcome.markdown.splitlines()[0]
    assert outcome.report["mode"] == "paired"
    if auc["high"] < -0.005:
        assert (outcome.report["verdict"]["kind"], outcome.code) == ("worse", 1)
    elif auc["high"] < 0:
        assert (outcome.report["verdict"]["kind"], outcome.code) == ("worse_tolerated", 0)
        assert headline.startswith("## ⚠️ Worse, within tolerance")
    else:
        assert outcome.report["verdict"]["kind"] == "unchanged"
    if auc["high"] < 0:
        assert "No significant change" not in headline
        assert auc["significant"] is True


def test_the_default_floors_fail_a_model_that_labels_nobody_positive(tiny_c_repo, monkeypatch):
    """(h) Under the project's own gate.yaml, the F1 floor fails C=0.0003, whose ranking
    metrics alone would pass."""
    outcome = report(tiny_c_repo, "default-gate", monkeypatch)
    floor = yaml.safe_load(git(tiny_c_repo, "show", "default-gate:gate.yaml"))["floors"]["f1"]
    assert outcome.metric("f1")["candidate"] < floor  # the premise: F1 collapses
    assert outcome.code == 1
    assert outcome.report["verdict"]["kind"] == "worse"
    assert f"is below its floor {floor:g}" in outcome.report["verdict"]["reason"]
    assert TINY_C in {c["new"] for c in outcome.report["params_changes"]}


def _branch_from_main(main_repo: Path, dest: Path, name: str) -> Path:
    """A copy of main_repo with a new branch `name` checked out."""
    shutil.copytree(main_repo, dest, symlinks=True)
    git(dest, "checkout", "-q", "-b", name)
    return dest


def test_the_candidates_policy_applies_only_as_a_first_gate_and_says_so(
    main_repo, tmp_path, monkeypatch
):
    """A base with no gate policy at all: the workspace's gate.yaml applies, said in the
    headline."""
    repo = _branch_from_main(main_repo, tmp_path / "first", "no-gate")
    git(repo, "rm", "-q", "gate.yaml")
    git(repo, "commit", "-q", "-m", "a project before its first gate")
    git(repo, "checkout", "-q", "main")
    outcome = report(repo, "no-gate", monkeypatch)
    assert outcome.code == 0
    assert "first gate: this pull request's own policy" in outcome.markdown.splitlines()[0]
    assert outcome.report["gate_source"].startswith("this pull request's own `gate.yaml`")


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ({"gate.yaml": "rule: [unclosed\n"}, "gate.yaml at broken is not valid YAML"),
        ({"gate.yaml": "confidence: 2\n"}, "the gate policy is invalid"),
        ({"gate.yaml": None, "params.yaml": "train: [unclosed\n"}, "params.yaml at broken"),
    ],
)
def test_an_unreadable_base_policy_is_no_verdict_not_the_candidates(
    main_repo, tmp_path, broken, message, churn_report
):
    """The base's policy file broken: exit 2 with the reason, never the candidate's policy."""
    repo = _branch_from_main(main_repo, tmp_path / "broken", "broken")
    for name, text in broken.items():
        if text is None:
            git(repo, "rm", "-q", name)
        else:
            (repo / name).write_text(text)
    git(repo, "commit", "-q", "-am", "break the policy")
    git(repo, "checkout", "-q", "main")
    result = churn_report(repo, "broken", "--out", "r.md")
    assert result.returncode == 2
    assert message in result.stderr
    assert message in (repo / "r.md").read_text()


def test_a_base_with_its_policy_in_params_yaml_judges_the_commit_that_moves_it(
    main_repo, tmp_path, monkeypatch
):
    """The transition: a base without gate.yaml still rules through its `params.yaml: gate`."""
    repo = _branch_from_main(main_repo, tmp_path / "legacy", "legacy")
    gate = yaml.safe_load((repo / "gate.yaml").read_text())
    git(repo, "rm", "-q", "gate.yaml")
    edit_params(repo, lambda p: p.update(gate={**gate, "floors": {"roc_auc": 0.99}}))
    git(repo, "commit", "-q", "-am", "the policy as it was, in params.yaml")
    git(repo, "checkout", "-q", "main")
    outcome = report(repo, "legacy", monkeypatch)
    assert outcome.code == 1
    assert "below its floor 0.99" in outcome.report["verdict"]["reason"]
    assert outcome.report["gate_source"].startswith("`params.yaml: gate` at the base revision")


def _with_test_rows(repo: Path, dest: Path, change) -> Path:
    """A copy of `repo` whose test split is changed by `change`, recorded by `dvc commit`
    so that it counts as the pipeline's own output."""
    shutil.copytree(repo, dest, symlinks=True)
    test_file = dest / "artifacts" / "prepared" / "test.parquet"
    test = change(pd.read_parquet(test_file))
    test_file.unlink()
    test.to_parquet(test_file, index=False)
    run(dest, "dvc", "commit", "--force", "--with-deps", REPORTED)
    return dest


def test_an_unexpected_error_is_exit_2_with_a_report_never_1(
    improved_repo, tmp_path, contract, churn_report
):
    """A target that is not 0/1 makes scikit-learn raise inside the report: that is "no report
    could be made" (2), never "the gate failed" (1), and the comment still says why."""
    target = contract.target.name

    def encode_badly(test: pd.DataFrame) -> pd.DataFrame:
        return test.assign(**{target: test[target] * 2})

    repo = _with_test_rows(improved_repo, tmp_path / "bad-target", encode_badly)
    result = churn_report(repo, "main", "--out", "r.md", "--json", "r.json")
    assert result.returncode == 2, result.stderr
    assert "no report could be made: unexpected error in the report (" in result.stderr
    assert "Traceback" in result.stderr  # a bug's details are kept for whoever fixes it
    assert (repo / "r.md").read_text().startswith("## ⛔ No report could be made: unexpected")
    assert json.loads((repo / "r.json").read_text())["exit_code"] == 2


def test_a_metric_the_gate_cannot_compute_is_no_verdict(improved_repo, tmp_path, contract):
    """Test rows of one class only: ROC AUC is undefined (NaN), and a gate comparing NaN would
    pass or fail by accident. No verdict (2), saying why. (A process of its own: scikit-learn
    warns on the way, and this suite turns warnings into errors.)"""
    target = contract.target.name

    def one_class(test: pd.DataFrame) -> pd.DataFrame:
        return test[test[target] == 0]

    repo = _with_test_rows(improved_repo, tmp_path / "one-class", one_class)
    result = run(
        repo, "churn", "report", "--base", "main", *ARGS,
        "--out", "r.md", "--json", "r.json", check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "roc_auc" in result.stderr
    assert "cannot be computed on the candidate's" in (repo / "r.md").read_text()
    assert "Traceback" not in result.stderr


def test_outputs_the_workspace_would_not_produce_are_refused(improved_repo, tmp_path, churn_report):
    """Params changed but the pipeline not rerun: the model on disk is not this commit's."""
    repo = tmp_path / "stale"
    shutil.copytree(improved_repo, repo, symlinks=True)
    edit_params(repo, lambda p: p["train"]["classifier"].update(C=0.01))
    result = churn_report(repo, "main", "--out", "r.md")
    assert result.returncode == 2
    assert "not up to date with this workspace" in result.stderr
    assert "make repro" in (repo / "r.md").read_text()


def test_changed_data_that_cannot_be_fetched_fails_the_gate_with_instructions(
    new_data_repo, tmp_path, monkeypatch
):
    """A branch that changed the data, run where that data is in no cache and no remote (CI
    without a shared remote): the pipeline could not run, and the report says which data is
    missing and how to push it; the gate fails (exit 1)."""
    repo = _isolated_copy(new_data_repo, tmp_path / "no-data")
    for output in (
        load(PROJECT_ROOT / "contract.yaml").data_path,
        "models/model",
        "artifacts/prepared",
    ):
        path = repo / output
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    out = repo / "reports"
    monkeypatch.chdir(repo)
    code = cli.main(
        ["report", "--base", "main", *ARGS, "--out", str(out / "report.md"),
         "--json", str(out / "report.json")]
    )  # fmt: skip
    assert code == 1
    markdown = (out / "report.md").read_text()
    assert markdown.startswith("## ❌ Data not available: this branch changes the data")
    pinned = yaml.safe_load((repo / "data.dvc").read_text())["outs"][0]["md5"]
    assert pinned in markdown
    assert "`dvc push data.dvc`" in markdown
    assert "from a fork" in markdown
    assert "a maintainer must push the data" in markdown
    payload = json.loads((out / "report.json").read_text())
    assert (payload["passed"], payload["exit_code"], payload["verdict"]["kind"]) == (
        False,
        1,
        "data_unavailable",
    )


def _make_report(repo: Path, base: str) -> subprocess.CompletedProcess[str]:
    # `-o` treats the install stamp as up to date: the test's environment provides `churn`.
    return subprocess.run(
        ["make", "-o", ".venv/.installed", "report", f"BASE={base}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )


def test_make_report_says_which_failure_it_was(worse_repo):
    """make exits 2 on any failure; the recipe says whether the gate failed (churn report's 1)
    or no report could be made (2), and report.json carries churn report's own code."""
    failed = _make_report(worse_repo, "main")
    assert failed.returncode == 2
    assert "make report: the gate failed (churn report exited 1)" in failed.stderr
    payload = json.loads((worse_repo / "reports" / "report.json").read_text())
    assert payload["exit_code"] == 1
    nothing = _make_report(worse_repo, "nonexistent-rev")
    assert nothing.returncode == 2
    assert "make report: no report could be made (churn report exited 2)" in nothing.stderr
    payload = json.loads((worse_repo / "reports" / "report.json").read_text())
    assert payload["exit_code"] == 2
