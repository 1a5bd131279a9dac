"""The report reads the test split a column or a batch at a time (bounded memory on millions of
rows), and must see exactly what reading it whole gives: the same ids, labels and scores."""

from __future__ import annotations

import numpy as np
import pytest
from tests.generated import sample, write

from churn import model
from churn.artifacts import prepared_split
from churn.contract import table
from churn.params import LogisticRegressionParams, TrainParams

ROWS = 300


@pytest.fixture(scope="module")
def split(contract, raw_csv, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("split")
    rows = table.load(contract, write(sample(raw_csv, ROWS), root / "raw.csv"))
    prepared = root / "prepared"
    prepared.mkdir()
    prepared_split.write(prepared, rows.iloc[:200], rows.iloc[200:], {"rows": ROWS})
    classifier = LogisticRegressionParams(
        kind="logistic_regression", C=0.5, max_iter=500, class_weight=None
    )
    fitted = model.build(contract, TrainParams(classifier=classifier, threshold=0.5)).fit(
        table.features(contract, rows.iloc[:200]), table.target(contract, rows.iloc[:200])
    )
    return prepared, fitted


def test_columns_and_length_are_the_whole_files(split, contract):
    prepared, _ = split
    whole = prepared_split.test_rows(prepared)
    streamed = prepared_split.TestSplit(prepared)
    assert len(streamed) == len(whole) == ROWS - 200
    assert streamed.columns == list(whole.columns)
    for name in (contract.id.name, contract.target.name):
        np.testing.assert_array_equal(streamed.column(name), whole[name].to_numpy())


@pytest.mark.parametrize("batch_rows", [7, 100, prepared_split.BATCH_ROWS])
def test_scores_in_batches_equal_the_scores_of_the_whole_table(split, batch_rows):
    prepared, fitted = split
    whole = prepared_split.test_rows(prepared)
    columns = list(fitted.feature_names_in_)
    expected = fitted.predict_proba(whole[columns])[:, 1]

    scored = prepared_split.TestSplit(prepared).map_batches(
        columns, lambda batch: fitted.predict_proba(batch)[:, 1], batch_rows=batch_rows
    )

    # Matrix products of other shapes round differently in the last bit, never more.
    np.testing.assert_allclose(scored, expected, rtol=0, atol=1e-12)
