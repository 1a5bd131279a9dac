"""The report's paired bootstrap, old approach against the current one, in one run: prints ratios.

    python benchmarks/bench_report.py [--rows 1409 10000 40000 200000] [--old-max-rows 40000]

Synthetic test sets (seeded): a churn label at the sample's rate and two models' probabilities,
rounded so that ties occur. Every case runs in a fresh process, timed from the call to the
answer; its peak resident memory (ru_maxrss) is printed beside that of a process that builds
the same inputs without bootstrapping (imports and data: what the bootstrap adds is the
difference).

"old" is the approach the report used before (a copy is below, as the baseline): one
(2,000 x rows) count matrix, then every metric on the whole matrix. Its memory grows with rows
x resamples; above `--old-max-rows` it is not run (200,000 rows would need about 25 GiB) and
its time and memory are extrapolated linearly from the largest two sizes it ran at, marked
"est.". "new" is `churn.report.bootstrap`: blocks of resamples, a generator per resample,
integer cumulative sums per model.

Targets (issue 10): at 200,000 test rows, at most 60 s and 1 GiB; cost linear in rows.
Exit status 1 if the new approach misses either at the largest size.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

RESAMPLES = 2000
MAX_SECONDS = 60.0
MAX_MIB = 1024.0


def inputs(rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (27% positive) and two models' probabilities, the candidate slightly better."""
    rng = np.random.default_rng(rows)
    y = (rng.random(rows) < 0.27).astype(int)
    base = np.round(np.clip(0.30 * y + 0.70 * rng.random(rows), 0, 1), 3)
    candidate = np.round(np.clip(0.32 * y + 0.68 * rng.random(rows), 0, 1), 3)
    return y, base, candidate


# ---- The old approach, as the report had it (the baseline of this benchmark) ----


def _old_counts(rows: int, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, rows, size=(resamples, rows))
    offsets = (np.arange(resamples) * rows)[:, None]
    return np.bincount((drawn + offsets).ravel(), minlength=resamples * rows).reshape(
        resamples, rows
    )


def _old_groups(sorted_scores: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])


def _old_roc_auc(y, p, w):
    order = np.argsort(p, kind="stable")
    starts = _old_groups(p[order])
    ys, ws = y[order], w[:, order]
    pos = np.add.reduceat(ws * ys, starts, axis=1)
    neg = np.add.reduceat(ws * (1 - ys), starts, axis=1)
    neg_below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    wins = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    return np.divide(wins, pairs, out=np.full(len(w), np.nan), where=pairs > 0)


def _old_average_precision(y, p, w):
    order = np.argsort(-p, kind="stable")
    starts = _old_groups(p[order])
    ys, ws = y[order], w[:, order]
    tp = np.add.reduceat(ws * ys, starts, axis=1)
    fp = np.add.reduceat(ws * (1 - ys), starts, axis=1)
    predicted = np.cumsum(tp + fp, axis=1)
    precision = np.divide(
        np.cumsum(tp, axis=1), predicted, out=np.ones_like(tp), where=predicted > 0
    )
    positives = tp.sum(axis=1)
    return np.divide(
        (tp * precision).sum(axis=1), positives, out=np.full(len(w), np.nan), where=positives > 0
    )


def _old_linear(y, p, w, threshold):
    labels = (p >= threshold).astype(float)
    q = np.clip(p, 1e-15, 1 - 1e-15)
    total = w.sum(axis=1)
    tp = w @ ((labels == 1) & (y == 1))
    wrong = w @ (labels != y)
    return {
        "accuracy": (w @ (labels == y)) / total,
        "f1": np.divide(2 * tp, 2 * tp + wrong, out=np.zeros(len(w)), where=2 * tp + wrong > 0),
        "log_loss": (w @ -(y * np.log(q) + (1 - y) * np.log(1 - q))) / total,
        "brier": (w @ (p - y) ** 2) / total,
    }


def old_paired_intervals(y, base, candidate, confidence=0.95):
    y = np.asarray(y, dtype=float)
    counts = _old_counts(len(y), RESAMPLES, 0).astype(float)
    deltas = {}
    for name, metric in (("roc_auc", _old_roc_auc), ("average_precision", _old_average_precision)):
        deltas[name] = metric(y, candidate, counts) - metric(y, base, counts)
    new, old = _old_linear(y, candidate, counts, 0.5), _old_linear(y, base, counts, 0.5)
    deltas.update({name: new[name] - old[name] for name in new})
    tail = (1 - confidence) / 2 * 100
    return {name: np.nanpercentile(d, [tail, 100 - tail]) for name, d in deltas.items()}


# ---- One case, in its own process ----


def child(approach: str, rows: int) -> dict[str, float]:
    from churn import metrics
    from churn.report import bootstrap

    y, base, candidate = inputs(rows)
    started = time.perf_counter()
    if approach == "new":
        bootstrap.paired_intervals(
            y, (base, 0.5), (candidate, 0.5), list(metrics.METRICS), confidence=0.95
        )
    elif approach == "old":
        old_paired_intervals(y, base, candidate)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mib": peak}


def measure(approach: str, rows: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", approach, "--rows", str(rows)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{approach} at {rows} rows failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _extrapolate(sizes: list[int], values: list[float], rows: int) -> float:
    (r1, r2), (v1, v2) = sizes[-2:], values[-2:]
    return v2 + (v2 - v1) / (r2 - r1) * (rows - r2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1409, 10_000, 40_000, 200_000])
    parser.add_argument("--old-max-rows", type=int, default=40_000)
    parser.add_argument("--child", choices=["old", "new", "none"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.rows[0])))
        return 0
    print(f"paired bootstrap, {RESAMPLES:,} resamples, 6 metrics, 2 models (fresh process each)")
    header = (
        f"{'rows':>8} | {'inputs only':>11} | {'old time':>9} {'old peak':>10} | "
        f"{'new time':>9} {'new peak':>10} | {'time ratio':>10} {'added-memory ratio':>18}"
    )
    print(header)
    print("-" * len(header))
    ran_sizes: list[int] = []
    old_seconds: list[float] = []
    old_peaks: list[float] = []
    last = None
    for rows in sorted(args.rows):
        floor = measure("none", rows)
        new = measure("new", rows)
        if rows <= args.old_max_rows:
            old = measure("old", rows)
            ran_sizes.append(rows)
            old_seconds.append(old["seconds"])
            old_peaks.append(old["peak_mib"])
            mark = " "
        elif len(ran_sizes) >= 2:
            old = {
                "seconds": _extrapolate(ran_sizes, old_seconds, rows),
                "peak_mib": _extrapolate(ran_sizes, old_peaks, rows),
            }
            mark = "*"
        else:
            old, mark = None, ""
        old_text = (
            f"{old['seconds']:8.1f}s{mark}{old['peak_mib']:8.0f}Mi{mark}"
            if old
            else f"{'-':>9} {'-':>10}"
        )
        added_new = max(new["peak_mib"] - floor["peak_mib"], 1.0)
        ratios = (
            f"{old['seconds'] / new['seconds']:9.1f}x "
            f"{(old['peak_mib'] - floor['peak_mib']) / added_new:17.1f}x"
            if old
            else f"{'-':>10} {'-':>18}"
        )
        print(
            f"{rows:8,} | {floor['peak_mib']:9.0f}Mi | {old_text} | "
            f"{new['seconds']:8.1f}s {new['peak_mib']:8.0f}Mi | {ratios}"
        )
        last = (rows, new)
    print("* estimated: linear extrapolation from the two largest sizes the old approach ran at")
    print("ratios: old / new; added memory = peak minus the inputs-only process (imports, data)")
    rows, new = last
    missed = new["seconds"] > MAX_SECONDS or new["peak_mib"] > MAX_MIB
    print(
        f"target at {rows:,} rows: <= {MAX_SECONDS:.0f} s and <= {MAX_MIB:.0f} MiB peak: "
        f"{'MISSED' if missed else 'met'} ({new['seconds']:.1f} s, {new['peak_mib']:.0f} MiB)"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
