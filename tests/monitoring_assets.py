"""The monitoring files (monitoring/: alert rules, their promtool tests, the Grafana dashboard) as
data for the tests: where they are, their PromQL expressions, and the metric names those use."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from tests.conftest import PROJECT_ROOT

PROMETHEUS_DIR = PROJECT_ROOT / "monitoring" / "prometheus"
RULES = PROMETHEUS_DIR / "rules.yml"
RULE_TESTS = (PROMETHEUS_DIR / "rules_test.yml", PROMETHEUS_DIR / "rules_test_scores.yml")
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
DASHBOARD = PROJECT_ROOT / "monitoring" / "grafana" / "dashboard.json"

# What a Grafana variable stands for when a dashboard query is run outside Grafana.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$instance": ".+"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules(path: Path = RULES) -> list[dict[str, Any]]:
    """Every rule (recording or alerting) of every group."""
    return [rule for group in load_yaml(path)["groups"] for rule in group["rules"]]


def alerts(path: Path = RULES) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in rules(path) if "alert" in rule}


def recorded_names(path: Path = RULES) -> set[str]:
    return {rule["record"] for rule in rules(path) if "record" in rule}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL with Grafana variables) for every panel target and variable query."""
    board = dashboard()
    found = [
        (f"panel {panel['title']!r} {target['refId']}", target["expr"])
        for panel in _panels(board["panels"])
        for target in panel.get("targets", [])
    ]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.*),\s*\w+\)", variable["definition"])
            assert match, variable["definition"]
            found.append((f"variable {variable['name']!r}", match.group(1)))
    return found


def as_promql(query: str, job: str) -> str:
    """A dashboard query with its Grafana variables replaced, ready for Prometheus."""
    for name, value in {**GRAFANA_VARIABLES, "$job": job}.items():
        query = query.replace(name, value)
    assert "$" not in query, f"unknown Grafana variable in {query}"
    return query


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NUMBER = re.compile(r"(?<![\w:])\d[\w.]*(?:[eE][+-]?\d+)?")
_IDENTIFIER = re.compile(r"[A-Za-z_:][\w:]*")
_KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "inf",
    "nan",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels and keywords left out)."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = _GROUPING.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        word = match.group()
        is_call = text[match.end() :].lstrip().startswith("(")
        if not is_call and word.lower() not in _KEYWORDS:
            names.add(word)
    return names


def exposed_names() -> set[str]:
    """Every sample name the service's registry exports (churn.deliver.serve.monitoring)."""
    from churn.deliver.serve.monitoring import Metrics

    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("", "_count", "_sum", "_created"),
        "info": ("_info",),
    }
    return {
        family.name + suffix
        for family in Metrics().registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }
