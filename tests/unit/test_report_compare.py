"""Params diff: only the keys that changed, old → new, at any depth."""

from __future__ import annotations

from churn.report.compare import params_diff
from churn.report.contents import ParamChange


def test_params_diff_lists_only_changed_keys_with_old_and_new():
    old = {"train": {"classifier": {"kind": "lr", "C": 0.5}}, "gate": {"confidence": 0.95}}
    new = {"train": {"classifier": {"kind": "lr", "C": 1.0}}, "gate": {"confidence": 0.95}}
    assert params_diff(old, new) == (ParamChange("train.classifier.C", 0.5, 1.0),)


def test_params_diff_shows_added_and_removed_keys():
    old = {"train": {"a": 1, "gone": None}}
    new = {"train": {"a": 1, "new": 2}}
    assert params_diff(old, new) == (
        ParamChange("train.gone", None, None),
        ParamChange("train.new", None, 2),
    )


def test_params_diff_without_base_params_lists_everything():
    assert [c.key for c in params_diff(None, {"x": {"y": 1}})] == ["x.y"]
