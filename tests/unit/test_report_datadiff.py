"""The data diff: shape, schema, target rate, and a population stability index per feature,
from tables read once in chunks into profiles of bounded size."""

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


def _profile(frame: pd.DataFrame, chunk_rows: int = 300) -> datadiff.TableProfile:
    """The frame as the report reads a CSV: all text, in chunks."""
    text = frame.astype(str).fillna("")
    return datadiff.profile(text.iloc[i : i + chunk_rows] for i in range(0, len(text), chunk_rows))


def _psi(base: pd.Series, candidate: pd.Series) -> float:
    column = base.name
    return datadiff.psi(
        _profile(base.to_frame()).columns[column], _profile(candidate.to_frame()).columns[column]
    )


def _reference_psi(base: pd.Series, candidate: pd.Series) -> float:
    """PSI as the report computed it from whole tables before it streamed them."""
    inner = np.unique(np.nanquantile(base.to_numpy(float), np.linspace(0, 1, 11)))
    edges = np.r_[-np.inf, inner[1:-1], np.inf]

    def shares(values: pd.Series) -> np.ndarray:
        binned = pd.cut(values, edges, labels=False, include_lowest=True)
        counts = np.bincount(binned.dropna().astype(int), minlength=len(edges) - 1)
        counts = np.append(counts, values.isna().sum())
        return np.maximum(counts / counts.sum(), 1e-4)

    b, c = shares(base), shares(candidate)
    return float(np.sum((c - b) * np.log(c / b)))


def test_psi_is_zero_for_the_same_sample_and_large_for_a_shifted_one():
    base = _frame(2000, 1)
    assert _psi(base["tenure"], base["tenure"]) == pytest.approx(0.0)
    moved = _frame(2000, 2, shift=15)
    assert _psi(base["tenure"], moved["tenure"]) > 0.25
    assert _psi(base["tenure"], _frame(2000, 3)["tenure"]) < 0.1


def test_streamed_psi_equals_the_whole_table_psi_when_the_sample_holds_every_row():
    """Below SAMPLE_SIZE rows the profile keeps every number: PSI is exact, chunked or not."""
    base, moved = _frame(3000, 4)["tenure"], _frame(2500, 5, shift=5)["tenure"]
    moved[::50] = np.nan  # blanks count as their own bin
    assert _psi(base, moved) == pytest.approx(_reference_psi(base, moved), rel=1e-9)


def test_psi_of_categories_counts_a_new_category():
    base = pd.Series(["a"] * 500 + ["b"] * 500, name="x")
    candidate = pd.Series(["a"] * 500 + ["c"] * 500, name="x")
    assert _psi(base, candidate) > 1


def test_a_blank_categorical_cell_is_its_own_category_not_a_crash():
    """A blank cell among words once crashed the report (NaN next to str in a sort)."""
    base = pd.Series(["a", "b"] * 500, name="x")
    candidate = pd.Series(["a", "b", "", "a"] * 250, name="x")
    assert _psi(base, candidate) > 0.1
    assert _psi(candidate, candidate) == pytest.approx(0.0)


def test_diff_reports_rows_columns_types_and_target_rate():
    base = _frame(1000, 4)
    candidate = _frame(800, 5, shift=15).drop(columns=["contract"]).assign(region="north")
    candidate["customer_id"] = "c" + candidate["customer_id"].astype(str)
    diff = datadiff.diff(_profile(base), _profile(candidate), identical=False, contract=CONTRACT)
    assert (diff.status, diff.base_rows, diff.candidate_rows) == ("changed", 1000, 800)
    assert diff.added_columns == ("region",)
    assert diff.removed_columns == ("contract",)
    assert ("customer_id", "int64", "str") in diff.type_changes
    assert diff.base_target_rate == pytest.approx((base["churn"] == "Yes").mean())
    assert [s.column for s in diff.shifts] == ["tenure"]


def test_a_column_with_too_many_distinct_words_is_left_out_of_the_shifts():
    base = pd.DataFrame({"note": [f"n{i}" for i in range(3000)]})
    diff = datadiff.diff(
        _profile(base), _profile(base.iloc[::-1]), identical=False, contract=CONTRACT
    )
    assert diff.shifts == ()


def test_numbers_beyond_the_sample_size_are_sampled_uniformly(monkeypatch):
    """A large column keeps SAMPLE_SIZE numbers, drawn from every chunk, not the first ones."""
    monkeypatch.setattr(datadiff, "SAMPLE_SIZE", 500)
    frame = pd.DataFrame({"x": np.arange(10_000, dtype=float)})
    column = _profile(frame, chunk_rows=1000).columns["x"]
    assert len(column.sample) == 500
    assert column.sample.min() < 2000
    assert column.sample.max() > 8000


def test_identical_data_skips_the_distribution_work():
    frame = _profile(_frame(100, 6))
    diff = datadiff.diff(frame, frame, identical=True, contract=CONTRACT)
    assert diff.status == "identical"
    assert diff.shifts == ()


def test_read_profile_streams_a_csv(tmp_path):
    path = tmp_path / "raw.csv"
    _frame(1234, 7).to_csv(path, index=False)
    table = datadiff.read_profile(path, chunk_rows=100)
    assert table.rows == 1234
    assert table.columns["tenure"].dtype == "float64"
    assert table.columns["customer_id"].dtype == "int64"
