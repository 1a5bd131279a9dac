"""How far the window moved from the training split, feature by feature and in the predicted
probability.

Each distribution gets an effect size, the population stability index (`churn.psi`, the one the
pull-request report uses), which is what alerts fire on; and a test suited to its kind, whose
statistic and p-value are shown but never alerted on (at production volumes a p-value calls every
harmless wobble significant): Kolmogorov-Smirnov for numbers, chi-squared on the table of counts
for binaries and categories (with Cramér's V as its effect size). Also per feature: the share of
blanks on each side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import contingency

from churn import psi
from churn.contract.spec import Feature

# The probability histogram shown in the report: ten bins of width 0.1.
PROBABILITY_EDGES = np.linspace(0.0, 1.0, 11)


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    kind: str
    # "KS" (Kolmogorov-Smirnov) or "chi-squared".
    test: str
    # None for every measure of the window when the window does not hold the feature.
    psi: float | None
    # KS: the largest gap between the two cumulative distributions; chi-squared: Cramér's V.
    effect: float | None
    p_value: float | None
    missing_reference: float
    missing_window: float | None

    @property
    def in_window(self) -> bool:
        return self.psi is not None


@dataclass(frozen=True)
class ProbabilityDrift:
    psi: float
    ks: float
    p_value: float
    mean_reference: float
    mean_window: float
    # Shares of each side in the bins of `PROBABILITY_EDGES`.
    shares_reference: tuple[float, ...]
    shares_window: tuple[float, ...]


def blank(feature: Feature, values: pd.Series) -> pd.Series:
    """Which typed values (`window.typed_inputs`) are blanks."""
    return values.isna() if feature.numeric else values.eq("")


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _ks(reference: pd.Series, window: pd.Series) -> tuple[float | None, float | None]:
    a, b = reference.dropna().to_numpy(dtype=float), window.dropna().to_numpy(dtype=float)
    if not len(a) or not len(b):
        return None, None
    result = stats.ks_2samp(a, b)
    return _finite(result.statistic), _finite(result.pvalue)


def _chi_squared(reference: pd.Series, window: pd.Series) -> tuple[float | None, float | None]:
    counts = pd.DataFrame(
        {
            "reference": reference.astype(str).value_counts(),
            "window": window.astype(str).value_counts(),
        }
    ).fillna(0)
    if len(counts) < 2:  # one value on both sides: nothing to compare
        return 0.0, None
    observed = counts.to_numpy(dtype=np.int64).T
    result = stats.chi2_contingency(observed, correction=False)
    return _finite(contingency.association(observed, method="cramer")), _finite(result.pvalue)


def feature_drift(
    feature: Feature,
    reference: pd.Series,
    window: pd.Series | None,
) -> FeatureDrift:
    """One feature's drift; `window` None when the window does not hold it."""
    test = "KS" if feature.kind == "number" else "chi-squared"
    missing_reference = float(blank(feature, reference).mean()) if len(reference) else 0.0
    if window is None or not len(window):
        return FeatureDrift(
            feature.name, feature.kind, test, None, None, None, missing_reference, None
        )
    effect, p_value = (_ks if test == "KS" else _chi_squared)(reference, window)
    return FeatureDrift(
        name=feature.name,
        kind=feature.kind,
        test=test,
        psi=psi.psi(reference, window),
        effect=effect,
        p_value=p_value,
        missing_reference=missing_reference,
        missing_window=float(blank(feature, window).mean()),
    )


def _histogram(values: np.ndarray) -> tuple[float, ...]:
    counts, _ = np.histogram(np.clip(values, 0.0, 1.0), bins=PROBABILITY_EDGES)
    return tuple(float(c) for c in counts / max(counts.sum(), 1))


def probability_drift(reference: np.ndarray, window: np.ndarray) -> ProbabilityDrift:
    """The predicted probability's drift: PSI, KS, means and the histograms of both sides."""
    result = stats.ks_2samp(reference, window)
    return ProbabilityDrift(
        psi=psi.psi(pd.Series(reference), pd.Series(window)),
        ks=float(result.statistic),
        p_value=float(result.pvalue),
        mean_reference=float(np.mean(reference)),
        mean_window=float(np.mean(window)),
        shares_reference=_histogram(reference),
        shares_window=_histogram(window),
    )
