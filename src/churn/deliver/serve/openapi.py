"""OpenAPI descriptions of the scoring endpoints, generated from the same `InputSpec` that
validates them, so the documented and the enforced contract cannot drift apart.

The handlers parse their bodies themselves (orjson, column-wise checks) instead of through
pydantic models, which would cost more than the model call; these schemas only document.
"""

from __future__ import annotations

from typing import Any

from churn.contract import Contract, ids
from churn.deliver.serve.inputs import FORMATS, InputSpec, json_schema

INVOCATIONS_DESCRIPTION = """\
Accepts what `mlflow models serve` accepts: a JSON object with exactly one of
`dataframe_split`, `dataframe_records`, `instances` or `inputs` (rows as objects, or an object of
column lists), or CSV with a header row (`Content-Type: text/csv`). Answers
`{"predictions": [[P(negative), P(positive)], ...]}`, one pair per row, as MLflow does for this
model.

Every feature column of the data contract is required and no other is allowed; categories,
ranges and where a blank (null, or an empty string) is allowed come from the contract, and
blanks are filled as it declares. Errors: 400 unreadable body, 413 too many rows or too large a
body, 415 other content types, 422 a column or value the model cannot take, with the column and
row named.
"""

PREDICT_DESCRIPTION = """\
Typed records in, probability and label out (label: probability >= the threshold the model was
trained with). A record may carry its id, which is echoed back. Validation and errors as for
`/invocations`.
"""

_ERROR = {
    "type": "object",
    "properties": {
        "error_code": {"type": "string"},
        "message": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["error_code", "message"],
}


def _error_responses(*codes: int) -> dict[str, Any]:
    return {
        str(code): {
            "description": "refused",
            "content": {"application/json": {"schema": _ERROR}},
        }
        for code in codes
    }


SCORES_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "the id is not in the store, or the service has no store",
        "content": {"application/json": {"schema": _ERROR}},
    },
    422: {
        "description": "the path is not an id by the contract's rules",
        "content": {"application/json": {"schema": _ERROR}},
    },
}


def id_schema(contract: Contract) -> dict[str, Any]:
    if contract.id.type == "integer":
        return {"type": "integer", "minimum": 0, "maximum": ids.MAX_INTEGER_ID}
    return {"type": "string", "minLength": 1, "maxLength": ids.MAX_STRING_ID_LENGTH}


def scores(contract: Contract) -> dict[str, Any]:
    """The lookup route's path parameter, named and typed by the contract's id."""
    return {
        "parameters": [
            {
                "name": contract.id.name,
                "in": "path",
                "required": True,
                "description": ids.rule(contract.id.type),
                "schema": id_schema(contract),
            }
        ]
    }


def customer(spec: InputSpec, with_id: bool = False) -> dict[str, Any]:
    properties = {f.name: json_schema(f) for f in spec.contract.features}
    if with_id:
        properties = {spec.contract.id.name: id_schema(spec.contract), **properties}
    return {
        "type": "object",
        "properties": properties,
        "required": list(spec.names),
        "additionalProperties": False,
    }


def invocations(spec: InputSpec) -> dict[str, Any]:
    record = customer(spec)
    rows = {"type": "array", "items": record, "maxItems": spec.max_rows}
    columnar = {
        "type": "object",
        "properties": {
            f.name: {"type": "array", "items": json_schema(f), "maxItems": spec.max_rows}
            for f in spec.contract.features
        },
        "required": list(spec.names),
        "additionalProperties": False,
    }
    split = {
        "type": "object",
        "properties": {
            "columns": {"type": "array", "items": {"type": "string"}},
            "data": {"type": "array", "items": {"type": "array"}, "maxItems": spec.max_rows},
        },
        "required": ["columns", "data"],
    }
    shapes = {
        "dataframe_split": split,
        "dataframe_records": rows,
        "instances": {"oneOf": [rows, columnar]},
        "inputs": {"oneOf": [rows, columnar]},
    }
    body = {
        "oneOf": [
            {
                "type": "object",
                "properties": {key: shapes[key]},
                "required": [key],
                "additionalProperties": False,
            }
            for key in FORMATS
        ]
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": body},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        "responses": {
            "200": {
                "description": "[P(negative), P(positive)] for each row",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "predictions": {
                                    "type": "array",
                                    "items": {
                                        "type": "array",
                                        "items": {"type": "number"},
                                        "minItems": 2,
                                        "maxItems": 2,
                                    },
                                }
                            },
                            "required": ["predictions"],
                        }
                    }
                },
            },
            **_error_responses(400, 413, 415, 422),
        },
    }


def predict(spec: InputSpec) -> dict[str, Any]:
    contract = spec.contract
    prediction = {
        "type": "object",
        "properties": {
            contract.id.name: id_schema(contract),
            contract.probability_field: {"type": "number", "minimum": 0, "maximum": 1},
            contract.target.name: {"type": "boolean"},
        },
        "required": [contract.probability_field, contract.target.name],
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "records": {
                                "type": "array",
                                "items": customer(spec, with_id=True),
                                "maxItems": spec.max_rows,
                            }
                        },
                        "required": ["records"],
                        "additionalProperties": False,
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "one prediction per record, in order",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "threshold": {"type": "number"},
                                "predictions": {"type": "array", "items": prediction},
                            },
                            "required": ["threshold", "predictions"],
                        }
                    }
                },
            },
            **_error_responses(400, 413, 422),
        },
    }
