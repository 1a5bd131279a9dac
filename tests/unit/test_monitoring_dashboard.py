"""The Grafana dashboard (monitoring/grafana/dashboard.json): the panels issue 11 asks for, each
query on the chosen data source and service, using only metrics the service exports. Its queries
also run against a real Prometheus in tests/engines/test_prometheus.py."""

from __future__ import annotations

import re

import pytest
from tests.monitoring_assets import (
    as_promql,
    dashboard,
    dashboard_queries,
    exposed_names,
    metric_names,
    recorded_names,
)


def _panel_queries() -> dict[str, list[str]]:
    panels: dict[str, list[str]] = {}
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            panels.setdefault(panel["title"], []).append(target["expr"])
    return panels


def _panel_using(pattern: str) -> str:
    """The title of the panel one of whose queries matches `pattern`."""
    for title, queries in _panel_queries().items():
        if any(re.search(pattern, " ".join(q.split())) for q in queries):
            return title
    raise AssertionError(f"no panel queries {pattern!r}")


@pytest.mark.parametrize(
    "pattern",
    [
        r"sum by \(endpoint, status\) \(rate\(churn_http_requests_total",  # request rate
        r'status=~"5\.\."',  # error rate
        r"histogram_quantile\(0\.5, .*churn_http_request_duration_seconds_bucket",  # p50
        r"histogram_quantile\(0\.99, .*churn_http_request_duration_seconds_bucket",  # p99
        r"churn_model_batch_rows",  # rows per model call
        r"churn_prediction_score_bucket",  # score distribution
        r"process_resident_memory_bytes",  # memory
    ],
)
def test_the_dashboard_shows_each_health_signal(pattern):
    assert _panel_using(pattern)


def test_the_score_distribution_is_a_heatmap_of_the_histogram_buckets():
    (panel,) = [p for p in dashboard()["panels"] if p["title"] == "Prediction-score distribution"]
    assert panel["type"] == "heatmap"
    assert panel["targets"][0]["format"] == "heatmap"
    assert "sum by (le)" in panel["targets"][0]["expr"]


@pytest.mark.parametrize(("where", "query"), dashboard_queries())
def test_dashboard_queries_use_only_metrics_the_service_exports(where, query):
    assert metric_names(as_promql(query, job="churn")) - exposed_names() - recorded_names() == set()


def test_every_panel_reads_the_chosen_data_source_and_service():
    board = dashboard()
    variables = {v["name"] for v in board["templating"]["list"]}
    assert {"datasource", "job", "instance"} <= variables
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert 'job="$job"' in target["expr"], panel["title"]


def test_panels_have_unique_ids_and_fit_the_grid():
    panels = dashboard()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
