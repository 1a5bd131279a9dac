"""Everything one monitor run found, and the alerts it raised: what `render` writes out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from churn.monitor.drift import FeatureDrift, ProbabilityDrift
from churn.monitor.quality import Period, Realized

Status = Literal["healthy", "alert", "error"]


@dataclass(frozen=True)
class Alert:
    """A threshold of `params.yaml: monitor:` crossed. `name` is unique within a run and stable
    from one run to the next (the monitoring issue compares the sets of names)."""

    name: str
    # drift, probability_drift, outside_contract, missing, quality or business.
    kind: str
    # The feature, column or metric concerned (None for the probability).
    subject: str | None
    value: float
    threshold: float
    message: str


@dataclass(frozen=True)
class Outcomes:
    """The outcomes joined to the window's predictions."""

    source: str
    outcomes: int
    joined: int
    note: str
    realized: Realized
    periods: tuple[Period, ...]

    @property
    def share(self) -> float | None:
        return self.joined / self.outcomes if self.outcomes else None


@dataclass(frozen=True)
class Findings:
    window_kind: str
    window_source: str
    start: datetime | None
    end: datetime | None
    examined: int
    scored: int
    other_versions: dict[str, int]
    model_digest: str
    threshold: float
    reference_rows: int
    features: tuple[FeatureDrift, ...]
    # Per column (the id too): share of the window's examined cells outside the contract.
    outside: dict[str, float]
    probability: ProbabilityDrift
    outcomes: Outcomes | None
    notes: tuple[str, ...] = field(default_factory=tuple)
