"""Payload files: what a stage wrote outside the DVC cache travels as text or base64, exactly."""

from __future__ import annotations

import pytest

from churn.engines import stage_task
from churn.engines.stage_task import TaskError


def test_files_round_trip_byte_for_byte_and_replace_whole_outputs(tmp_path):
    made = tmp_path / "made"
    (made / "eval" / "plots").mkdir(parents=True)
    (made / "eval" / "metrics.json").write_text('{"auc": 0.84}\n')
    (made / "eval" / "plots" / "roc.json").write_text("[1, 2]")
    (made / "eval" / "plots" / "image.bin").write_bytes(bytes(range(256)))
    files = stage_task._read_files(made, ["eval/metrics.json", "eval/plots"])
    assert {f["path"]: sorted(f) for f in files} == {
        "eval/metrics.json": ["path", "text"],
        "eval/plots/image.bin": ["base64", "path"],
        "eval/plots/roc.json": ["path", "text"],
    }

    target = tmp_path / "checkout"
    (target / "eval" / "plots").mkdir(parents=True)
    (target / "eval" / "plots" / "stale.json").write_text("from an older run")
    payload = {"replaces": ["eval/metrics.json", "eval/plots"], "files": files}
    stage_task.apply(target, [payload])

    assert (target / "eval" / "plots" / "image.bin").read_bytes() == bytes(range(256))
    assert (target / "eval" / "metrics.json").read_text() == '{"auc": 0.84}\n'
    assert not (target / "eval" / "plots" / "stale.json").exists()


def test_a_missing_output_is_named(tmp_path):
    with pytest.raises(TaskError, match=r"eval/metrics\.json was not written by its stage"):
        stage_task._read_files(tmp_path, ["eval/metrics.json"])


@pytest.mark.parametrize("path", ["../outside", "/etc/passwd", ".git/config", ""])
def test_payload_paths_stay_inside_the_checkout(tmp_path, path):
    with pytest.raises(TaskError, match="refusing payload path"):
        stage_task.apply(tmp_path, [{"files": [{"path": path, "text": "x"}]}])


def test_export_lays_files_out_as_in_the_project(tmp_path):
    payload = {"files": [{"path": "dvc.lock", "text": "schema: '2.0'\n"}]}
    assert stage_task.export(payload, tmp_path / "out") == [tmp_path / "out" / "dvc.lock"]
    assert (tmp_path / "out" / "dvc.lock").read_text() == "schema: '2.0'\n"
