from pathlib import Path

import pytest
import yaml

from churn import params
from churn.params import HistGradientBoostingParams, LogisticRegressionParams

PARAMS_FILE = Path(__file__).resolve().parents[2] / "params.yaml"


def _raw() -> dict:
    return yaml.safe_load(PARAMS_FILE.read_text())


def test_load_reads_the_project_params_file():
    """It loads params.yaml into typed, frozen sections."""
    loaded = params.load(PARAMS_FILE)
    assert 0 < loaded.prepare.test_size < 1
    assert isinstance(
        loaded.train.classifier, LogisticRegressionParams | HistGradientBoostingParams
    )
    with pytest.raises(ValueError, match="frozen"):
        loaded.prepare.test_size = 0.5  # type: ignore[misc]


def test_parse_rejects_unknown_key():
    """A typo fails loudly, naming the key."""
    raw = _raw()
    raw["train"]["classifier"]["max_iterations"] = 10
    with pytest.raises(params.ParamsError, match="max_iterations"):
        params.parse(raw)


def test_parse_rejects_missing_key():
    """A missing knob is an error, not a silent default."""
    raw = _raw()
    del raw["prepare"]["random_state"]
    with pytest.raises(params.ParamsError, match=r"prepare\.random_state"):
        params.parse(raw)


def test_parse_rejects_out_of_range_value():
    raw = _raw()
    raw["prepare"]["test_size"] = 1.5
    with pytest.raises(params.ParamsError, match="test_size"):
        params.parse(raw)


def test_parse_selects_classifier_by_kind():
    """The `kind` key picks the estimator's parameter model."""
    raw = _raw()
    raw["train"]["classifier"] = {
        "kind": "hist_gradient_boosting",
        "learning_rate": 0.1,
        "max_iter": 10,
        "max_depth": 3,
        "min_samples_leaf": 20,
        "l2_regularization": 0.0,
        "random_state": 0,
    }
    parsed = params.parse(raw)
    assert isinstance(parsed.train.classifier, HistGradientBoostingParams)


def test_parse_rejects_unknown_classifier_kind():
    raw = _raw()
    raw["train"]["classifier"]["kind"] = "random_forest"
    with pytest.raises(params.ParamsError, match="classifier"):
        params.parse(raw)


def test_load_reports_missing_and_malformed_files(tmp_path):
    with pytest.raises(params.ParamsError, match="not found"):
        params.load(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("prepare: [unclosed\n")
    with pytest.raises(params.ParamsError, match="not valid YAML"):
        params.load(bad)


def test_the_gate_policy_lives_in_its_own_file():
    """gate.yaml loads as the gate policy; a `gate:` left in params.yaml is refused, saying
    where it belongs (two homes for the policy would let one silently win)."""
    gate = params.load_gate(PARAMS_FILE.parent / "gate.yaml")
    assert gate.rule in ("not_worse", "non_inferior")
    assert "gate" not in _raw()
    with pytest.raises(params.ParamsError, match=r"move the `gate:` section.*gate\.yaml"):
        params.parse({**_raw(), "gate": gate.model_dump()})


def test_the_business_metrics_bounds_must_be_in_order():
    raw = _raw()
    raw["monitor"]["business"].update(minimum=0.6, maximum=0.4)
    with pytest.raises(params.ParamsError, match=r"monitor\.business.*minimum is above maximum"):
        params.parse(raw)
    raw["monitor"]["business"].update(minimum=None, maximum=0.4)
    assert params.parse(raw).monitor.business.maximum == 0.4
