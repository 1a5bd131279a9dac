"""A real Prometheus scrapes a real running model service, loads the alert rules, and answers the
dashboard's queries.

The service runs the session pipeline's model (shared with the Spark test) on a free
port; Prometheus runs from the example config (monitoring/prometheus/prometheus.yml) with only
the target, a 1 s scrape and evaluation interval, and a temporary storage directory changed. The
tests poll Prometheus' HTTP API until the expected values arrive and assert on the values.
Needs `prometheus` and `promtool` on PATH (`make prometheus`, which `make test-engines` runs).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml
from tests.conftest import PROJECT_ROOT
from tests.integration import conftest as integration
from tests.integration.conftest import free_port, wait_until_up
from tests.integration.serve.conftest import Server, running, serve_argv, server_env
from tests.monitoring_assets import (
    PROMETHEUS_CONFIG,
    RULES,
    as_promql,
    dashboard_queries,
    exposed_names,
    load_yaml,
    metric_names,
    rules,
)

from churn.artifacts import prepared_split, saved_model

pytestmark = pytest.mark.slow

# Generous: Prometheus scrapes every second, so values normally arrive within a few seconds.
DEADLINE_SECONDS = 120
INVOCATIONS, INVOCATION_ROWS = 3, 40
PREDICTIONS, PREDICTION_ROWS = 2, 25


def binary(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed: `make prometheus` installs it (apt package prometheus)"
    return path


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), *args], input=stdin, capture_output=True, text=True, check=False
    )


@dataclass(frozen=True)
class Trained:
    root: Path
    model_dir: Path
    test_rows: pd.DataFrame  # held-out rows, the model's input columns only


# The session's pipeline run (prepare, train, compile, pre-score), shared with the Spark test.
pipeline = integration.pipeline


@pytest.fixture(scope="module")
def trained(pipeline: integration.Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """The pipeline's model on the sample data, trained with the project's own params.yaml."""
    # The model's input columns, as its own serving example names them.
    example = json.loads(
        (pipeline.model_dir / saved_model.INPUT_EXAMPLE).read_text(encoding="utf-8")
    )
    columns = example["dataframe_split"]["columns"]
    test_rows = prepared_split.test_rows(pipeline.prepared_dir)[columns]
    return Trained(tmp_path_factory.mktemp("monitored-model"), pipeline.model_dir, test_rows)


@pytest.fixture(scope="module")
def service(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    argv = serve_argv("--model", str(trained.model_dir))
    env = server_env(free_port())
    with running(argv, env, PROJECT_ROOT, trained.root / "server.log") as started:
        yield started


@dataclass(frozen=True)
class Prometheus:
    url: str
    job: str
    client: httpx.Client

    def query(self, promql: str) -> list[dict[str, Any]]:
        answer = self.client.get("/api/v1/query", params={"query": promql}).json()
        assert answer["status"] == "success", (promql, answer)
        return answer["data"]["result"]

    def values(self, promql: str, *labels: str) -> dict[tuple[str, ...], float]:
        """An instant vector as {(label values...): value}."""
        return {
            tuple(s["metric"].get(label, "") for label in labels): float(s["value"][1])
            for s in self.query(promql)
        }


def poll(read: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    """Read until `done` holds or the deadline passes; return the last reading either way."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def _fast_evaluation(path: Path) -> Path:
    """A copy of the rules evaluated every second, so their health is known within seconds."""
    groups = load_yaml(RULES)
    for group in groups["groups"]:
        group["interval"] = "1s"
    path.write_text(yaml.safe_dump(groups, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def prometheus(service: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    root = tmp_path_factory.mktemp("prometheus")
    config = load_yaml(PROMETHEUS_CONFIG)
    config["global"] |= {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(_fast_evaluation(root / "rules.yml"))]
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [service.url.removeprefix("http://")]}]
    config_file = root / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    check = promtool("check", "config", str(config_file))
    assert check.returncode == 0, check.stdout + check.stderr
    port = free_port()
    with (root / "prometheus.log").open("w") as log:
        process = subprocess.Popen(
            [
                binary("prometheus"),
                f"--config.file={config_file}",
                f"--storage.tsdb.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/-/ready", process, timeout=60)
        with httpx.Client(base_url=url, timeout=10) as client:
            yield Prometheus(url, job["job_name"], client)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Traffic:
    requests: Counter  # (endpoint, status) -> requests sent
    rows: Counter  # endpoint -> rows scored
    scores: list[float]  # every churn probability the service answered


@pytest.fixture(scope="module")
def traffic(service: Server, trained: Trained) -> Traffic:
    """Scoring requests (and a refused one) sent once; what the service answered, counted."""
    features = trained.test_rows
    requests, rows, scores = Counter(), Counter(), []
    for i in range(INVOCATIONS):
        chunk = features.iloc[i * INVOCATION_ROWS : (i + 1) * INVOCATION_ROWS]
        body = {"dataframe_split": json.loads(chunk.to_json(orient="split", index=False))}
        answer = service.client.post("/invocations", json=body)
        assert answer.status_code == 200, answer.text
        scores += [pair[1] for pair in answer.json()["predictions"]]
        requests["/invocations", "200"] += 1
        rows["/invocations"] += len(chunk)
    for i in range(PREDICTIONS):
        chunk = features.iloc[i * PREDICTION_ROWS : (i + 1) * PREDICTION_ROWS]
        answer = service.client.post(
            "/predict", json={"records": json.loads(chunk.to_json(orient="records"))}
        )
        assert answer.status_code == 200, answer.text
        scores += [row["churn_probability"] for row in answer.json()["predictions"]]
        requests["/predict", "200"] += 1
        rows["/predict"] += len(chunk)
    refused = service.client.post("/predict", json={"records": [{"no_such_column": 1}]})
    assert refused.status_code == 422
    requests["/predict", "422"] += 1
    return Traffic(requests, rows, scores)


def test_prometheus_counts_the_requests_the_service_answered(
    prometheus: Prometheus, traffic: Traffic
) -> None:
    promql = f'sum by (endpoint, status) (churn_http_requests_total{{job="{prometheus.job}"}})'
    expected = dict(traffic.requests)

    def read() -> dict:
        found = prometheus.values(promql, "endpoint", "status")
        return {key: found.get(key) for key in expected}

    assert poll(read, lambda got: got == expected) == expected
    rows = prometheus.values(
        f'sum by (endpoint) (churn_rows_scored_total{{job="{prometheus.job}"}})', "endpoint"
    )
    assert {(endpoint,): n for endpoint, n in traffic.rows.items()} == rows


def test_prometheus_holds_the_histogram_of_the_scores_served(
    prometheus: Prometheus, traffic: Traffic
) -> None:
    total = INVOCATIONS * INVOCATION_ROWS + PREDICTIONS * PREDICTION_ROWS
    assert len(traffic.scores) == total
    count = f'churn_prediction_score_count{{job="{prometheus.job}"}}'
    assert poll(lambda: prometheus.values(count), lambda got: got == {(): total}) == {(): total}
    buckets = prometheus.values(f'churn_prediction_score_bucket{{job="{prometheus.job}"}}', "le")
    # `le` buckets are cumulative: the scores at or below each edge.
    expected = {(le,): sum(s <= float(le) for s in traffic.scores) for (le,) in buckets}
    assert buckets == expected
    assert len(buckets) == 11  # 0.1 ... 1.0 and +Inf
    assert 0 < buckets[("0.5",)] < total  # the sample scores land on both sides of 0.5


def test_prometheus_loads_every_rule_and_evaluates_it_without_error(
    prometheus: Prometheus, traffic: Traffic
) -> None:
    def read() -> dict[str, str]:
        answer = prometheus.client.get("/api/v1/rules").json()
        assert answer["status"] == "success", answer
        return {
            rule["name"]: rule["health"]
            + (f": {rule['lastError']}" if rule.get("lastError") else "")
            for group in answer["data"]["groups"]
            for rule in group["rules"]
        }

    expected = {rule.get("alert") or rule["record"]: "ok" for rule in rules()}
    assert poll(read, lambda got: got == expected) == expected


def test_every_dashboard_query_runs_on_the_scraped_metrics(
    prometheus: Prometheus, traffic: Traffic
) -> None:
    # Wait for a full rate window of samples after the traffic; `rate` needs two.
    poll(
        lambda: prometheus.query("sum(rate(churn_http_requests_total[1m]))"),
        bool,
    )
    empty = set()
    for where, query in dashboard_queries():
        if not prometheus.query(as_promql(query, job=prometheus.job)):
            empty.add(where)
    # No server error happened, and the score shift needs an hour of history: those two queries
    # have nothing to show yet. Every other panel does.
    assert empty == {
        "panel 'Error rate' A",
        "panel 'Score shift against the week before' A",
    }


def test_every_metric_the_rules_and_dashboard_read_is_scraped_from_the_service(
    prometheus: Prometheus, traffic: Traffic
) -> None:
    used = (
        set().union(
            *(metric_names(rule["expr"]) for rule in rules()),
            *(metric_names(as_promql(q, job=prometheus.job)) for _, q in dashboard_queries()),
        )
        & exposed_names()
    )
    answer = prometheus.client.get(
        "/api/v1/label/__name__/values", params={"match[]": f'{{job="{prometheus.job}"}}'}
    ).json()
    assert used - set(answer["data"]) == set()


def test_promtool_accepts_every_dashboard_query(tmp_path: Path) -> None:
    def check(queries: list[str]) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "dashboard-queries.yml"
        group = {
            "name": "dashboard",
            "rules": [{"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(queries)],
        }
        path.write_text(yaml.safe_dump({"groups": [group]}), encoding="utf-8")
        return promtool("check", "rules", str(path))

    queries = [as_promql(query, job="churn") for _, query in dashboard_queries()]
    accepted = check(queries)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    broken = check([*queries, "sum by (le (rate(churn_prediction_score_bucket[1m]))"])
    assert broken.returncode != 0


def test_the_service_metrics_pass_promtool_lint(service: Server, traffic: Traffic) -> None:
    text = service.client.get("/metrics").text
    lint = promtool("check", "metrics", stdin=text)
    assert lint.returncode == 0, lint.stdout + lint.stderr
