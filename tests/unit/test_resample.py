"""The benchmarks' table generator follows the data contract: what it writes passes the contract's
own checks, ids are fresh and unique, numbers stay in their ranges with their column's precision,
blanks appear only where the source has them, and the same seed gives the same file."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import PROJECT_ROOT

from churn.contract import rules, table


@pytest.fixture(scope="module")
def resample():
    path = PROJECT_ROOT / "benchmarks" / "resample.py"
    spec = importlib.util.spec_from_file_location("resample", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def written(resample, contract, raw_csv, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("resample") / "rows.csv"
    return resample.write(contract, raw_csv, 3_000, out, seed=7)


def test_the_generated_table_passes_the_contract(contract, written):
    typed = table.load(contract, written)
    assert len(typed) == 3_000
    assert typed[contract.id.name].is_unique
    if contract.id.type == "integer":  # fresh ids, numbered from 1
        assert sorted(typed[contract.id.name]) == list(range(1, 3_001))
    assert set(typed[contract.target.name]) == {0, 1}


def test_numbers_move_but_stay_in_range_and_precision(contract, raw_csv, written):
    source, generated = table.read_text(raw_csv), table.read_text(written)
    for feature in (f for f in contract.features if f.kind == "number"):
        low, high = feature.bounds
        texts = [t for t in generated.column(feature.name).to_pylist() if t.strip()]
        values = np.array([float(t) for t in texts])
        assert ((values >= low) & (values <= high)).all()
        known = {t for t in source.column(feature.name).to_pylist() if t.strip()}
        # The precision the column is written with is kept ("3", "3.0" and "3.25" stay so).
        assert all("." not in t for t in texts) == all("." not in t for t in known)
        # Whole values (however written: a column with blanks may say "3.0") mostly land on
        # values the source has too; others must move.
        if not all(float(t).is_integer() for t in known):
            assert len(set(texts) - known) > len(texts) // 10, f"{feature.name} did not move"


def test_blanks_only_where_the_source_has_them(contract, raw_csv, written):
    source, generated = table.read_text(raw_csv), table.read_text(written)
    for name in generated.column_names:
        if any(rules.is_blank_text(t) for t in generated.column(name).to_pylist()):
            assert any(rules.is_blank_text(t) for t in source.column(name).to_pylist())


def test_the_same_seed_writes_the_same_file(resample, contract, raw_csv, written, tmp_path):
    again = resample.write(contract, raw_csv, 3_000, tmp_path / "again.csv", seed=7)
    other = resample.write(contract, raw_csv, 3_000, tmp_path / "other.csv", seed=8)
    assert again.read_bytes() == written.read_bytes()
    assert other.read_bytes() != written.read_bytes()
