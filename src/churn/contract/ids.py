"""The one id parser: the same rules for a raw file, a file to score, a request body and the
`/scores/{id}` path, so a key is stored and looked up exactly as it was written.

Integer ids are written plainly: digits only, no sign, no leading zero (except 0 itself), no
whitespace, no `_`, no exponent, at most 2^63 - 1 (SQLite's largest integer key); they are never
converted through a float. String ids are any text of 1 to 128 printable characters without
surrounding whitespace. Standard library only.
"""

from __future__ import annotations

import re
from typing import Any

MAX_INTEGER_ID = 2**63 - 1
MAX_STRING_ID_LENGTH = 128
_PLAIN_INTEGER = re.compile(r"0|[1-9][0-9]{0,18}")


def integer_from_text(text: str) -> int | None:
    """The integer id `text` spells, or None when it is not one (as the rules above say)."""
    if not _PLAIN_INTEGER.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_INTEGER_ID else None


def string_from_text(text: str) -> str | None:
    """`text` itself when it is a valid string id, else None."""
    if not 0 < len(text) <= MAX_STRING_ID_LENGTH or text != text.strip():
        return None
    return text if text.isprintable() else None


def from_text(text: str, id_type: str) -> int | str | None:
    """An id from text (a CSV cell, a URL path segment), typed as the contract says."""
    return integer_from_text(text) if id_type == "integer" else string_from_text(text)


def from_json(value: Any, id_type: str) -> int | str | None:
    """An id from a parsed JSON value: an integer id must be a JSON integer, a string id a
    JSON string (so `"5"`, `5.0` and `true` are not the integer id 5)."""
    if id_type == "integer":
        if type(value) is int and 0 <= value <= MAX_INTEGER_ID:
            return value
        return None
    return string_from_text(value) if isinstance(value, str) else None


def rule(id_type: str) -> str:
    """The rule in words, for error messages."""
    if id_type == "integer":
        return f"an integer id: digits only, no sign or leading zero, at most {MAX_INTEGER_ID}"
    return (
        f"a string id: 1 to {MAX_STRING_ID_LENGTH} printable characters, no surrounding whitespace"
    )
