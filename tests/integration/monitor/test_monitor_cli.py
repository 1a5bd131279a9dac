"""`churn monitor` as the workflow runs it, on the real pipeline's model and split: the window
from MONITOR_WINDOW (a prediction log, here through a file:// URL) or a sample when unset,
outcomes from MONITOR_LABELS, a raw table judged cell by cell, and exit 2 with both files
written whenever it cannot judge."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tests.conftest import copy_project
from tests.generated import read_text
from tests.integration.conftest import Pipeline
from tests.monitor_material import write_log

from churn import cli
from churn.artifacts import prepared_split, saved_model
from churn.contract import Contract, table
from churn.release import monitor_issue

pytestmark = pytest.mark.slow


def churn_monitor(pipeline: Pipeline, out: Path, *args: str, data: Path | None = None, **env):
    """Run the command (the CLI's own `main`, in-process: the process level is `make monitor`'s
    test below); its exit code, stderr and monitor.json."""
    argv = [
        "monitor",
        "--model", str(pipeline.model_dir),
        "--data", str(data or pipeline.prepared_dir),
        "--params", str(pipeline.params),
        "--out", str(out / "monitor.md"),
        "--json", str(out / "monitor.json"),
        *args,
    ]  # fmt: skip
    stderr = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(stderr):
        for name in ("MONITOR_WINDOW", "MONITOR_LABELS"):
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        code = cli.main(argv)
    assert (out / "monitor.md").is_file(), stderr.getvalue()
    document = json.loads((out / "monitor.json").read_text())
    monitor_issue.parse(json.dumps(document))  # always what the issue job accepts
    return code, stderr.getvalue(), document


def log_test_split(pipeline: Pipeline, contract: Contract, directory: Path, *, rows: int,
                   version: str | None = None, start: datetime) -> pd.DataFrame:  # fmt: skip
    """The test split's first `rows` rows logged as the service logs them (the model's own
    probabilities and digest unless `version` says otherwise), one a minute from `start`."""
    test = pipeline.test_split.iloc[:rows].reset_index(drop=True)
    model = saved_model.load(pipeline.model_dir)
    probabilities = model.predict_proba(table.features(contract, test))
    write_log(
        directory, test, probabilities, version=version or model.digest, start=start,
        step=timedelta(minutes=1), contract=contract, threshold=model.threshold,
    )  # fmt: skip
    return test


def test_without_a_window_a_fresh_repository_monitors_its_sample_and_is_healthy(pipeline, tmp_path):
    code, stderr, document = churn_monitor(pipeline, tmp_path)
    assert code == 0, stderr
    assert document["status"] == "healthy"
    assert document["window"]["kind"] == "sample"
    assert any("MONITOR_WINDOW is not set" in note for note in document["notes"])
    rows = len(pipeline.test_split)
    assert document["window"]["scored_rows"] == rows
    assert (document["outcomes"]["outcomes"], document["outcomes"]["joined"]) == (rows, rows)
    text = (tmp_path / "monitor.md").read_text()
    assert text.startswith("## Model monitor: healthy")
    assert "```mermaid" in text


def test_the_window_and_the_labels_come_from_the_environment(pipeline, contract, tmp_path):
    log = tmp_path / "predictions"
    start = datetime.now(UTC) - timedelta(hours=30)  # 400 rows a minute apart: two days
    test = log_test_split(pipeline, contract, log, rows=400, start=start)
    labels = tmp_path / "outcomes.parquet"
    pd.DataFrame(
        {
            contract.id.name: test[contract.id.name],
            contract.target.name: test[contract.target.name].map(
                {1: contract.target.positive, 0: contract.target.negative}
            ),
        }
    ).to_parquet(labels, index=False)
    code, stderr, document = churn_monitor(
        pipeline,
        tmp_path,
        MONITOR_WINDOW=f"{log.as_uri()} 2d",
        MONITOR_LABELS=str(labels),
    )
    assert code == 0, (stderr, document["alerts"])
    window = document["window"]
    assert window["kind"] == "log"
    assert window["source"] == f"prediction log {log.as_uri()}"
    assert datetime.fromisoformat(window["end"]) - datetime.fromisoformat(
        window["start"]
    ) == timedelta(days=2)
    assert window["scored_rows"] == len(test)  # 400, or the whole test split if smaller
    assert document["outcomes"]["joined"] == len(test)
    assert document["outcomes"]["source"] == f"labels {labels}"
    # The log never holds the personal columns, so they are not monitored.
    logged = {f["name"] for f in document["features"] if f["psi"] is not None}
    assert logged == set(contract.feature_names) - set(contract.personal)


def test_a_window_of_another_model_version_cannot_be_judged(pipeline, contract, tmp_path):
    log = tmp_path / "predictions"
    other = "f" * 64
    log_test_split(pipeline, contract, log, rows=300, version=other,
                   start=datetime.now(UTC) - timedelta(hours=6))  # fmt: skip
    code, stderr, document = churn_monitor(pipeline, tmp_path, "--log-dir", str(log))
    assert code == 2
    assert document == {"status": "error", "alerts": [], "error": document["error"]}
    digest = saved_model.read(pipeline.model_dir).digest
    for text in (stderr, document["error"], (tmp_path / "monitor.md").read_text()):
        assert f"model {other[:12]}, but --model is {digest[:12]}" in text
        assert "dvc checkout" in text


def test_a_window_too_small_to_judge_is_exit_2_not_healthy(pipeline, contract, tmp_path):
    log = tmp_path / "predictions"
    log_test_split(pipeline, contract, log, rows=20, start=datetime.now(UTC) - timedelta(hours=1))
    code, stderr, document = churn_monitor(
        pipeline, tmp_path, "--log-dir", str(log), "--period", "1d"
    )
    assert code == 2
    assert "could not run" in stderr
    assert document["status"] == "error"
    min_rows = yaml.safe_load(pipeline.params.read_text())["monitor"]["min_rows"]
    assert f"20 scored rows; monitor.min_rows is {min_rows}" in document["error"]


def test_a_raw_table_counts_values_outside_the_contract_per_column(pipeline, contract, tmp_path):
    """Fifty rows break one column (over the threshold), five another (under it)."""
    raw = read_text(pipeline.raw_csv).iloc[:1000].reset_index(drop=True)
    rows = len(raw)
    numbers = [f for f in contract.features if f.kind == "number"]
    # The column that alerts: a category if the table has one, else a second number column.
    alerting = next((f for f in contract.features if f.kind == "category"), None)
    alerting = alerting or (numbers[1] if len(numbers) > 1 else None)
    threshold = yaml.safe_load(pipeline.params.read_text())["monitor"]["max_out_of_contract"]
    if alerting is None or 5 / rows >= threshold:
        pytest.skip("the table has too few rows or columns for one alerting and one quiet column")
    number = numbers[0]
    raw.loc[raw.index[:50], alerting.name] = "not in the contract"
    raw.loc[raw.index[50:55], number.name] = "n/a"
    path = tmp_path / "latest.csv"
    raw.to_csv(path, index=False)
    code, stderr, document = churn_monitor(pipeline, tmp_path, "--table", str(path))
    assert code == 1, stderr
    outside = [a for a in document["alerts"] if a["kind"] == "outside_contract"]
    assert [a["subject"] for a in outside] == [alerting.name]
    assert outside[0]["value"] == pytest.approx(50 / rows, abs=1e-4)
    assert document["outside_contract"][number.name] == pytest.approx(5 / rows, abs=1e-4)
    assert document["window"]["examined_rows"] == rows
    assert document["window"]["scored_rows"] == rows - 55


def test_a_bad_labels_file_is_exit_2_with_every_problem_listed(pipeline, contract, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text(
        f"{contract.id.name},{contract.target.name}\n1,{contract.target.positive}\nx,maybe\n"
    )
    code, _, document = churn_monitor(pipeline, tmp_path, "--sample", "--labels", str(labels))
    assert code == 2
    assert f"column '{contract.id.name}'" in document["error"]
    assert f"column '{contract.target.name}'" in document["error"]
    assert "line 3" in document["error"]


def test_a_split_the_model_was_not_trained_on_is_refused(pipeline, tmp_path):
    data = tmp_path / "prepared"
    shutil.copytree(pipeline.prepared_dir, data)
    manifest = prepared_split.manifest(data) | {"raw_sha256": "0" * 64}
    (data / prepared_split.MANIFEST_FILE).write_text(json.dumps(manifest))
    code, _, document = churn_monitor(pipeline, tmp_path, data=data)
    assert code == 2
    assert "was prepared from data 000000000000" in document["error"]


def test_make_monitor_reads_monitor_window_and_fails_on_an_alert(pipeline, contract, tmp_path):
    """The target the workflow runs: the window from the environment, the report where the
    upload step looks; an alert is make's failure status, told apart by monitor.json."""
    repo = copy_project(tmp_path / "repo")
    shutil.copytree(pipeline.model_dir, repo / "models" / "model")
    shutil.copytree(pipeline.prepared_dir, repo / "artifacts" / "prepared")
    shutil.copy(pipeline.params, repo / "params.yaml")
    log = tmp_path / "predictions"
    test = pipeline.test_split.iloc[:300].reset_index(drop=True)
    number = next(
        f for f in contract.features if f.kind == "number" and f.name not in contract.personal
    )
    test[number.name] = test[number.name].max()  # every row at the split's largest value
    model = saved_model.load(pipeline.model_dir)
    write_log(
        log, test, model.predict_proba(table.features(contract, test)), version=model.digest,
        start=datetime.now(UTC) - timedelta(hours=2), contract=contract, threshold=model.threshold,
    )  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if k != "MONITOR_LABELS"}
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "monitor"],
        cwd=repo, capture_output=True, text=True, check=False,
        env=environment | {"MONITOR_WINDOW": f"{log} 1d"},
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "monitor] Error 1" in result.stderr  # churn monitor's own code: an alert
    document = json.loads((repo / "reports" / "monitor.json").read_text())
    assert document["status"] == "alert"
    assert f"drift:{number.name}" in {a["name"] for a in document["alerts"]}
    assert (repo / "reports" / "monitor.md").is_file()
