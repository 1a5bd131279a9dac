"""The single entry point: `churn <command>`, one command per DVC stage or delivery.

Paths are always arguments (their home is `dvc.yaml` and the Makefile); knobs come from the
params file. `main` returns the exit code so tests can call it directly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

# Errors a user can cause and fix; anything else is a bug and keeps its traceback.
EXIT_FAILED = 1
EXIT_ERROR = 2


def _params(args: argparse.Namespace):
    from churn import params

    return params.load(args.params)


def _fetch(args: argparse.Namespace) -> int:
    from churn import fetch

    print(fetch.run(args.dvc_file, args.out))
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from churn import prepare

    manifest = prepare.run(_params(args).prepare, args.raw, args.out)
    print(f"prepared {manifest['train_rows']} train and {manifest['test_rows']} test rows")
    return 0


def _train(args: argparse.Namespace) -> int:
    from churn import train

    train.run(_params(args).train, args.data, args.model)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from churn import evaluate

    scores = evaluate.run(
        _params(args),
        model_dir=args.model,
        prepared_dir=args.data,
        metrics_path=args.metrics,
        plots_dir=args.plots,
        predictions_path=args.predictions,
    )
    print("  ".join(f"{name}={value:.4f}" for name, value in scores.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="churn", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], text: str):
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(handler=handler)
        return sub

    fetch = command("fetch", _fetch, "Pull the raw data, or rebuild it from its public source.")
    fetch.add_argument("--dvc-file", type=Path, required=True, help="the .dvc file pinning it")
    fetch.add_argument("--out", type=Path, required=True, help="the raw file to (re)build")

    prepare = command("prepare", _prepare, "Validate, clean and split the raw data.")
    prepare.add_argument("--raw", type=Path, required=True, help="raw CSV file")
    prepare.add_argument("--out", type=Path, required=True, help="directory for the split")

    train = command("train", _train, "Fit the model and save it in MLflow format.")
    train.add_argument("--data", type=Path, required=True, help="prepared data directory")
    train.add_argument("--model", type=Path, required=True, help="model directory to write")

    evaluate = command("evaluate", _evaluate, "Score the test split; write metrics and plots.")
    evaluate.add_argument("--model", type=Path, required=True, help="model directory")
    evaluate.add_argument("--data", type=Path, required=True, help="prepared data directory")
    evaluate.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    evaluate.add_argument("--plots", type=Path, required=True, help="plot-data directory")
    evaluate.add_argument("--predictions", type=Path, required=True, help="per-row CSV")

    for sub in (prepare, train, evaluate):
        sub.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (0 ok, 1 failed check, 2 could not run)."""
    from churn.data import DataValidationError
    from churn.fetch import FetchError
    from churn.params import ParamsError
    from churn.saved_model import ModelLoadError

    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (DataValidationError, ParamsError, FetchError, ModelLoadError, FileNotFoundError) as exc:
        print(f"churn {args.command}: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
