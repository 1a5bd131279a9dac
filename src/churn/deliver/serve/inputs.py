"""Turn a request body into validated model input, or a 4xx error that names the column.

The columns and their types come from the model's signature; categories and ranges from the
data contract. Every format ends in the same column-wise check, which runs at C speed when
the input is clean and walks the values only to describe what is wrong.

Missing values are refused in every column. The raw data leaves `total_charges` blank for new
customers, but the model's input is the *cleaned* data (`churn.data.clean` fills the blank with
tenure x monthly charges), so a caller sends the filled value, as the signature requires.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from churn.contract import schema

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_NUMERIC_TYPES = {"long": True, "integer": True, "double": False, "float": False}
_SHOWN_PROBLEMS = 10
_SHOWN_PER_COLUMN = 3
# Columns at least this long are checked with NumPy, shorter ones value by value.
_VECTORIZE_FROM = 64


class RequestError(Exception):
    """A request the service refuses; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = list(problems)

    def body(self) -> dict[str, Any]:
        codes = {
            400: "BAD_REQUEST",
            404: "RESOURCE_DOES_NOT_EXIST",
            413: "PAYLOAD_TOO_LARGE",
            415: "UNSUPPORTED_MEDIA_TYPE",
        }
        body: dict[str, Any] = {
            "error_code": codes.get(self.status, "INVALID_PARAMETER_VALUE"),
            "message": self.message,
        }
        if self.problems:
            body["problems"] = self.problems
        return body


def _invalid(problems: list[str]) -> RequestError:
    shown = problems[:_SHOWN_PROBLEMS]
    more = f" (first {len(shown)} shown)" if len(problems) > len(shown) else ""
    return RequestError(422, f"{len(problems)} problem(s) in the input{more}: {shown[0]}", shown)


@dataclass(frozen=True)
class Field:
    """One model input column and what its values may be."""

    name: str
    integer: bool = False
    numeric: bool = True
    categories: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    binary: bool = False

    @property
    def bounds(self) -> tuple[float, float]:
        """The closed interval values must lie in; always finite, so infinities fall outside."""
        if self.binary:
            return 0.0, 1.0
        low = self.minimum if self.minimum is not None else -sys.float_info.max
        high = self.maximum if self.maximum is not None else sys.float_info.max
        return low, high

    def json_schema(self) -> dict[str, Any]:
        if not self.numeric:
            spec: dict[str, Any] = {"type": "string"}
            if self.categories:
                spec["enum"] = list(self.categories)
            return spec
        if self.binary:
            return {"type": "integer", "enum": [0, 1]}
        spec = {"type": "integer" if self.integer else "number"}
        if self.minimum is not None:
            spec["minimum"] = self.minimum
        if self.maximum is not None:
            spec["maximum"] = self.maximum
        return spec


@dataclass(frozen=True)
class Batch:
    """Validated rows, column by column, as the request gave them (lists of Python values).

    Kept as lists so that merging many one-row requests is cheap; the predictor turns the
    merged columns into arrays once per model call.
    """

    columns: dict[str, Sequence[Any]]
    rows: int
    # The customer ids `/predict` echoes back, when the caller sent them.
    ids: list[int | None] | None = None


def _describe(value: Any) -> str:
    text = orjson.dumps(value, default=repr).decode() if value is not None else "null"
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class InputSpec:
    fields: tuple[Field, ...]
    max_rows: int
    names: tuple[str, ...] = field(init=False)
    _name_set: frozenset[str] = field(init=False, repr=False)
    _categories: dict[str, frozenset[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(f.name for f in self.fields))
        object.__setattr__(self, "_name_set", frozenset(self.names))
        object.__setattr__(
            self, "_categories", {f.name: frozenset(f.categories) for f in self.fields}
        )

    def dtypes(self) -> dict[str, Any]:
        """The NumPy type of each column, as the signature declares it."""
        return {
            f.name: (np.int64 if f.integer else np.float64) if f.numeric else object
            for f in self.fields
        }

    @classmethod
    def from_signature(cls, inputs: list[dict[str, Any]], max_rows: int) -> InputSpec:
        """Columns and types from the MLflow signature, categories and ranges from the schema."""
        known = {c.name: c for c in schema.COLUMNS}
        fields = []
        for item in inputs:
            name, kind = item["name"], item["type"]
            if kind != "string" and kind not in _NUMERIC_TYPES:
                raise ValueError(f"signature column '{name}' has unsupported type '{kind}'")
            col = known.get(name)
            fields.append(
                Field(
                    name=name,
                    integer=_NUMERIC_TYPES.get(kind, False)
                    or (col is not None and col.kind == "binary"),
                    numeric=kind != "string",
                    categories=col.categories if col is not None and kind == "string" else (),
                    minimum=col.minimum if col is not None else None,
                    maximum=col.maximum if col is not None else None,
                    binary=col is not None and col.kind == "binary" and kind != "string",
                )
            )
        return cls(tuple(fields), max_rows)

    # --- the formats -------------------------------------------------------------------------

    def parse_invocation(self, body: bytes, content_type: str) -> Batch:
        """An MLflow/SageMaker scoring request: JSON in one of `FORMATS`, or CSV with a header."""
        media = content_type.split(";", 1)[0].strip().lower()
        if media == "text/csv":
            return self._csv(body)
        if media != "application/json":
            raise RequestError(
                415,
                f"unsupported content type '{content_type or '(none)'}': "
                "send application/json or text/csv",
            )
        document = _load_json(body)
        if not isinstance(document, dict):
            raise RequestError(400, f"the JSON body must be an object with one of: {_formats()}")
        present = [key for key in FORMATS if key in document]
        unexpected = sorted(set(document) - set(FORMATS) - {"params"})
        if unexpected:
            raise RequestError(400, f"unexpected key(s) {', '.join(unexpected)}; use {_formats()}")
        if len(present) != 1:
            raise RequestError(400, f"the JSON body needs exactly one of: {_formats()}")
        if document.get("params"):
            raise RequestError(400, "this model takes no params")
        key = present[0]
        payload = document[key]
        if key == "dataframe_split":
            return self._split(payload)
        if key == "dataframe_records" or isinstance(payload, list):
            return self._records(payload, key)
        if isinstance(payload, dict):
            return self._columnar(payload, key)
        raise RequestError(
            400, f"'{key}' must be a list of row objects or an object of column lists"
        )

    def parse_predict(self, body: bytes) -> Batch:
        """`/predict`: {"records": [{column: value, ...}, ...]}, each may carry its customer id."""
        document = _load_json(body)
        if not isinstance(document, dict) or set(document) != {"records"}:
            raise RequestError(400, 'the JSON body must be {"records": [{...}, ...]}')
        return self._records(document["records"], "records", id_column=schema.ID)

    def _split(self, payload: Any) -> Batch:
        if not isinstance(payload, dict) or not isinstance(payload.get("columns"), list):
            raise RequestError(400, "'dataframe_split' must be an object with 'columns' and 'data'")
        unexpected = sorted(set(payload) - {"columns", "data", "index"})
        if unexpected:
            raise RequestError(400, f"unexpected key(s) in 'dataframe_split': {unexpected}")
        columns, rows = payload["columns"], payload.get("data")
        if not set(map(type, columns)) <= {str} or len(set(columns)) != len(columns):
            raise RequestError(400, "'dataframe_split.columns' must be distinct column names")
        if not isinstance(rows, list):
            raise RequestError(400, "'dataframe_split.data' must be a list of rows")
        self._check_rows(len(rows))
        width = len(columns)
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != width:
                raise RequestError(
                    400, f"'dataframe_split.data' row {i + 1} must be a list of {width} values"
                )
        self._check_names(columns)
        by_name = dict(zip(columns, zip(*rows, strict=True), strict=True)) if rows else {}
        return self._validated({name: by_name.get(name, ()) for name in self.names}, len(rows))

    def _records(self, records: Any, key: str, id_column: str | None = None) -> Batch:
        if not isinstance(records, list):
            raise RequestError(400, f"'{key}' must be a list of row objects")
        self._check_rows(len(records))
        expected = set(self.names)
        with_id = expected | {id_column} if id_column else expected
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                raise RequestError(400, f"'{key}' row {i + 1} must be an object")
            keys = record.keys()
            if keys not in (expected, with_id):
                self._check_names(list(keys), where=f"'{key}' row {i + 1}", optional=id_column)
        columns = {name: [r[name] for r in records] for name in self.names}
        ids = None
        if id_column and any(id_column in r for r in records):
            ids = [r.get(id_column) for r in records]
            bad = [i for i, v in enumerate(ids) if v is not None and type(v) is not int]
            if bad:
                raise _invalid(
                    [f"column '{id_column}', row {i + 1}: expected an integer id" for i in bad]
                )
        return self._validated(columns, len(records), ids)

    def _columnar(self, payload: dict[str, Any], key: str) -> Batch:
        lengths = {len(v) if isinstance(v, list) else -1 for v in payload.values()}
        if -1 in lengths or len(lengths) > 1:
            raise RequestError(400, f"every column in '{key}' must be a list of the same length")
        rows = lengths.pop() if lengths else 0
        self._check_rows(rows)
        self._check_names(list(payload), where=f"'{key}'")
        return self._validated({name: payload[name] for name in self.names}, rows)

    def _csv(self, body: bytes) -> Batch:
        try:
            text = body.decode("utf-8-sig")
            table = list(csv.reader(io.StringIO(text, newline="")))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise RequestError(400, f"unreadable CSV: {exc}") from None
        if not table:
            raise RequestError(400, "the CSV body is empty: it needs a header row")
        header, rows = table[0], [row for row in table[1:] if row]
        if len(set(header)) != len(header):
            raise RequestError(400, "the CSV header repeats a column name")
        self._check_rows(len(rows))
        self._check_names(header, where="the CSV header")
        for i, row in enumerate(rows):
            if len(row) != len(header):
                raise RequestError(
                    400, f"CSV row {i + 1} has {len(row)} values, the header {len(header)}"
                )
        by_name = dict(zip(header, zip(*rows, strict=True), strict=True)) if rows else {}
        if not rows:
            return Batch({name: [] for name in self.names}, 0)
        columns = {
            f.name: _numbers_from_text(by_name[f.name]) if f.numeric else by_name[f.name]
            for f in self.fields
        }
        return self._validated(columns, len(rows))

    # --- the checks --------------------------------------------------------------------------

    def _check_rows(self, rows: int) -> None:
        if rows > self.max_rows:
            raise RequestError(
                413, f"{rows} rows is more than this service scores per request ({self.max_rows})"
            )

    def _check_names(
        self, names: list[str], where: str = "the input", optional: str | None = None
    ) -> None:
        if len(names) == len(self.names) and set(names) == self._name_set:
            return
        given = set(names)
        missing = [n for n in self.names if n not in given]
        extra = [n for n in names if n not in self._name_set and n != optional]
        problems = []
        if missing:
            problems.append(f"{where}: missing column(s): {', '.join(missing)}")
        if extra:
            problems.append(
                f"{where}: unexpected column(s): {', '.join(map(str, extra))}; "
                f"the model takes: {', '.join(self.names)}"
            )
        if problems:
            raise RequestError(422, "; ".join(problems), problems)

    def _validated(
        self, columns: dict[str, Sequence[Any]], rows: int, ids: list[int | None] | None = None
    ) -> Batch:
        problems: list[str] = []
        for f in self.fields:
            values = columns[f.name]
            if not (_numbers_ok(f, values) if f.numeric else self._strings_ok(f, values)):
                problems.extend(_explain(f, values, self._categories[f.name]))
        if problems:
            raise _invalid(problems)
        return Batch(columns, rows, ids)

    def _strings_ok(self, f: Field, values: Sequence[Any]) -> bool:
        allowed = self._categories[f.name]
        if not allowed:
            return set(map(type, values)) <= {str}
        try:
            # The categories are strings, so this also refuses numbers, null and booleans.
            return allowed.issuperset(values)
        except TypeError:  # an unhashable value: a list or an object
            return False


def _load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"invalid JSON: {exc}") from None


def _formats() -> str:
    return ", ".join(FORMATS)


def _numbers_ok(f: Field, values: Sequence[Any]) -> bool:
    """Is every value a finite number the column allows? (No value is copied or converted.)"""
    low, high = f.bounds
    if len(values) < _VECTORIZE_FROM:
        # A few values: plain comparisons beat NumPy's per-call overhead by 10x. NaN fails
        # every comparison and the bounds are finite, so NaN and infinities are refused too.
        for value in values:
            kind = type(value)  # not isinstance: JSON true/false must not pass as 1/0
            if kind is float:
                if not low <= value <= high or (f.integer and not value.is_integer()):
                    return False
            elif kind is not int or not low <= value <= high:
                return False
        return True
    if not set(map(type, values)) <= {int, float}:
        return False
    try:
        array = np.array(values, dtype=np.float64)
    except OverflowError:
        return False
    inside = (array >= low) & (array <= high)
    if f.integer:
        inside &= np.mod(array, 1) == 0
    return bool(inside.all())


def _value_problem(f: Field, value: Any, categories: frozenset[str]) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing value (null or NaN); the model needs every column filled"
    if not f.numeric:
        if type(value) is not str:
            return f"expected a string, got {_describe(value)}"
        if categories and value not in categories:
            return f"unknown category {_describe(value)}; allowed: {', '.join(f.categories)}"
        return None
    if isinstance(value, str) and not value.strip():
        return "missing value (empty); the model needs every column filled"
    if type(value) not in (int, float):
        return f"expected a number, got {_describe(value)}"
    if not math.isfinite(value):
        return f"expected a finite number, got {_describe(value)}"
    if f.binary and value not in (0, 1):
        return f"must be 0 or 1, got {_describe(value)}"
    if f.integer and value != int(value):
        return f"expected an integer, got {_describe(value)}"
    low = f.minimum if f.minimum is not None else -math.inf
    high = f.maximum if f.maximum is not None else math.inf
    if not low <= value <= high:
        return f"outside [{low:g}, {high:g}]: {_describe(value)}"
    return None


def _explain(f: Field, values: Sequence[Any], categories: frozenset[str]) -> list[str]:
    """Name the first offending rows of a column that failed the fast check."""
    problems: list[str] = []
    for i, value in enumerate(values):
        problem = _value_problem(f, value, categories)
        if problem:
            problems.append(f"column '{f.name}', row {i + 1}: {problem}")
            if len(problems) == _SHOWN_PER_COLUMN:
                break
    return problems or [f"column '{f.name}': a value is out of range"]


def _numbers_from_text(values: Sequence[str]) -> list[Any]:
    """CSV cells as numbers; a cell that is not one stays text, for the check to report."""
    try:
        return np.array(values, dtype=np.float64).tolist()
    except ValueError:
        return [_number_or_text(text) for text in values]


def _number_or_text(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text
