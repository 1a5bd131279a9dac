"""`churn score` against in-process `predict_proba` over the same rows, in one run: prints ratios.

    python benchmarks/bench_score.py --model models/model --data data/wa_churn.csv \
        [--rows 1000000] [--chunk-rows 50000]

The input is the real table resampled (`resample.py`: seeded, fresh ids, jittered numbers) to
`--rows` rows without the label, as CSV and as Parquet. Baseline: the model alone, i.e.
`SavedModel.predict_proba` on the whole table's features already checked and held in memory in
exactly the form `churn score` hands them to the model. Each `churn score` run is a fresh process
timed from start to exit (start-up included). Then, in this process, where the time of one pass
goes: reading, checking, the frame, the model, the store. Peak resident memory (ru_maxrss) is
compared with the same command on a tenth of the rows (flat means the ratio stays near 1), and
lookups by id in the finished store are timed against a store ten times smaller.
With `--compiled`, `churn score` is timed with the ONNX graph too (it scores when `churn compile`
recorded it within 1e-9 of the pipeline). Exit status 1 if `churn score` on CSV (the faster
predictor) is below `TARGET` x predict_proba, or if memory is not flat.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

import resample
from churn.artifacts import saved_model, score_store
from churn.artifacts.score_store import ScoreStore
from churn.contract import load as load_contract
from churn.contract import table
from churn.deliver.score import run as scoring
from measure import run_measured

TARGET = 0.7  # churn score's rows/s at least this share of predict_proba's
FLAT = 1.25  # peak memory on all rows may be at most this multiple of that on a tenth of them


def churn_score(
    model: Path, source: Path, out: Path, chunk_rows: int, compiled: Path | None = None
) -> list[str]:
    churn = Path(sys.executable).with_name("churn")
    with_graph = [] if compiled is None else ["--compiled", str(compiled), "--predictor", "onnx"]
    return [
        *(str(churn), "score", "--model", str(model), "--input", str(source), *with_graph),
        *("--out", str(out), "--chunk-rows", str(chunk_rows), "--no-progress"),
    ]


def make_inputs(contract, raw_csv: Path, rows: int, directory: Path) -> tuple[Path, Path]:
    csv = resample.write(contract, raw_csv, rows, directory / f"rows{rows}.csv", with_target=False)
    parquet = directory / f"rows{rows}.parquet"
    with pq.ParquetWriter(parquet, table.read_text(csv).schema) as writer:
        for batch in table.text_batches(csv):
            writer.write_batch(batch)
    return csv, parquet


def baseline_seconds(contract, model: saved_model.SavedModel, csv: Path) -> float:
    columns = scoring.check_chunk(contract, table.read_text(csv), scoring.row_names(0))
    features = scoring.feature_frame(contract, columns)
    start = time.perf_counter()
    model.predict_proba(features)
    return time.perf_counter() - start


def breakdown(contract, model, csv: Path, chunk_rows: int, store: Path) -> dict[str, float]:
    """Seconds per step of one serial pass (no read-ahead), as `churn score` does them."""
    spent: dict[str, float] = defaultdict(float)
    chunks, _ = scoring.open_chunks(csv, chunk_rows)
    with score_store.create(store, model_digest="", source="", id_type=contract.id.type) as out:
        while True:
            start = time.perf_counter()
            item = next(chunks, None)
            spent["read"] += time.perf_counter() - start
            if item is None:
                return dict(spent)
            offset, chunk = item
            rows = scoring.row_names(offset)
            start = time.perf_counter()
            columns = scoring.check_chunk(contract, chunk, rows)
            spent["check"] += time.perf_counter() - start
            start = time.perf_counter()
            features = scoring.feature_frame(contract, columns)
            spent["frame"] += time.perf_counter() - start
            start = time.perf_counter()
            scores = model.predict_proba(features)
            spent["model"] += time.perf_counter() - start
            start = time.perf_counter()
            scoring.add_scores(contract, out, columns[contract.id.name], scores, rows)
            spent["store"] += time.perf_counter() - start


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
    parser.add_argument("--chunk-rows", type=int, default=scoring.DEFAULT_CHUNK_ROWS)
    parser.add_argument("--compiled", type=Path, help="`churn compile` output: also time ONNX")
    args = parser.parse_args()
    small_rows = max(args.rows // 10, 1)
    model = saved_model.load(args.model)
    contract = load_contract(saved_model.read(args.model).contract)

    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        tmp_dir = Path(tmp)
        print(f"generating {args.rows:,} and {small_rows:,} rows from {args.data} ...")
        csv, parquet = make_inputs(contract, args.data, args.rows, tmp_dir)
        small_csv, _ = make_inputs(contract, args.data, small_rows, tmp_dir)

        model_seconds = baseline_seconds(contract, model, csv)
        model_rate = args.rows / model_seconds
        print(f"\nin-process predict_proba (features in memory): {model_rate:12,.0f} rows/s")

        results = {}
        runs = [("CSV", csv, None), ("Parquet", parquet, None)]
        if args.compiled is not None:
            runs += [("CSV, ONNX", csv, args.compiled), ("Parquet, ONNX", parquet, args.compiled)]
        for label, source, graph in runs:
            store = tmp_dir / f"{label}.sqlite"
            command = churn_score(args.model, source, store, args.chunk_rows, graph)
            seconds, peak = run_measured(command)
            results[label] = (seconds, peak, store)
            rate = args.rows / seconds
            print(
                f"churn score, {label:<13} (whole process): {rate:10,.0f} rows/s  "
                f"= {rate / model_rate:.2f}x predict_proba  ({seconds:.1f} s, peak {peak:.0f} MiB)"
            )

        spent = breakdown(contract, model, csv, args.chunk_rows, tmp_dir / "steps.sqlite")
        total = sum(spent.values())
        steps = ", ".join(f"{k} {v:.1f} s ({v / total:.0%})" for k, v in spent.items())
        print(f"\none serial pass over the CSV, in-process: {total:.1f} s = {steps}")

        _, small_peak = run_measured(
            churn_score(args.model, small_csv, tmp_dir / "small.sqlite", args.chunk_rows)
        )
        peak = results["CSV"][1]
        print(
            f"\npeak memory, churn score CSV: {small_rows:,} rows {small_peak:.0f} MiB, "
            f"{args.rows:,} rows {peak:.0f} MiB  -> ratio {peak / small_peak:.2f} (flat: 1.00)"
        )
        big = lookup_micros(results["CSV"][2], args.rows)
        small = lookup_micros(tmp_dir / "small.sqlite", small_rows)
        print(
            f"store lookup by id: {small:.1f} us with {small_rows:,} rows, {big:.1f} us with "
            f"{args.rows:,} rows -> ratio {big / small:.2f}"
        )

    failed = []
    best = min((seconds, label) for label, (seconds, _, _) in results.items() if "CSV" in label)
    csv_ratio = model_seconds / best[0]
    if csv_ratio < TARGET:
        failed.append(
            f"churn score on CSV runs at {csv_ratio:.2f}x predict_proba at best ({best[1]}; "
            f"target {TARGET}x)"
        )
    if peak > FLAT * small_peak:
        failed.append(f"peak memory grew {peak / small_peak:.2f}x for 10x the rows (limit {FLAT}x)")
    for reason in failed:
        print(f"FAIL: {reason}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
