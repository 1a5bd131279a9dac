"""The report says when the target or the data contract changed between base and candidate,
instead of comparing numbers that measure different things."""

from __future__ import annotations

import yaml

from churn.artifacts.saved_model import SavedModel
from churn.contract.spec import parse
from churn.report.collect import Side
from churn.report.compare import contract_changes, target_change

DOCUMENT = {
    "data": {"path": "data/t.csv"},
    "id": {"column": "key"},
    "target": {"column": "label", "positive": "yes", "negative": "no"},
    "features": {"a": {"kind": "number"}, "b": {"kind": "category", "categories": ["x", "y"]}},
}


def _contract(**changes):
    document = yaml.safe_load(yaml.safe_dump(DOCUMENT))
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = document
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return parse(yaml.safe_dump(document, sort_keys=False))


def _side(contract=None, metadata=None) -> Side:
    return Side(model=SavedModel(pipeline=None, metadata=metadata or {}), contract=contract)


def test_a_changed_target_or_positive_label_is_named():
    base = _side(_contract())
    assert target_change(base, _side(_contract())) == ""
    relabelled = _side(_contract(target__positive="no", target__negative="yes"))
    assert "`label` = 'yes'" in target_change(base, relabelled)
    assert "`label` = 'no'" in target_change(base, relabelled)
    other = _side(_contract(target__column="churned"))
    assert "the candidate `churned`" in target_change(base, other)


def test_an_older_base_is_judged_by_its_recorded_target_or_assumed_unchanged():
    candidate = _side(_contract())
    recorded = _side(metadata={"target": "status", "positive_label": "bad"})
    assert "`status` = 'bad'" in target_change(recorded, candidate)
    assert target_change(_side(), candidate) == ""


def test_contract_changes_name_the_features():
    before = _contract()
    assert contract_changes(before, _contract()) == ""
    after = _contract(features__c={"kind": "binary"}, features__a=None)
    assert contract_changes(before, after) == "features added: c; features removed: a"
    widened = _contract(features__b={"kind": "category", "categories": ["x", "y", "z"]})
    assert contract_changes(before, widened) == "features redefined: b"
    assert contract_changes(None, after) == ""
