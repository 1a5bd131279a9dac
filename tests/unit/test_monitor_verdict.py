"""Alerts fire on effect sizes (PSI, rates), never on p-values; the outputs hold what the
monitoring issue's opener expects."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.conftest import PROJECT_ROOT
from tests.monitor_material import CONTRACT

from churn.monitor import drift, render, verdict
from churn.monitor.findings import Findings, Outcomes
from churn.monitor.quality import Period, Realized
from churn.params import MonitorParams
from churn.release import monitor_issue

PARAMS = MonitorParams.model_validate(
    yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())["monitor"]
)
RNG = np.random.default_rng(11)
REFERENCE = pd.DataFrame(
    {
        "tenure": RNG.normal(30, 10, 200_000),
        "plan": RNG.choice(["basic", "plus", "pro"], 200_000, p=[0.5, 0.3, 0.2]),
    }
)


def _findings(window: pd.DataFrame, *, outside=None, outcomes=None, probability=None) -> Findings:
    reference_probability = RNG.beta(2, 5, 20_000)
    return Findings(
        window_kind="table",
        window_source="test",
        start=None,
        end=None,
        examined=len(window),
        scored=len(window),
        other_versions={},
        model_digest="a" * 64,
        threshold=0.5,
        reference_rows=len(REFERENCE),
        features=tuple(
            drift.feature_drift(CONTRACT.feature(name), REFERENCE[name], window[name])
            for name in ("tenure", "plan")
        ),
        outside=outside or {"tenure": 0.0, "plan": 0.0},
        probability=drift.probability_drift(
            reference_probability,
            reference_probability if probability is None else probability,
        ),
        outcomes=outcomes,
    )


def _window(rows: int, tenure_shift: float = 0.0, plans=(0.5, 0.3, 0.2)) -> pd.DataFrame:
    rng = np.random.default_rng(rows)
    return pd.DataFrame(
        {
            "tenure": rng.normal(30 + tenure_shift, 10, rows),
            "plan": rng.choice(["basic", "plus", "pro"], rows, p=list(plans)),
        }
    )


def test_a_tiny_shift_at_production_volume_is_significant_but_fires_nothing():
    findings = _findings(_window(200_000, tenure_shift=0.5, plans=(0.49, 0.31, 0.2)))
    tenure, plan = findings.features
    assert tenure.p_value < 1e-6
    assert plan.p_value < 1e-3
    assert tenure.psi < 0.01
    assert plan.psi < 0.01
    assert verdict.alerts(findings, PARAMS) == []
    assert "< 0.001" in render.markdown(findings, [], PARAMS)


def test_a_moved_feature_fires_one_alert_named_after_it():
    findings = _findings(_window(2_000, plans=(0.1, 0.2, 0.7)))
    alerts = verdict.alerts(findings, PARAMS)
    assert [(a.name, a.kind, a.subject) for a in alerts] == [("drift:plan", "drift", "plan")]
    (alert,) = alerts
    assert alert.value == findings.features[1].psi >= PARAMS.drift.feature
    assert alert.threshold == PARAMS.drift.feature
    assert findings.features[1].test == "chi-squared"
    assert findings.features[0].test == "KS"


def test_the_probability_blanks_and_values_outside_the_contract_fire_on_their_shares():
    window = _window(2_000)
    window.loc[window.index[:400], "tenure"] = np.nan  # 20% blank; none in training
    shifted = np.random.default_rng(1).beta(5, 2, 2_000)
    findings = _findings(window, outside={"tenure": 0.0, "plan": 0.02}, probability=shifted)
    names = {a.name: a for a in verdict.alerts(findings, PARAMS)}
    # Blanks are a bin of their own in the PSI too, so a column going blank also drifts.
    assert set(names) == {"probability_drift", "outside:plan", "missing:tenure", "drift:tenure"}
    assert names["missing:tenure"].value == pytest.approx(0.2)
    assert names["outside:plan"].value == 0.02
    below = _findings(window, outside={"tenure": 0.0, "plan": PARAMS.max_out_of_contract})
    assert "outside:plan" not in {a.name for a in verdict.alerts(below, PARAMS)}


def _outcomes(rows: int, roc_auc: float, periods: tuple[Period, ...] = ()) -> Outcomes:
    realized = Realized(rows, roc_auc, 0.6, 0.5, judged=rows >= PARAMS.labels.min_rows)
    return Outcomes("labels.csv", rows, rows, "", realized, periods)


def test_realized_quality_fires_below_its_floor_only_with_enough_outcomes():
    floor = PARAMS.labels.floors["roc_auc"]
    few = _findings(_window(2_000), outcomes=_outcomes(PARAMS.labels.min_rows - 1, floor - 0.1))
    assert verdict.alerts(few, PARAMS) == []
    many = _findings(_window(2_000), outcomes=_outcomes(PARAMS.labels.min_rows, floor - 0.1))
    (alert,) = verdict.alerts(many, PARAMS)
    assert (alert.name, alert.value, alert.threshold) == ("quality:roc_auc", floor - 0.1, floor)


def test_the_business_alert_shows_the_period_furthest_out_of_bounds():
    minimum = PARAMS.business.minimum
    periods = (
        Period("2025-05-05/2025-05-11", 40, minimum - 0.05, True, "below"),
        Period("2025-05-12/2025-05-18", 40, minimum - 0.2, True, "below"),
        Period("2025-05-19/2025-05-25", 5, 0.0, False, ""),
    )
    findings = _findings(_window(2_000), outcomes=_outcomes(500, 0.9, periods))
    (alert,) = verdict.alerts(findings, PARAMS)
    assert alert.name == f"business:{PARAMS.business.metric}"
    assert alert.value == pytest.approx(minimum - 0.2)
    assert "2025-05-12/2025-05-18" in alert.message
    assert "2 period(s)" in alert.message


def test_a_long_run_of_bad_days_keeps_the_business_alert_short_enough_for_the_issue():
    days = pd.date_range("2025-01-01", periods=365, freq="D").strftime("%Y-%m-%d")
    periods = tuple(Period(day, 40, 0.1, True, "below") for day in days)
    findings = _findings(_window(2_000), outcomes=_outcomes(20_000, 0.9, periods))
    (alert,) = verdict.alerts(findings, PARAMS)
    assert "365 period(s)" in alert.message
    assert "and 360 more" in alert.message
    document = json.dumps(render.document(findings, [alert]))
    assert monitor_issue.parse(document).names == [alert.name]


def test_the_json_is_what_the_issue_opener_accepts_and_holds_no_nan():
    window = _window(2_000, plans=(0.1, 0.2, 0.7))
    findings = _findings(window, outcomes=_outcomes(500, None))  # type: ignore[arg-type]
    alerts = verdict.alerts(findings, PARAMS)
    text = json.dumps(render.document(findings, alerts), allow_nan=False)
    parsed = monitor_issue.parse(text)
    assert parsed.status == "alert"
    assert parsed.names == ["drift:plan"]
    document = json.loads(text)
    assert document["features"][1]["name"] == "plan"
    assert document["outcomes"]["realized"]["roc_auc"] is None
    healthy = render.document(_findings(_window(2_000)), [])
    assert monitor_issue.parse(json.dumps(healthy)).status == "healthy"
    error = render.error_document("no model at models/model")
    assert monitor_issue.parse(json.dumps(error)).status == "error"


def test_the_markdown_lists_the_alerts_and_draws_the_charts():
    findings = _findings(_window(2_000, plans=(0.1, 0.2, 0.7)))
    text = render.markdown(findings, verdict.alerts(findings, PARAMS), PARAMS)
    assert text.startswith("## Model monitor: ALERT: 1 alert\n")
    assert "| `drift:plan` |" in text
    assert text.count("```mermaid") == 2  # PSI by feature, the probability histogram
    assert "No outcomes given" in text
