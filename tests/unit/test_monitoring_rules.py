"""The Prometheus alert rules (monitoring/prometheus/): what each alert carries, that each is
unit-tested on both sides of its threshold, and that they use only metrics the service exports.
promtool itself checks and runs them in `make check-rules` (and tests/engines)."""

from __future__ import annotations

import pytest
from tests.monitoring_assets import (
    PROMETHEUS_CONFIG,
    RULE_TESTS,
    RULES,
    alerts,
    exposed_names,
    load_yaml,
    metric_names,
    recorded_names,
    rules,
)

# Each of issue 11's health signals has its alert (by the metric it reads).
EXPECTED_SIGNALS = {
    "ChurnHighErrorRate": "churn_http_requests_total",
    "ChurnHighLatencyP99": "churn_http_request_duration_seconds_bucket",
    "ChurnNoScoringTraffic": "churn_http_requests_total",
    "ChurnPredictionScoreShift": "job:churn_prediction_score_shift:max_cdf_gap",
    "ChurnHighMemory": "process_resident_memory_bytes",
}


def _alert_tests() -> list[dict]:
    return [
        case
        for path in RULE_TESTS
        for group in load_yaml(path)["tests"]
        for case in group.get("alert_rule_test", [])
    ]


def test_the_health_signals_of_the_service_each_have_an_alert():
    found = alerts()
    for name, metric in EXPECTED_SIGNALS.items():
        assert name in found, name
        assert metric in metric_names(found[name]["expr"]), name


@pytest.mark.parametrize("name", sorted(alerts()))
def test_every_alert_says_what_it_means_and_what_to_do(name):
    rule = alerts()[name]
    for key in ("summary", "description", "runbook"):
        assert len(rule["annotations"].get(key, "").split()) >= 5, f"{name}: no {key}"
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert rule.get("for"), f"{name} would fire on a single evaluation"


@pytest.mark.parametrize("name", sorted(alerts()))
def test_every_alert_fires_in_a_test_and_stays_silent_in_another(name):
    cases = [case for case in _alert_tests() if case["alertname"] == name]
    assert any(case["exp_alerts"] for case in cases), f"no promtool test fires {name}"
    assert any(not case["exp_alerts"] for case in cases), f"no promtool test keeps {name} silent"


def test_every_alert_test_names_an_existing_alert():
    assert {case["alertname"] for case in _alert_tests()} <= set(alerts())


def test_the_rule_tests_and_the_example_config_load_these_rules():
    for path in RULE_TESTS:
        assert [(path.parent / f).resolve() for f in load_yaml(path)["rule_files"]] == [RULES]
    config = load_yaml(PROMETHEUS_CONFIG)
    assert [(PROMETHEUS_CONFIG.parent / f).resolve() for f in config["rule_files"]] == [RULES]


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r.get("alert") or r["record"])
def test_rules_use_only_metrics_the_service_exports(rule):
    known = exposed_names() | recorded_names()
    assert metric_names(rule["expr"]) - known == set()


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r.get("alert") or r["record"])
def test_rules_do_not_depend_on_the_scrape_job_name(rule):
    """The service is recognised by its metrics, so the rules work in any scrape config."""
    assert "job=" not in rule["expr"].replace(" ", "")
    assert "instance=" not in rule["expr"].replace(" ", "")


def test_the_metric_name_check_sees_an_unknown_or_misspelt_metric():
    known = exposed_names() | recorded_names()
    misspelt = 'sum(rate(churn_http_request_total{status=~"5.."}[5m])) > 0'
    assert metric_names(misspelt) - known == {"churn_http_request_total"}


def test_metric_names_leaves_out_functions_labels_keywords_and_numbers():
    expr = (
        'sum by (job) (rate(a_total{endpoint="/x{y}", le=~"0.5"}[5m] offset 1h)) / on (job) '
        "group_left b > 1e9 and ignoring (le) c:recorded:rate5m unless histogram_quantile(0.99, "
        "d_bucket) > bool -Inf or vector(1) * absent(e) or f[5m:1m]"
    )
    assert metric_names(expr) == {"a_total", "b", "c:recorded:rate5m", "d_bucket", "e", "f"}
