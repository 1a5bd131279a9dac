"""The data diff: shape, schema, target rate, and a population stability index per feature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn.contract.spec import parse
from churn.report import datadiff

CONTRACT = parse(
    """
data: {path: data/t.csv}
id: {column: customer_id}
target: {column: churn, positive: "Yes", negative: "No"}
features:
  tenure: {kind: number}
  contract: {kind: category, categories: [a, b, c]}
"""
)


def _frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": np.arange(rows),
            "churn": np.where(rng.random(rows) < 0.25, "Yes", "No"),
            "tenure": rng.normal(30 + shift, 10, rows),
            "contract": rng.choice(["Month-to-month", "One year"], rows),
        }
    )


def test_psi_is_zero_for_the_same_sample_and_large_for_a_shifted_one():
    base = _frame(2000, 1)
    assert datadiff.psi(base["tenure"], base["tenure"]) == pytest.approx(0.0)
    moved = _frame(2000, 2, shift=15)
    assert datadiff.psi(base["tenure"], moved["tenure"]) > 0.25
    assert datadiff.psi(base["tenure"], _frame(2000, 3)["tenure"]) < 0.1


def test_psi_of_categories_counts_a_new_category():
    base = pd.Series(["a"] * 500 + ["b"] * 500)
    candidate = pd.Series(["a"] * 500 + ["c"] * 500)
    assert datadiff.psi(base, candidate) > 1


def test_diff_reports_rows_columns_types_and_target_rate():
    base = _frame(1000, 4)
    candidate = _frame(800, 5, shift=15).drop(columns=["contract"]).assign(region="north")
    candidate["customer_id"] = candidate["customer_id"].astype(str)
    diff = datadiff.diff(base, candidate, identical=False, contract=CONTRACT)
    assert (diff.status, diff.base_rows, diff.candidate_rows) == ("changed", 1000, 800)
    assert diff.added_columns == ("region",)
    assert diff.removed_columns == ("contract",)
    assert ("customer_id", "int64", str(candidate["customer_id"].dtype)) in diff.type_changes
    assert diff.base_target_rate == pytest.approx((base["churn"] == "Yes").mean())
    assert [s.column for s in diff.shifts] == ["tenure"]


def test_identical_data_skips_the_distribution_work():
    frame = _frame(100, 6)
    diff = datadiff.diff(frame, frame, identical=True, contract=CONTRACT)
    assert diff.status == "identical"
    assert diff.shifts == ()
