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


# ---- No exfiltration through CML: with CML_PUBLISH_IMAGES=true, CML uploads every local file
# a link, image or definition of the report points at, to a public host. Only files of the
# artifact itself may be referenced.


def artifact_with_assets(tmp_path: Path, report: str) -> Path:
    root = artifact(tmp_path, report=report)
    (root / "assets").mkdir()
    (root / "assets" / "roc.png").write_bytes(b"\x89PNG\r\n")
    (root / "report.json").write_text("{}", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("token", encoding="utf-8")
    os.symlink(tmp_path / "secret.txt", root / "assets" / "linked.png")
    os.symlink(tmp_path, root / "outside")
    return root


@pytest.mark.parametrize(
    "report",
    [
        "![x](assets/roc.png)",
        "![roc](assets/roc.png 'ROC curve')\n",
        "![roc][fig]\n\n[fig]: assets/roc.png\n",
        "[the JSON](report.json) and [a section](#metrics)",
        "[GitHub](https://github.com/example/churn/actions/runs/1) <https://example.com/a>",
        "[mail](mailto:someone@example.com) and <someone@example.com>",
        '[defined][docs]\n\n[docs]: https://example.com/docs#x "Docs"\n',
        '<img src="assets/roc.png" alt="ROC" width="400">',
        "```mermaid\nxychart-beta\n  x-axis [0, 0.5, 1]\n  line [0.1, 0.6, 1]\n```\n",
        "| a | b |\n|---|---|\n| `[1, 2]` | ✓ |\n",
    ],
)
def test_links_to_artifact_files_and_web_pages_are_accepted(tmp_path, report):
    root = artifact_with_assets(tmp_path, report)
    assert pr_artifact.check(root) == (12, (root / "report.md").resolve())


@pytest.mark.parametrize(
    "report",
    [
        "![x](/etc/hostname)",
        "[x](/etc/hostname)",
        "![x](../secret.txt)",
        "![x](assets/../../secret.txt)",
        "![x](<../secret.txt>)",
        "![x]( /etc/hostname 'title')",
        "![x](\n/etc/hostname)",
        "![x](&#47;etc&#47;hostname)",
        "![x](&sol;etc&sol;hostname)",
        "![x](\\/etc\\/hostname)",
        "![x](%2Fetc%2Fhostname)",
        "![x][r]\n\n[r]: /etc/hostname\n",
        "[x][r]\n\n[r]:\n  /etc/hostname\n",
        "> [r]: /etc/hostname\n",
        "- [R]: </etc/hostname> 'x'\n",
        "[x](https://example.com/../../../../../../../../etc/hostname)",
        "<https://x/../../../../../../../../../etc/hostname>",
        "[x](file:///etc/hostname)",
        "[x](javascript:alert(1))",
        "![x](https://example.com/badge.png)",
        "![x](data:image/png;base64,iVBORw0KGgo=)",
        "![x](assets/linked.png)",
        "![x](outside/secret.txt)",
        "![x](assets)",
        "![x]()",
        "[x](~/.ssh/id_rsa)",
        '<img src="/etc/hostname">',
        "<IMG SRC=/etc/hostname>",
        "<img\nalt='x'\nsrc='/etc/hostname'>",
        '<img src="&#47;etc&#47;hostname">',
        '<picture><source srcset="assets/roc.png 1x, /etc/hostname 2x"></picture>',
        '<a href="/etc/hostname">x</a>',
        '<img src="https://example.com/pixel.png">',
    ],
)
def test_links_outside_the_artifact_are_refused(tmp_path, report):
    root = artifact_with_assets(tmp_path, f"## Report\n\nSome text.\n\n{report}\n")
    with pytest.raises(ArtifactError, match=r"report\.md line \d+"):
        pr_artifact.check(root)


def test_the_refusal_names_the_target_and_why(tmp_path, capsys):
    root = artifact_with_assets(tmp_path, "# R\n\n![x](/etc/hostname)\n")
    assert pr_artifact.main(["check", str(root)]) == 2
    err = capsys.readouterr().err
    assert "report.md line 3" in err
    assert "'/etc/hostname'" in err
    assert "not a file inside the artifact" in err


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        # CommonMark's reading of each destination (remark 13, inside CML 0.20.6, agrees).
        ("[a](b(c)d)", [("link", "b(c)d")]),
        ("[a](b)c)", [("link", "b")]),
        ("[a](<b c>)", [("link", "b c")]),
        ("[a](\\(b\\))", [("link", "(b)")]),
        ("[a](&sol;x)", [("link", "/x")]),
        ("[a](\\&sol;x)", [("link", "&sol;x")]),
        ("[a](x\u00a0y)", [("link", "x\u00a0y")]),
        ("![a](b 'title')", [("image", "b")]),
        ("[a]:\n  <b c> 'title'\n\n[a]", [("definition", "b c")]),
        ("[![i](img.png)](page.html)", [("image", "img.png"), ("link", "page.html")]),
        ("<a@b.c>", [("autolink", "mailto:a@b.c")]),
    ],
)
def test_destinations_are_read_as_commonmark_reads_them(markdown, expected):
    from churn.release import report_links

    found = [(t.kind, report_links.decoded(t.url)) for t in report_links.targets(markdown)]
    assert found == expected


def test_html_the_check_cannot_read_is_refused_not_skipped(tmp_path):
    root = artifact_with_assets(tmp_path, "# R\n\n<![X[ hidden ]]> <img src=/etc/hostname>\n")
    with pytest.raises(ArtifactError, match="HTML that this check cannot read"):
        pr_artifact.check(root)


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        ("![x](" + "a" * 300 + ")", "not a file inside the artifact"),  # a name too long
        ("![x](<a\x00b>)", "not a file inside the artifact"),
        ("![x](a%00b)", "not a file inside the artifact"),
        ("[x](https://example.com/" + "a/" * 1100 + "../" * 1200 + "etc/hostname)", "longer than"),
        ("](" * 30_000, "at most 1000 are read"),  # and no quadratic time reading them
        ("[a](b) " * 1001, "at most 1000 are read"),
    ],
)
def test_unreadable_destinations_are_refused_with_a_short_reason(tmp_path, capsys, report, reason):
    root = artifact_with_assets(tmp_path, report)
    assert pr_artifact.main(["check", str(root)]) == 2
    err = capsys.readouterr().err
    assert reason in err
    assert len(err) < 400
