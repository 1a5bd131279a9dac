"""Charts: Mermaid text that GitHub draws inside the comment itself (no image host), and full
PNG figures written to the assets folder for the workflow artifact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import roc_curve

from churn.report.contents import Curve, ReportData

# ROC curves are kept at 101 false-positive rates; the comment chart shows every 5th.
GRID = np.linspace(0, 1, 101)
_MERMAID_STEP = 5
BASE_COLOUR = "#9e9e9e"
CANDIDATE_COLOUR = "#1f77b4"


def sample_roc(label: str, y_true: np.ndarray, y_score: np.ndarray) -> Curve:
    """The ROC curve at the fixed false-positive rates of `GRID`."""
    fpr, tpr, _ = roc_curve(y_true, y_score)
    sampled = np.interp(GRID, fpr, tpr)
    return Curve(
        label=label,
        fpr=tuple(round(float(x), 4) for x in GRID),
        tpr=tuple(round(float(x), 4) for x in sampled),
    )


def _palette(count: int) -> str:
    colours = [BASE_COLOUR, CANDIDATE_COLOUR] if count == 2 else [CANDIDATE_COLOUR]
    return (
        '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "'
        + ", ".join(colours)
        + '"}}}}%%'
    )


def _numbers(values) -> str:
    return "[" + ", ".join(f"{v:.3f}".rstrip("0").rstrip(".") or "0" for v in values) + "]"


def _labels(values) -> str:
    # Quoted: category labels that look like numbers are not guaranteed to parse bare.
    return "[" + ", ".join(f'"{v:g}"' for v in values) + "]"


def mermaid_roc(curves: tuple[Curve, ...]) -> str:
    """Both ROC curves on one chart (base first, candidate second)."""
    picked = slice(None, None, _MERMAID_STEP)
    lines = [
        "```mermaid",
        _palette(len(curves)),
        "xychart-beta",
        '    title "ROC curve on the candidate\'s test rows"',
        f'    x-axis "False positive rate" {_labels(curves[0].fpr[picked])}',
        '    y-axis "True positive rate" 0 --> 1',
    ]
    lines += [f"    line {_numbers(c.tpr[picked])}" for c in curves]
    lines.append("```")
    return "\n".join(lines)


def mermaid_metrics(data: ReportData) -> str:
    """Each metric's value: bars for the base, a line for the candidate."""
    rows = data.metrics
    labels = ", ".join(f'"{r.label}"' for r in rows)
    values = [r.candidate for r in rows] + [r.base for r in rows if r.base is not None]
    top = max(1.0, *values)
    lines = [
        "```mermaid",
        _palette(2 if data.mode != "no_baseline" else 1),
        "xychart-beta",
        '    title "Metrics"',
        f"    x-axis [{labels}]",
        f"    y-axis 0 --> {top:.2f}".rstrip("0").rstrip("."),
    ]
    if data.mode != "no_baseline":
        lines.append(f"    bar {_numbers(r.base if r.base is not None else 0 for r in rows)}")
    lines.append(f"    line {_numbers(r.candidate for r in rows)}")
    lines.append("```")
    return "\n".join(lines)


def write_pngs(data: ReportData, assets: Path) -> tuple[str, ...]:
    """Full-resolution figures for the workflow artifact; return the file names written."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    assets.mkdir(parents=True, exist_ok=True)
    written = []
    if data.curves:
        fig, ax = plt.subplots(figsize=(5, 5))
        colours = [BASE_COLOUR, CANDIDATE_COLOUR][-len(data.curves) :]
        for curve, colour in zip(data.curves, colours, strict=True):
            ax.plot(curve.fpr, curve.tpr, color=colour, label=curve.label)
        ax.plot([0, 1], [0, 1], linestyle=":", color="black", linewidth=0.8)
        ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve")
        ax.legend(loc="lower right")
        fig.savefig(assets / "roc.png", dpi=120, bbox_inches="tight")
        plt.close(fig)
        written.append("roc.png")
    paired = [r for r in data.metrics if r.low is not None and r.high is not None]
    if paired:
        fig, ax = plt.subplots(figsize=(6, 0.5 * len(paired) + 1.2))
        positions = np.arange(len(paired))
        deltas = np.array([r.delta for r in paired])
        errors = np.array([[r.delta - r.low, r.high - r.delta] for r in paired]).T
        ax.errorbar(deltas, positions, xerr=errors, fmt="o", color=CANDIDATE_COLOUR, capsize=4)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(positions, [r.label for r in paired])
        ax.invert_yaxis()
        ax.set(
            xlabel=f"candidate - base ({data.confidence:.0%} paired bootstrap interval)",
            title="Metric changes",
        )
        fig.savefig(assets / "metric_changes.png", dpi=120, bbox_inches="tight")
        plt.close(fig)
        written.append("metric_changes.png")
    return tuple(written)
