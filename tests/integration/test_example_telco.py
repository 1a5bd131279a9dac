"""What is specific to the template's example table, IBM's Telco churn data (modeldata's
wa_churn): its size, its blanks, the quality the example model reaches. Everything else in the
suite holds for any table; this module skips itself once the project describes another one."""

from __future__ import annotations

import pytest
from tests.generated import read_text

from churn.contract import table

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _only_for_the_example(contract):
    if contract.source is None or contract.source.dataset != "modeldata/wa_churn":
        pytest.skip("the project describes another table than the Telco example")


def test_the_example_table_has_its_published_size(raw_csv, contract):
    typed = table.load(contract, raw_csv)
    assert len(typed) == 7043
    assert typed[contract.target.name].sum() == 1869  # customers who left


def test_total_charges_is_blank_exactly_for_new_customers_and_derived_as_zero(raw_csv, contract):
    """The contract's derived rule: blank only at tenure 0, so tenure x monthly charge is 0."""
    raw = read_text(raw_csv)
    blank = raw["total_charges"].str.strip() == ""
    assert blank.sum() == 11
    assert (raw.loc[blank, "tenure"] == "0").all()
    typed = table.load(contract, raw_csv)
    assert (typed.loc[blank.to_numpy(), "total_charges"] == 0).all()


def test_the_example_model_reaches_its_quality_bar(pipeline):
    """The pipeline's logistic regression on the example: 1,409 held-out customers, and a ROC AUC
    the gate's floors leave room above."""
    from churn import metrics
    from churn.artifacts import saved_model

    test = pipeline.test_split
    assert len(test) == 1409
    model = saved_model.load(pipeline.model_dir)
    features = pipeline.features
    scores = metrics.score_all(test["churn"].to_numpy(), model.predict_proba(features), 0.5)
    assert scores["roc_auc"] >= 0.83
    assert scores["f1"] >= 0.55
