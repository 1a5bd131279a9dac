"""Params diff: only the keys that changed, old → new, at any depth."""

from __future__ import annotations

import numpy as np

from churn.report import compare
from churn.report.compare import fresh_rows, params_diff, threshold
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


def test_fresh_rows_are_the_test_rows_the_base_model_never_saw():
    test_ids = np.array([5, 6, 7, 8])
    assert fresh_rows(test_ids, np.array([1, 6, 8, 9])).tolist() == [True, False, True, False]
    assert fresh_rows(test_ids, np.array([], dtype=int)).all()


def test_each_model_is_labelled_at_its_own_threshold():
    """The model's saved threshold first, then its revision's params, then the fallback."""
    assert threshold(0.3, {"evaluate": {"threshold": 0.6}}, 0.5) == 0.3
    assert threshold(None, {"train": {"threshold": 0.4}}, 0.5) == 0.4
    assert threshold(None, {"evaluate": {"threshold": 0.6}}, 0.5) == 0.6
    assert threshold(None, {"evaluate": {"threshold": "x"}}, 0.5) == 0.5
    assert threshold(None, None, 0.5) == 0.5


def test_an_unchanged_split_is_paired_however_few_its_test_rows():
    """A 699-row table holds out 140 rows: the same rows for both models, so paired (it was
    called 'unpaired, may be biased' when fewer than MIN_FRESH_ROWS test rows existed at all)."""
    assert not compare.too_few_fresh_rows(excluded=0, fresh=140)
    assert compare.too_few_fresh_rows(excluded=10, fresh=compare.MIN_FRESH_ROWS - 1)
    assert not compare.too_few_fresh_rows(excluded=10, fresh=compare.MIN_FRESH_ROWS)
