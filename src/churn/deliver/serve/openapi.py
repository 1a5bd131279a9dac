"""OpenAPI descriptions of the scoring endpoints, generated from the same `InputSpec` that
validates them, so the documented and the enforced contract cannot drift apart.

The handlers parse their bodies themselves (orjson, column-wise checks) instead of through
pydantic models, which would cost more than the model call; these schemas only document.
"""

from __future__ import annotations

from typing import Any

from churn.contract import schema
from churn.deliver.serve.inputs import FORMATS, InputSpec

INVOCATIONS_DESCRIPTION = """\
Accepts what `mlflow models serve` accepts: a JSON object with exactly one of
`dataframe_split`, `dataframe_records`, `instances` or `inputs` (rows as objects, or an object of
column lists), or CSV with a header row (`Content-Type: text/csv`). Answers
`{"predictions": [[P(stays), P(churns)], ...]}`, one pair per row, as MLflow does for this model.

Every column of the model signature is required and no other is allowed; categories and ranges
come from the data schema; missing values are refused (send `total_charges` filled the way the
pipeline cleans it: tenure x monthly charges). Errors: 400 unreadable body, 413 too many rows or
too large a body, 415 other content types, 422 a column or value the model cannot take, with the
column and row named.
"""

PREDICT_DESCRIPTION = """\
Typed customer records in, churn probability and label out (label: probability >= the
threshold, `evaluate.threshold` in params.yaml). A record may carry its `customer_id`, which is
echoed back. Validation and errors as for `/invocations`.
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
        "description": "the customer is not in the store, or the service has no store",
        "content": {"application/json": {"schema": _ERROR}},
    },
}


def customer(spec: InputSpec, with_id: bool = False) -> dict[str, Any]:
    properties = {f.name: f.json_schema() for f in spec.fields}
    if with_id:
        properties = {schema.ID: {"type": "integer"}, **properties}
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
            f.name: {"type": "array", "items": f.json_schema(), "maxItems": spec.max_rows}
            for f in spec.fields
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
                "description": "[P(stays), P(churns)] for each row",
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
    prediction = {
        "type": "object",
        "properties": {
            schema.ID: {"type": "integer"},
            "churn_probability": {"type": "number", "minimum": 0, "maximum": 1},
            "churn": {"type": "boolean"},
        },
        "required": ["churn_probability", "churn"],
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
