"""What a report says, as plain frozen data: built by `compare`, read by `render` and `charts`.

Nothing here does I/O, so a report can be made by hand in a test and rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# paired: both models scored on the candidate's test rows, with bootstrap intervals.
# unpaired: only the numbers recorded at the base revision could be compared.
# no_baseline: nothing to compare with; only the absolute floors apply.
Mode = Literal["paired", "unpaired", "no_baseline"]
# What the interval of the primary metric's change shows, and the gate's reading of it:
# better (above 0) | unchanged (contains 0) | worse_tolerated (below 0, within tolerance) |
# worse (beyond tolerance, or a floor failed) | inconclusive (rule non_inferior not met) |
# insufficient_gain (below min_improvement) | unpaired_within_policy (no interval, passes) |
# no_baseline. Reports that could not compare at all: data_unavailable (the candidate's data
# could not be fetched: the gate fails) | no_report (nothing could be said: exit 2).
VerdictKind = Literal[
    "better",
    "unchanged",
    "worse_tolerated",
    "worse",
    "inconclusive",
    "insufficient_gain",
    "unpaired_within_policy",
    "no_baseline",
    "data_unavailable",
    "no_report",
]


@dataclass(frozen=True)
class MetricRow:
    name: str
    label: str
    higher_is_better: bool
    candidate: float
    base: float | None = None
    delta: float | None = None
    # Bounds of the confidence interval of `delta` (paired mode only).
    low: float | None = None
    high: float | None = None

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        if self.low is None or self.high is None:
            return False
        return self.low > 0 or self.high < 0

    @property
    def improved(self) -> bool | None:
        """Whether the change points the good way for this metric (None when there is none)."""
        if self.delta is None or self.delta == 0:
            return None
        return (self.delta > 0) == self.higher_is_better


@dataclass(frozen=True)
class Verdict:
    kind: VerdictKind
    passed: bool
    reason: str


@dataclass(frozen=True)
class FloorCheck:
    metric: str
    floor: float
    value: float
    passed: bool
    # A floor is a minimum for higher-is-better metrics and a ceiling for the others.
    higher_is_better: bool = True


@dataclass(frozen=True)
class ParamChange:
    key: str
    old: object
    new: object


@dataclass(frozen=True)
class Shift:
    column: str
    psi: float


@dataclass(frozen=True)
class DataDiff:
    # identical | changed | unavailable
    status: str
    note: str = ""
    base_rows: int | None = None
    candidate_rows: int | None = None
    added_columns: tuple[str, ...] = ()
    removed_columns: tuple[str, ...] = ()
    type_changes: tuple[tuple[str, str, str], ...] = ()
    base_target_rate: float | None = None
    candidate_target_rate: float | None = None
    shifts: tuple[Shift, ...] = ()


@dataclass(frozen=True)
class Curve:
    """An ROC curve, sampled at fixed false-positive rates so it fits in a small chart."""

    label: str
    fpr: tuple[float, ...]
    tpr: tuple[float, ...]


@dataclass(frozen=True)
class Reproducibility:
    # None: could not be told (the reason is in the note).
    lock_matches: bool | None
    lock_note: str
    in_remote: bool | None
    remote_note: str


@dataclass(frozen=True)
class ReportData:
    base_rev: str
    mode: Mode
    verdict: Verdict
    metrics: tuple[MetricRow, ...]
    primary_metric: str
    confidence: float
    gate_source: str
    command: str
    base_commit: str | None = None
    candidate_commit: str | None = None
    mode_note: str = ""
    resamples: int = 0
    test_rows: int = 0
    floors: tuple[FloorCheck, ...] = ()
    params_changes: tuple[ParamChange, ...] = ()
    data_diff: DataDiff = field(default_factory=lambda: DataDiff(status="unavailable"))
    curves: tuple[Curve, ...] = ()
    reproducibility: Reproducibility = field(
        default_factory=lambda: Reproducibility(None, "not checked", None, "not checked")
    )
    assets: tuple[str, ...] = ()
    # Qualifiers the headline must carry (first gate, a biased comparison, ...).
    headline_marks: tuple[str, ...] = ()
    # The gate's rule (`not_worse` or `non_inferior`).
    rule: str = "not_worse"
    # The candidate's own policy applies: the base revision has none.
    first_gate: bool = False
    # Candidate test rows left out because the base model was trained on them.
    excluded_rows: int = 0
