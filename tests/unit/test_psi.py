"""The population stability index, the one implementation the report and the monitor share."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from churn import psi


def test_edges_are_the_bases_quantiles_open_at_both_ends():
    edges = psi.quantile_edges(np.arange(1, 101, dtype=float))
    assert edges[0] == -np.inf
    assert edges[-1] == np.inf
    assert len(edges) == psi.BINS + 1
    np.testing.assert_allclose(
        edges[1:-1], np.quantile(np.arange(1, 101), np.linspace(0.1, 0.9, 9))
    )


def test_each_quantile_bin_holds_a_tenth_of_the_base_and_blanks_their_own_bin():
    base = pd.Series(np.r_[np.arange(1000, dtype=float), [np.nan] * 250])
    shares = psi.binned_shares(base, psi.quantile_edges(base.to_numpy()))
    np.testing.assert_allclose(shares, [0.08] * 10 + [0.2])
    assert shares.sum() == pytest.approx(1.0)


def test_index_is_the_textbook_formula_with_floored_shares():
    base, moved = np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.5, 0.25])
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.25 - psi.FLOOR) * math.log(0.25 / psi.FLOOR)
    assert psi.index(base, moved) == pytest.approx(expected)
    assert psi.index(base, base) == 0.0


def test_psi_of_a_sample_against_itself_is_zero_and_grows_with_the_shift():
    rng = np.random.default_rng(0)
    base = pd.Series(rng.normal(0, 1, 5000))
    values = [psi.psi(base, pd.Series(rng.normal(shift, 1, 5000))) for shift in (0, 0.25, 1)]
    assert psi.psi(base, base) == pytest.approx(0.0)
    assert values == sorted(values)
    assert values[0] < 0.02
    assert values[2] > 0.1


def test_numbers_with_few_values_and_text_are_compared_value_by_value():
    binary = pd.Series([0.0, 1.0] * 50)
    assert not psi.is_binned(binary, binary)
    assert psi.is_binned(pd.Series(np.arange(50.0)), pd.Series(np.arange(50.0)))
    flipped = pd.Series([0.0] * 80 + [1.0] * 20)
    by_hand = psi.index(np.array([0.5, 0.5]), np.array([0.8, 0.2]))
    assert psi.psi(binary, flipped) == pytest.approx(by_hand)
    new_category = psi.psi(pd.Series(["a", "b"] * 50), pd.Series(["a", "c"] * 50))
    assert new_category > 1


def test_few_valued_numbers_with_blanks_are_compared_without_a_crash():
    """A 1-10 score with blanks (MASS biopsy's V6) goes category by category: NaN next to text
    made `sorted` raise TypeError, and `churn monitor` died with a traceback."""
    base = pd.Series([1.0, 2.0, np.nan, 10.0, 1.0, 3.0] * 20)
    assert psi.psi(base, base.copy()) == 0.0
    # The same scores read as integers elsewhere (a log without blanks) are the same values.
    window = pd.Series([1, 2, 10, 1, 3] * 20)
    assert psi.psi(base.dropna(), window) == 0.0
    assert psi.psi(base, window) > 0  # only the blanks' share differs
