"""Which gate policy judges a candidate: always the base revision's, never a silent fallback."""

from __future__ import annotations

import pytest
import yaml

from churn.report import policy

GATE = {
    "primary_metric": "roc_auc",
    "confidence": 0.95,
    "max_regression": 0.005,
    "min_improvement": 0.0,
    "floors": {"roc_auc": 0.8},
}
# The pull request's own, lenient policy: it must never apply while the base has one.
LENIENT = {**GATE, "max_regression": 0.5, "floors": {}}


def _bytes(document: object) -> bytes:
    return yaml.safe_dump(document).encode()


def _sources(**files: bytes | None) -> policy.PolicySources:
    defaults = {"base_gate": None, "base_params": None, "candidate_gate": _bytes(LENIENT)}
    return policy.PolicySources(
        base_rev="main", gate_file="gate.yaml", params_file="params.yaml", **defaults | files
    )


def test_the_base_gate_file_rules_over_the_candidates():
    resolved = policy.resolve(_sources(base_gate=_bytes(GATE)))
    assert resolved.gate.max_regression == 0.005
    assert not resolved.first_gate
    assert resolved.source == "`gate.yaml` at the base revision `main`"


def test_a_base_without_the_gate_file_is_read_from_its_params_gate_section():
    """The commit that introduces gate.yaml is judged by the policy it replaces."""
    resolved = policy.resolve(_sources(base_params=_bytes({"train": {}, "gate": GATE})))
    assert resolved.gate.max_regression == 0.005
    assert not resolved.first_gate
    assert "`params.yaml: gate`" in resolved.source


def test_the_candidates_policy_applies_only_when_the_base_has_none_and_it_says_so():
    resolved = policy.resolve(_sources(base_params=_bytes({"train": {}})))
    assert resolved.gate.max_regression == 0.5
    assert resolved.first_gate
    assert "first gate" in resolved.source
    assert policy.resolve(_sources()).first_gate  # no params file at the base either


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"base_gate": b"rule: [unclosed\n"}, "gate.yaml at main is not valid YAML"),
        ({"base_gate": _bytes({**GATE, "confidence": 2})}, "confidence"),
        ({"base_gate": _bytes({**GATE, "primary_metric": "auc"})}, "primary_metric"),
        ({"base_gate": _bytes({**GATE, "rule": "lenient"})}, "rule"),
        ({"base_gate": _bytes(["not", "a", "mapping"])}, "invalid"),
        ({"base_params": b"gate: {unclosed\n"}, "params.yaml at main is not valid YAML"),
        ({"base_params": b"- a list\n"}, "not a YAML mapping"),
        ({"base_params": _bytes({"gate": {**GATE, "max_regression": -1}})}, "gate.max_regression"),
        ({"base_params": _bytes({"gate": None})}, "invalid"),
        ({"base_params": _bytes({"train": {}}), "candidate_gate": None}, "write gate.yaml"),
    ],
)
def test_an_unreadable_or_invalid_base_policy_is_an_error_not_a_fallback(files, message):
    """A broken base policy never hands the decision to the candidate's own policy."""
    with pytest.raises(policy.PolicyError, match=message):
        policy.resolve(_sources(**files))
