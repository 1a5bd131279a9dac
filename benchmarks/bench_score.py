"""`churn score` against in-process `predict_proba` over the same rows, in one run: prints ratios.

    python benchmarks/bench_score.py --model models/model --data data/wa_churn.csv \
        [--rows 1000000] [--chunk-rows 50000]

The input is the real table resampled (seeded) to `--rows` rows with fresh ids, written as CSV
and as Parquet. Baseline: `SavedModel.predict_proba` on the already-validated, already-cleaned
features held in memory, i.e. the model alone. Each `churn score` run is a fresh process timed
from start to exit; its peak resident memory (ru_maxrss) is compared with the same command on
a tenth of the rows (flat means the ratio stays near 1) and with the naive way, which loads the
whole file into memory before scoring it. Last, lookups by id in the finished store are timed
against a store a hundred times smaller. Exit status 1 if memory does not stay flat.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from churn import data
from churn.artifacts import saved_model
from churn.artifacts.score_store import ScoreStore
from churn.contract import schema

FLAT = 1.25  # peak memory on all rows may be at most this multiple of that on a tenth of them
MIB = 1024 * 1024

# The naive way: the whole file in memory, then the same validation, cleaning and model.
IN_MEMORY = """
import sys
from churn import data
from churn.artifacts import saved_model
frame = data.clean(data.validate(data.load_raw(sys.argv[1]), with_target=False))
saved_model.load(sys.argv[2]).predict_proba(data.features(frame))
"""


def make_input(raw_csv: Path, rows: int, directory: Path) -> tuple[Path, Path]:
    """`rows` rows drawn from the real table, ids 1..rows, as CSV and Parquet (all text)."""
    raw = data.load_raw(raw_csv).drop(columns=[schema.TARGET])
    frame = raw.sample(n=rows, replace=True, random_state=0).reset_index(drop=True)
    frame[schema.ID] = pd.RangeIndex(1, rows + 1).astype(str)
    csv, parquet = directory / f"rows{rows}.csv", directory / f"rows{rows}.parquet"
    frame.to_csv(csv, index=False)
    data.validate(frame, with_target=False).to_parquet(parquet, index=False)
    return csv, parquet


# ru_maxrss of a forked child starts at its parent's peak, and this process holds the whole
# input: a small launcher process keeps that out of the measurement.
LAUNCHER = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
seconds = time.perf_counter() - start
print(code, seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def run_measured(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of one fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True, check=True
    ).stdout.split()
    code, seconds, peak_kib = int(out[0]), float(out[1]), int(out[2])
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {code}")
    return seconds, peak_kib * 1024 / MIB


def churn_score(model: Path, source: Path, out: Path, chunk_rows: int) -> list[str]:
    churn = Path(sys.executable).with_name("churn")
    return [
        str(churn),
        "score",
        "--model",
        str(model),
        "--input",
        str(source),
        "--out",
        str(out),
        "--chunk-rows",
        str(chunk_rows),
        "--no-progress",
    ]


def baseline_rows_per_s(model_dir: Path, csv: Path) -> float:
    frame = data.clean(data.validate(data.load_raw(csv), with_target=False))
    features = data.features(frame)
    model = saved_model.load(model_dir)
    start = time.perf_counter()
    model.predict_proba(features)
    return len(features) / (time.perf_counter() - start)


def lookup_micros(store_path: Path, ids: int, lookups: int = 100_000) -> float:
    keys = [random.Random(1).randint(1, ids) for _ in range(lookups)]
    with ScoreStore.open(store_path) as store:
        start = time.perf_counter()
        for key in keys:
            store.get(key)
        return (time.perf_counter() - start) / lookups * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="the raw CSV to resample")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    args = parser.parse_args()
    small_rows = max(args.rows // 10, 1)

    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        tmp_dir = Path(tmp)
        print(f"generating {args.rows:,} and {small_rows:,} rows from {args.data} ...")
        csv, parquet = make_input(args.data, args.rows, tmp_dir)
        small_csv, _ = make_input(args.data, small_rows, tmp_dir)

        model_rate = baseline_rows_per_s(args.model, csv)
        print(f"\nin-process predict_proba (features in memory): {model_rate:12,.0f} rows/s")

        results = {}
        for label, source in (("CSV", csv), ("Parquet", parquet)):
            store = tmp_dir / f"{label}.sqlite"
            seconds, peak = run_measured(churn_score(args.model, source, store, args.chunk_rows))
            results[label] = (seconds, peak, store)
            rate = args.rows / seconds
            print(
                f"churn score, {label:<7} (whole process)    : {rate:12,.0f} rows/s  "
                f"= {rate / model_rate:.2f}x predict_proba  ({seconds:.1f} s, peak {peak:.0f} MiB)"
            )

        _, small_peak = run_measured(
            churn_score(args.model, small_csv, tmp_dir / "small.sqlite", args.chunk_rows)
        )
        _, naive_peak = run_measured([sys.executable, "-c", IN_MEMORY, str(csv), str(args.model)])
        peak = results["CSV"][1]
        print(
            f"\npeak memory, churn score CSV: {small_rows:,} rows {small_peak:.0f} MiB, "
            f"{args.rows:,} rows {peak:.0f} MiB  -> ratio {peak / small_peak:.2f} (flat: 1.00)"
        )
        print(
            f"peak memory, whole file in memory, {args.rows:,} rows: {naive_peak:.0f} MiB "
            f"-> churn score needs {peak / naive_peak:.2f}x of it"
        )

        big = lookup_micros(results["CSV"][2], args.rows)
        small = lookup_micros(tmp_dir / "small.sqlite", small_rows)
        print(
            f"\nstore lookup by id: {small:.1f} us with {small_rows:,} rows, {big:.1f} us with "
            f"{args.rows:,} rows -> ratio {big / small:.2f}"
        )

    if peak > FLAT * small_peak:
        print(f"FAIL: peak memory grew {peak / small_peak:.2f}x for 10x the rows (limit {FLAT}x)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
