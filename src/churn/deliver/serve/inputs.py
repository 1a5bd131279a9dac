"""Turn a request body into validated model input, or a 4xx error that names the field.

The request formats are MLflow's (`dataframe_split`, `dataframe_records`, `instances`,
`inputs`, CSV) and `/predict`'s records; the values are checked by the data contract's own rules
(`contract.values` for JSON, `contract.text` for CSV), the same rules the raw training file
passed, so blanks are accepted exactly where the contract allows them and derived ones are
filled (`contract.complete`) before the model sees the rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from churn.contract import Contract, DataValidationError, complete, ids, rules, text, values
from churn.contract.spec import Feature

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_SHOWN_PROBLEMS = 10


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


def invalid(error: DataValidationError) -> RequestError:
    """A 422 listing the contract's problems (the count is of every bad value, all shown or not)."""
    lines = error.lines
    shown = lines[:_SHOWN_PROBLEMS]
    more = f"; first {len(shown)} of {len(lines)} listed" if len(lines) > len(shown) else ""
    return RequestError(
        422,
        f"{error.problems.count} problem(s) in the input{more}: {shown[0]}",
        shown,
    )


@dataclass(frozen=True)
class Batch:
    """Validated, completed rows, column by column (lists or arrays of Python values).

    Kept as lists so that merging many one-row requests is cheap; the predictor turns the
    merged columns into arrays once per model call.
    """

    columns: dict[str, Sequence[Any]]
    rows: int
    # The ids `/predict` echoes back, when the caller sent them (None for a row without one).
    ids: list[Any] | None = None


def json_schema(feature: Feature) -> dict[str, Any]:
    """A feature's values as JSON Schema (for OpenAPI)."""
    blank = feature.blank is not None
    if not feature.numeric:
        spec: dict[str, Any] = {"type": "string", "enum": list(feature.categories)}
        if blank:
            spec = {"anyOf": [spec, {"type": "null"}, {"const": ""}]}
        return spec
    if feature.kind == "binary":
        spec = {"type": "integer", "enum": [0, 1]}
    else:
        spec = {"type": "number"}
        if feature.minimum is not None:
            spec["minimum"] = feature.minimum
        if feature.maximum is not None:
            spec["maximum"] = feature.maximum
    return {"anyOf": [spec, {"type": "null"}]} if blank else spec


@dataclass(frozen=True)
class InputSpec:
    contract: Contract
    max_rows: int

    @property
    def names(self) -> tuple[str, ...]:
        return self.contract.feature_names

    def dtypes(self) -> dict[str, Any]:
        """The NumPy type of each model input column."""
        return {f.name: np.float64 if f.numeric else object for f in self.contract.features}

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
        """`/predict`: {"records": [{column: value, ...}, ...]}; each may carry its id."""
        document = _load_json(body)
        if not isinstance(document, dict) or set(document) != {"records"}:
            raise RequestError(400, 'the JSON body must be {"records": [{...}, ...]}')
        return self._records(document["records"], "records", with_ids=True)

    def parse_id(self, value: str) -> int | str:
        """An id from a URL path, by the contract's id parser; 422 naming the rule otherwise."""
        parsed = ids.from_text(value, self.contract.id.type)
        if parsed is None:
            name = self.contract.id.name
            problem = f"{name}: {rules.describe(value)} is not {ids.rule(self.contract.id.type)}"
            raise RequestError(422, problem, [problem])
        return parsed

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

    def _records(self, records: Any, key: str, with_ids: bool = False) -> Batch:
        if not isinstance(records, list):
            raise RequestError(400, f"'{key}' must be a list of row objects")
        self._check_rows(len(records))
        expected = set(self.names)
        id_name = self.contract.id.name
        with_id = expected | {id_name}
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                raise RequestError(400, f"'{key}' row {i + 1} must be an object")
            keys = record.keys()
            if keys != expected and not (with_ids and keys == with_id):
                self._check_names(
                    list(keys), where=f"'{key}' row {i + 1}", optional=id_name if with_ids else None
                )
        columns = {name: [r[name] for r in records] for name in self.names}
        sent = None
        if with_ids and any(id_name in r for r in records):
            sent = [r.get(id_name, values.ABSENT) for r in records]
        return self._validated(columns, len(records), sent)

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
            table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
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
        cells = {name: by_name.get(name, ()) for name in self.names}
        try:
            typed = text.check_cells(self.contract, cells, len(rows))
        except DataValidationError as exc:
            raise invalid(exc) from None
        return self._completed(typed, len(rows))

    # --- the checks --------------------------------------------------------------------------

    def _check_rows(self, rows: int) -> None:
        if rows > self.max_rows:
            raise RequestError(
                413, f"{rows} rows is more than this service scores per request ({self.max_rows})"
            )

    def _check_names(
        self, names: list[str], where: str = "the input", optional: str | None = None
    ) -> None:
        if len(names) == len(self.names) and set(names) == set(self.names):
            return
        given = set(names)
        missing = [n for n in self.names if n not in given]
        extra = [n for n in names if n not in self.names and n != optional]
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
        self, columns: dict[str, Sequence[Any]], rows: int, sent_ids: list[Any] | None = None
    ) -> Batch:
        try:
            typed, typed_ids = values.check(self.contract, columns, ids_column=sent_ids)
        except DataValidationError as exc:
            raise invalid(exc) from None
        return self._completed(typed, rows, typed_ids)

    def _completed(
        self, typed: dict[str, Sequence[Any]], rows: int, typed_ids: list[Any] | None = None
    ) -> Batch:
        if rows == 0:
            return Batch({name: [] for name in self.names}, 0, typed_ids)
        try:
            filled = complete.derive_blanks(self.contract, typed)
        except DataValidationError as exc:
            raise invalid(exc) from None
        return Batch(filled, rows, typed_ids)


def _load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"invalid JSON: {exc}") from None


def _formats() -> str:
    return ", ".join(FORMATS)
