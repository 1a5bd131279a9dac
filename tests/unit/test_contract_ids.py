"""The one id parser: exact keys, no coercion, the same in files, bodies and paths."""

from __future__ import annotations

import pytest

from churn.contract import ids


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("7", 7),
        ("1234567890123456789", 1234567890123456789),
        (str(2**63 - 1), 2**63 - 1),
    ],
)
def test_plain_integer_ids_are_read_exactly(text, expected):
    assert ids.from_text(text, "integer") == expected


@pytest.mark.parametrize(
    "text",
    [
        " 1 ",
        "%201%20",
        "+5",
        "-5",
        "1_0",
        "1e3",
        "1.0",
        "007",
        "",
        "0x10",
        str(2**63),
        "99999999999999999999",
        "١٢",  # digits of another script: int() would take them
    ],
)
def test_anything_else_is_not_an_integer_id(text):
    assert ids.from_text(text, "integer") is None


@pytest.mark.parametrize("value", [5.0, "5", True, -1, 2**63, None, [5]])
def test_json_integer_ids_must_be_json_integers(value):
    assert ids.from_json(value, "integer") is None
    assert ids.from_json(5, "integer") == 5


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("7590-VHVEG", True),
        ("a b", True),
        (" x", False),
        ("x ", False),
        ("", False),
        ("tab\there", False),
        ("é", True),
        ("x" * 128, True),
        ("x" * 129, False),
    ],
)
def test_string_ids(text, ok):
    assert (ids.from_text(text, "string") == text) is ok
    assert (ids.from_json(text, "string") == text) is ok


def test_string_ids_are_not_numbers():
    assert ids.from_json(5, "string") is None
