"""A realistic table of any size from the project's own: rows resampled (seeded), fresh ids, numbers
jittered, everything as the data contract says, so it works for any table.

- rows are drawn with replacement from the raw table, so categories, binaries, labels and their
  joint distribution hold;
- ids are fresh and unique, of the contract's id type (1..N, or "R000000001"...);
- each number moves by a seeded relative jitter (`JITTER`), stays inside its declared range, and
  keeps the precision its column has (whole numbers stay whole, cents stay cents);
- a blank stays blank (the source has blanks only where the contract allows them).

Written as CSV with a header, in blocks, so memory stays flat for 10M rows.

    python benchmarks/resample.py --contract contract.yaml --raw data/wa_churn.csv \
        --rows 1000000 --out /tmp/rows.csv [--seed 0] [--no-target]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv

from churn.contract import Contract, rules, table
from churn.contract import load as load_contract
from churn.contract.spec import Feature

JITTER = 0.03  # standard deviation of the relative change of each number
BLOCK_ROWS = 500_000


def _decimals(texts: np.ndarray) -> int:
    """How many decimals the column's numbers are written with (at most 6)."""
    places = [len(t.split(".", 1)[1]) if "." in t else 0 for t in texts if t.strip()]
    return min(max(places, default=0), 6)


class Resampler:
    def __init__(self, contract: Contract, raw_csv: Path, seed: int) -> None:
        self.contract = contract
        source = table.read_text(raw_csv)
        self.columns = list(source.column_names)
        self.text = {
            name: source.column(name).to_numpy(zero_copy_only=False) for name in self.columns
        }
        self.rows = source.num_rows
        self.rng = np.random.default_rng(seed)
        self.numbers = {
            f.name: self._number_column(f) for f in contract.features if f.kind == "number"
        }

    def _number_column(self, feature: Feature) -> tuple[np.ndarray, np.ndarray, int]:
        texts = self.text[feature.name]
        blank = np.array([rules.is_blank_text(t) for t in texts])
        values = np.array([0.0 if b else float(t) for t, b in zip(texts, blank, strict=True)])
        return values, blank, _decimals(texts)

    def block(self, first_id: int, rows: int, with_target: bool) -> pa.Table:
        picked = self.rng.integers(0, self.rows, size=rows)
        out = {}
        for name in self.columns:
            if name == self.contract.target.name and not with_target:
                continue
            if name == self.contract.id.name:
                out[name] = self._ids(first_id, rows)
            elif name in self.numbers:
                out[name] = self._jittered(name, picked)
            else:
                out[name] = pa.array(self.text[name][picked], pa.string())
        return pa.table(out)

    def _ids(self, first: int, rows: int) -> pa.Array:
        numbers = np.arange(first, first + rows, dtype=np.int64)
        if self.contract.id.type == "integer":
            return pa.array(numbers).cast(pa.string())
        return pa.array([f"R{n:09d}" for n in numbers], pa.string())

    def _jittered(self, name: str, picked: np.ndarray) -> pa.Array:
        values, blank, decimals = self.numbers[name]
        low, high = self.contract.feature(name).bounds
        moved = values[picked] * (1.0 + self.rng.normal(0.0, JITTER, size=len(picked)))
        texts = np.char.mod(f"%.{decimals}f", np.clip(np.round(moved, decimals), low, high))
        texts[blank[picked]] = ""
        return pa.array(texts, pa.string())


def write(
    contract: Contract,
    raw_csv: Path,
    rows: int,
    out: Path,
    *,
    seed: int = 0,
    with_target: bool = True,
) -> Path:
    """Write `rows` resampled rows to the CSV file `out`."""
    resampler = Resampler(contract, raw_csv, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    options = pv.WriteOptions(include_header=True, quoting_style="needed")
    writer = None
    try:
        for start in range(0, rows, BLOCK_ROWS):
            block = resampler.block(start + 1, min(BLOCK_ROWS, rows - start), with_target)
            if writer is None:
                writer = pv.CSVWriter(out, block.schema, write_options=options)
            writer.write_table(block)
    finally:
        if writer is not None:
            writer.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contract", type=Path, default=Path("contract.yaml"))
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-target", action="store_true", help="leave the label column out")
    args = parser.parse_args()
    contract = load_contract(args.contract)
    write(contract, args.raw, args.rows, args.out, seed=args.seed, with_target=not args.no_target)
    print(f"wrote {args.rows:,} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
