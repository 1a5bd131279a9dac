"""The untrusted hand-over between pr.yml and pr-comment.yml (churn.release.pr_artifact)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from churn.release import pr_artifact
from churn.release.pr_artifact import ArtifactError


def artifact(tmp_path: Path, number: str = "12\n", report: str = "## Verdict\n") -> Path:
    root = tmp_path / "artifact"
    root.mkdir()
    (root / "pr-number").write_text(number, encoding="utf-8")
    (root / "report.md").write_text(report, encoding="utf-8")
    return root


def test_collect_then_check_round_trips(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "report.md").write_text("## ✅ Better\n", encoding="utf-8")
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"roc_auc": 0.8}', encoding="utf-8")
    pr_artifact.collect(reports, "42", metrics)
    assert (reports / "metrics.json").read_text() == '{"roc_auc": 0.8}'
    assert pr_artifact.check(reports) == (42, (reports / "report.md").resolve())


def test_collect_without_metrics_still_records_the_number(tmp_path):
    pr_artifact.collect(tmp_path / "reports", "3", tmp_path / "missing.json")
    assert (tmp_path / "reports" / "pr-number").read_text() == "3\n"
    assert not (tmp_path / "reports" / "metrics.json").exists()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0",
        "-1",
        "1.5",
        "12 ",
        " 12",
        "012",
        "12\n\n",
        "1e3",
        "12;rm -rf /",
        "$(id)",
        "12\necho pwned",
        "١٢",
        "12345678901",
    ],
)
def test_anything_but_a_plain_positive_integer_is_refused(tmp_path, text):
    with pytest.raises(ArtifactError, match="pr-number"):
        pr_artifact.check(artifact(tmp_path, number=text))


def test_a_symlinked_report_is_refused(tmp_path):
    root = artifact(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("token", encoding="utf-8")
    (root / "report.md").unlink()
    os.symlink(secret, root / "report.md")
    with pytest.raises(ArtifactError, match=r"no regular file 'report\.md'"):
        pr_artifact.check(root)


def test_a_symlinked_number_is_refused(tmp_path):
    root = artifact(tmp_path)
    (tmp_path / "n").write_text("5", encoding="utf-8")
    (root / "pr-number").unlink()
    os.symlink(tmp_path / "n", root / "pr-number")
    with pytest.raises(ArtifactError, match="pr-number"):
        pr_artifact.check(root)


def test_a_missing_report_is_refused(tmp_path):
    root = artifact(tmp_path)
    (root / "report.md").unlink()
    with pytest.raises(ArtifactError, match=r"report\.md"):
        pr_artifact.check(root)


def test_a_report_longer_than_one_comment_is_refused(tmp_path):
    root = artifact(tmp_path, report="x" * (pr_artifact.MAX_COMMENT_CHARS + 1))
    with pytest.raises(ArtifactError, match="one comment holds"):
        pr_artifact.check(root)


def test_a_report_that_is_not_utf8_is_refused(tmp_path):
    root = artifact(tmp_path)
    (root / "report.md").write_bytes(b"\xff\xfe bad")
    with pytest.raises(ArtifactError, match="UTF-8"):
        pr_artifact.check(root)


def test_cli_prints_github_output_lines(tmp_path, capsys):
    root = artifact(tmp_path, number="7")
    assert pr_artifact.main(["check", str(root)]) == 0
    assert capsys.readouterr().out == f"number=7\nreport={(root / 'report.md').resolve()}\n"


def test_cli_reports_a_bad_artifact_without_a_traceback(tmp_path, capsys):
    root = artifact(tmp_path, number="7; curl evil")
    assert pr_artifact.main(["check", str(root)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "pr-number must hold a positive integer" in captured.err


def test_cli_collect_refuses_a_bad_number(tmp_path, capsys):
    code = pr_artifact.main(
        ["collect", "--reports", str(tmp_path), "--number", "x", "--metrics", "m.json"]
    )
    assert code == 2
    assert "positive integer" in capsys.readouterr().err
