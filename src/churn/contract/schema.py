"""The explicit contract of the raw customer table: columns, types, categories and ranges.

Adapting the template to another dataset starts here: list its columns once, and the
validator, the model's preprocessing and the service's request checks all follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["id", "target", "binary", "category", "number"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    categories: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False


_YES_NO = ("No", "Yes")
_INTERNET_ADDON = ("No", "Yes", "No internet service")

ID = "customer_id"
TARGET = "churn"
POSITIVE_LABEL = "Yes"

COLUMNS: tuple[Column, ...] = (
    Column(ID, "id"),
    Column(TARGET, "target", categories=_YES_NO),
    Column("female", "binary"),
    Column("senior_citizen", "binary"),
    Column("partner", "binary"),
    Column("dependents", "binary"),
    Column("tenure", "number", minimum=0, maximum=120),
    Column("phone_service", "binary"),
    Column("multiple_lines", "category", categories=("No phone service", "No", "Yes")),
    Column("internet_service", "category", categories=("DSL", "Fiber optic", "No")),
    Column("online_security", "category", categories=_INTERNET_ADDON),
    Column("online_backup", "category", categories=_INTERNET_ADDON),
    Column("device_protection", "category", categories=_INTERNET_ADDON),
    Column("tech_support", "category", categories=_INTERNET_ADDON),
    Column("streaming_tv", "category", categories=_INTERNET_ADDON),
    Column("streaming_movies", "category", categories=_INTERNET_ADDON),
    Column("contract", "category", categories=("Month-to-month", "One year", "Two year")),
    Column("paperless_billing", "binary"),
    Column(
        "payment_method",
        "category",
        categories=(
            "Electronic check",
            "Mailed check",
            "Bank transfer (automatic)",
            "Credit card (automatic)",
        ),
    ),
    Column("monthly_charges", "number", minimum=0, maximum=1_000),
    # Blank for brand-new customers (tenure 0) in the source: nothing has been billed yet.
    Column("total_charges", "number", minimum=0, maximum=100_000, nullable=True),
)

FEATURES: tuple[Column, ...] = tuple(c for c in COLUMNS if c.kind not in ("id", "target"))
CATEGORICAL = tuple(c.name for c in FEATURES if c.kind == "category")
NUMERIC = tuple(c.name for c in FEATURES if c.kind in ("number", "binary"))


def column(name: str) -> Column:
    """The column called `name`."""
    for col in COLUMNS:
        if col.name == name:
            return col
    raise KeyError(name)
