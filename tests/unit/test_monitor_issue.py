"""The monitoring issue's content and the checks on the monitor's output
(churn.release.monitor_issue); its REST calls are tested against a stand-in GitHub in
tests/integration/workflows/test_monitor_issue.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from churn.release import monitor_issue
from churn.release.monitor_issue import Alert, MonitorIssueError, MonitorResult

RUN_URL = "https://github.com/acme/churn/actions/runs/42"
ENV = {
    "GITHUB_REPOSITORY": "acme/churn",
    "GITHUB_TOKEN": "t0ken",
    "GITHUB_RUN_ID": "42",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_API_URL": "https://api.github.com",
}


def alert_json(**overrides) -> str:
    document = {
        "status": "alert",
        "alerts": [
            {"name": "psi:tenure", "value": 0.31, "threshold": 0.2, "message": "tenure moved"},
            {"name": "score_shift", "value": 0.12, "threshold": 0.1, "message": "scores moved"},
        ],
        "window": {"rows": 5000},  # whatever else the monitor writes is ignored
    }
    return json.dumps(document | overrides)


def test_an_alert_report_is_read_with_its_alerts():
    result = monitor_issue.parse(alert_json())
    assert result.status == "alert"
    assert result.alerts[0] == Alert("psi:tenure", 0.31, 0.2, "tenure moved")
    assert result.names == ["psi:tenure", "score_shift"]


def test_a_healthy_report_has_no_alerts():
    assert monitor_issue.parse('{"status": "healthy", "alerts": []}') == MonitorResult(
        "healthy", ()
    )


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("{", "not JSON"),
        ("[]", "must hold an object"),
        ('{"status": "fine", "alerts": []}', "status must be one of healthy, alert, error"),
        ('{"status": "alert"}', "alerts must be a list"),
        ('{"status": "alert", "alerts": []}', "no alert is listed"),
        ('{"status": "healthy", "alerts": [{"name": "x"}]}', "alerts are listed"),
        ('{"status": "alert", "alerts": ["x"]}', "alerts[0] must be an object"),
        ('{"status": "alert", "alerts": [{"name": ""}]}', "alerts[0].name must be a non-empty"),
        ('{"status": "alert", "alerts": [{"name": 3}]}', "alerts[0].name must be a non-empty"),
        ('{"status": "alert", "alerts": [{"name": "x", "value": NaN}]}', "alerts[0].value"),
        ('{"status": "alert", "alerts": [{"name": "x", "value": true}]}', "alerts[0].value"),
        ('{"status": "alert", "alerts": [{"name": "x", "threshold": {}}]}', "alerts[0].threshold"),
        ('{"status": "alert", "alerts": [{"name": "x", "message": 1}]}', "alerts[0].message"),
        (json.dumps({"status": "alert", "alerts": [{"name": "x"}] * 101}), "at most 100"),
        (json.dumps({"status": "alert", "alerts": [{"name": "x" * 201}]}), "longer than 200"),
    ],
)
def test_a_malformed_report_is_refused_naming_the_field(text, complaint):
    with pytest.raises(MonitorIssueError) as error:
        monitor_issue.parse(text)
    assert complaint in str(error.value)


def test_the_report_file_must_be_a_regular_file_of_reasonable_size(tmp_path):
    missing = tmp_path / "monitor.json"
    with pytest.raises(MonitorIssueError, match="did `make monitor` run"):
        monitor_issue.read_result(missing)
    target = tmp_path / "elsewhere.json"
    target.write_text(alert_json(), encoding="utf-8")
    os.symlink(target, missing)
    with pytest.raises(MonitorIssueError, match="not a regular file"):
        monitor_issue.read_result(missing)
    huge = tmp_path / "huge.json"
    huge.write_text(" " * (monitor_issue.MAX_JSON_BYTES + 1), encoding="utf-8")
    with pytest.raises(MonitorIssueError, match="larger than"):
        monitor_issue.read_result(huge)


def test_the_issue_says_what_fired_where_the_report_is_and_what_to_do():
    body = monitor_issue.issue_body(monitor_issue.parse(alert_json()), RUN_URL, "")
    assert "| psi:tenure | 0.31 | 0.2 | tenure moved |" in body
    assert "| score_shift | 0.12 | 0.1 | scores moved |" in body
    assert f"({RUN_URL})" in body
    assert "monitor-report" in body
    assert "retrain with new data through a pull request" in body
    assert "same gate decides" in body
    assert monitor_issue.read_marker(body) == {
        "status": "alert",
        "alerts": ["psi:tenure", "score_shift"],
    }


def test_alert_text_cannot_break_the_table_mention_people_or_close_the_marker():
    nasty = Alert("a|b-->\n<c>", "x@team", None, "line one\nline | two `code` @someone")
    body = monitor_issue.issue_body(MonitorResult("alert", (nasty,)), RUN_URL, "")
    row = next(line for line in body.splitlines() if line.startswith("| a\\|b"))
    assert row == (
        "| a\\|b--&gt; &lt;c&gt; | x@\u200bteam | - | line one line \\| two 'code' @\u200bsomeone |"
    )
    assert body.count("-->") == 1  # the end of our marker
    assert monitor_issue.read_marker(body)["alerts"] == ["a|b-->\n<c>"]


def test_the_markdown_report_is_quoted_and_cut_to_fit_one_issue():
    result = monitor_issue.parse(alert_json())
    short = monitor_issue.issue_body(result, RUN_URL, "## Drift\n\ntenure: PSI 0.31\n")
    assert "<details><summary>The monitoring report</summary>" in short
    assert "tenure: PSI 0.31" in short
    long = monitor_issue.issue_body(result, RUN_URL, "x" * 200_000)
    assert len(long) <= monitor_issue.MAX_BODY_CHARS
    assert "the whole report is in the artifact" in long


def test_a_marker_that_was_edited_into_nonsense_is_no_marker():
    assert monitor_issue.read_marker("<!-- churn-monitor {not json} -->") is None
    assert monitor_issue.read_marker('<!-- churn-monitor {"status": "alert"} -->') is None
    assert monitor_issue.read_marker(None) is None


def test_the_run_link_and_api_come_from_the_runner_environment():
    github, run_url = monitor_issue._environment(ENV)
    assert run_url == RUN_URL
    assert (github.api_url, github.repository, github.token) == (
        "https://api.github.com",
        "acme/churn",
        "t0ken",
    )


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"GITHUB_REPOSITORY": "acme/churn/../x"}, "GITHUB_REPOSITORY must be owner/name"),
        ({"GITHUB_TOKEN": ""}, "GITHUB_TOKEN is not set"),
        ({"GITHUB_RUN_ID": "42; rm"}, "GITHUB_RUN_ID must be a number"),
        ({"GITHUB_API_URL": "file:///etc/passwd"}, "GITHUB_API_URL must be an http(s) URL"),
    ],
)
def test_a_broken_environment_is_refused(change, complaint):
    with pytest.raises(MonitorIssueError) as error:
        monitor_issue._environment(ENV | change)
    assert complaint in str(error.value)


def test_the_command_refuses_a_bad_report_with_one_line_and_status_2(tmp_path: Path, capsys):
    report = tmp_path / "monitor.json"
    report.write_text('{"status": "alert", "alerts": []}', encoding="utf-8")
    assert monitor_issue.main(["--json", str(report)], env=ENV) == 2
    err = capsys.readouterr().err
    assert err == 'monitor-issue: status is "alert" but no alert is listed\n'


def test_an_error_run_needs_no_token_and_posts_nothing(tmp_path: Path, capsys):
    report = tmp_path / "monitor.json"
    report.write_text('{"status": "error", "alerts": []}', encoding="utf-8")
    # An API URL nothing listens on: any request would fail the command.
    env = ENV | {"GITHUB_API_URL": "http://127.0.0.1:9"}
    assert monitor_issue.main(["--json", str(report)], env=env) == 0
    assert "could not run" in capsys.readouterr().out
