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


def _contract(args: argparse.Namespace):
    from churn import contract

    return contract.load(args.contract)


def _fetch(args: argparse.Namespace) -> int:
    from churn.stages import fetch

    if args.verify:
        print(fetch.verify(args.dvc_file))
    else:
        print(fetch.run(_contract(args), args.dvc_file))
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from churn.stages import prepare

    manifest = prepare.run(_contract(args), _params(args).prepare, args.raw, args.out)
    print(f"prepared {manifest['train_rows']} train and {manifest['test_rows']} test rows")
    return 0


def _train(args: argparse.Namespace) -> int:
    from churn.stages import train

    train.run(_contract(args), _params(args).train, args.data, args.model)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from churn.stages import evaluate

    scores = evaluate.run(
        _params(args),
        model_dir=args.model,
        prepared_dir=args.data,
        metrics_path=args.metrics,
        plots_dir=args.plots,
        predictions_path=args.predictions,
    )
    print(f"evaluated {len(scores)} metrics into {args.metrics} (`dvc metrics show` lists them)")
    return 0


def _report(args: argparse.Namespace) -> int:
    from churn import report

    return report.run(
        args.base,
        model=args.model,
        prepared=args.data,
        raw=args.raw,
        metrics=args.metrics,
        params=args.params,
        out=args.out,
        json_out=args.json,
        assets=args.assets,
    )


def _score(args: argparse.Namespace) -> int:
    from churn.deliver.score import run as score

    if args.engine == "spark":
        return _score_on_spark(args)
    for flag in ("out_parquet", "master"):
        if getattr(args, flag) is not None:
            raise score.ScoreError(f"--{flag.replace('_', '-')} needs --engine spark")
    if args.out is None:
        raise score.ScoreError("--out is required: the score store to write")
    chunking = {} if args.chunk_rows is None else {"chunk_rows": args.chunk_rows}
    info = score.run(
        args.model,
        Path(args.input),
        args.out,
        progress=not args.no_progress,
        compiled_dir=args.compiled,
        wanted=args.predictor,
        **chunking,
    )
    print(f"scored {info['rows']} rows of {args.input} into {args.out} ({info['predictor']})")
    return 0


def _score_on_spark(args: argparse.Namespace) -> int:
    from churn.deliver.score.run import ScoreError

    if args.out is None and args.out_parquet is None:
        raise ScoreError("--engine spark needs --out, --out-parquet or both")
    from churn.engines.spark import score

    chunking = {} if args.chunk_rows is None else {"chunk_rows": args.chunk_rows}
    done = score.run(
        args.model,
        args.input,
        store_path=args.out,
        parquet_path=args.out_parquet,
        master=args.master,
        compiled_dir=args.compiled,
        wanted=args.predictor,
        progress=not args.no_progress,
        **chunking,
    )
    written = " and ".join(str(p) for p in (args.out, args.out_parquet) if p is not None)
    print(
        f"scored {done['rows']} rows of {args.input} into {written} on Spark ({done['predictor']})"
    )
    return 0


def _wheel(args: argparse.Namespace) -> int:
    from churn.deliver.wheel import build as wheel

    print(wheel.build(args.model, args.source, args.out))
    return 0


def _compile(args: argparse.Namespace) -> int:
    from churn.stages import compile as compiler

    check = compiler.run(args.model, args.data, args.out)
    if check["passed"]:
        print(f"compiled: ONNX matches the pipeline (max |diff| {check['max_abs_diff']:.2e})")
    else:
        print(f"not compiled ({check['reason']}): the service will use scikit-learn")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from churn.deliver.serve import main as serve

    return serve.run(args)


def _add_serving_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    compiled = command("compile", _compile, "Compile the model to ONNX; check it scores the same.")
    compiled.add_argument("--model", type=Path, required=True, help="model directory")
    compiled.add_argument("--data", type=Path, required=True, help="prepared data directory")
    compiled.add_argument("--out", type=Path, required=True, help="directory for model.onnx")

    serve = command("serve", _serve, "Serve the model over HTTP (PORT, default 8080).")
    serve.add_argument("--model", type=Path, required=True, help="model directory")
    serve.add_argument("--compiled", type=Path, help="`churn compile` output (ONNX if it passed)")
    serve.add_argument("--scores", type=Path, help="score store for /scores/{id} (or SCORES_DB)")
    serve.add_argument("--host", help="address to listen on (or HOST; default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (or PORT; default 8080)")
    serve.add_argument("--max-rows", type=int, default=10_000, help="rows per request at most")
    serve.add_argument(
        "--max-body-mb", type=float, default=8.0, help="request body size limit in MiB"
    )
    serve.add_argument("--access-log", action="store_true", help="log every request")


def _model_card(args: argparse.Namespace) -> int:
    from churn import atomic, provenance
    from churn.release import model_card

    try:
        card = model_card.read(args.model, args.metrics)
    except model_card.ModelCardError as exc:
        print(f"churn model-card: {exc}", file=sys.stderr)
        return EXIT_ERROR
    text = model_card.render(card, version=args.version, commit=provenance.git_commit())
    atomic.write_text(args.out, text)
    print(f"wrote {args.out}")
    return 0


def _register(args: argparse.Namespace) -> int:
    from churn.release import model_card, register

    try:
        print(register.run(args.model, args.metrics, args.name, args.alias))
    except model_card.ModelCardError as exc:
        print(f"churn register: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return 0


def _add_release_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    card = command("model-card", _model_card, "Write the model card (metrics, params, data hash).")
    card.add_argument("--model", type=Path, required=True, help="model directory")
    card.add_argument("--metrics", type=Path, required=True, help="metrics JSON")
    card.add_argument("--out", type=Path, required=True, help="Markdown file to write")
    card.add_argument("--version", default="(unreleased)", help="release version, e.g. v1.2.0")

    register = command(
        "register", _register, "Register the model in MLflow and move an alias to it."
    )
    register.add_argument("--model", type=Path, required=True, help="model directory")
    register.add_argument("--metrics", type=Path, required=True, help="metrics JSON")
    register.add_argument("--name", required=True, help="registered model name")
    register.add_argument("--alias", default="champion", help="alias to point at the new version")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="churn", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], text: str):
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(handler=handler)
        return sub

    fetch = command("fetch", _fetch, "Get the raw data as pinned: pull it, or rebuild it.")
    fetch.add_argument("--dvc-file", type=Path, required=True, help="the .dvc file pinning it")
    fetch.add_argument(
        "--verify", action="store_true", help="only refuse data that differs from its pin"
    )

    prepare = command("prepare", _prepare, "Validate, type and split the raw data.")
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

    report = command(
        "report", _report, "Compare the workspace's model with a git revision's; apply the gate."
    )
    report.add_argument("--base", required=True, help="git revision of the baseline, e.g. main")
    report.add_argument("--model", type=Path, required=True, help="model directory")
    report.add_argument("--data", type=Path, required=True, help="prepared data directory")
    report.add_argument("--raw", type=Path, required=True, help="raw data file (for the data diff)")
    report.add_argument("--metrics", type=Path, required=True, help="metrics JSON tracked in git")
    report.add_argument("--out", type=Path, required=True, help="Markdown report to write")
    report.add_argument("--json", type=Path, help="machine-readable verdict to write")
    report.add_argument("--assets", type=Path, help="directory for full-size PNG figures")

    score = command("score", _score, "Pre-score a CSV or Parquet table into the score store.")
    score.add_argument("--model", type=Path, required=True, help="model directory")
    # Text, not a Path: Spark reads URLs too (s3a://..., dbfs:/...).
    score.add_argument("--input", required=True, help="CSV or Parquet file to score")
    score.add_argument("--out", type=Path, help="SQLite store to (re)place")
    score.add_argument(
        "--chunk-rows", type=int, help="rows per chunk: memory grows with it, not with the input"
    )
    score.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    score.add_argument(
        "--engine",
        choices=("pandas", "spark"),
        default="pandas",
        help="pandas (one process, the default) or spark (.venv-spark: `make spark-env`)",
    )
    score.add_argument(
        "--out-parquet", help="(spark) Parquet directory of id and score to (re)place"
    )
    score.add_argument(
        "--master",
        help="(spark) cluster URL (spark://host:7077); default: SPARK_REMOTE, else local[*]",
    )
    score.add_argument(
        "--compiled", type=Path, help="`churn compile` output: its ONNX graph scores if exact"
    )
    score.add_argument(
        "--predictor",
        choices=("auto", "sklearn", "onnx"),
        default="auto",
        help="auto: the ONNX graph when compiled within 1e-9 of the pipeline, else the pipeline",
    )

    wheel = command("wheel", _wheel, "Build the embedded-model wheel (model + predict API).")
    wheel.add_argument("--model", type=Path, required=True, help="model directory")
    wheel.add_argument("--source", type=Path, required=True, help="package template directory")
    wheel.add_argument("--out", type=Path, required=True, help="directory for the wheel")

    _add_serving_commands(command)
    _add_release_commands(command)

    for sub in (prepare, train, evaluate, report):
        sub.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file")
    for sub in (fetch, prepare, train):
        sub.add_argument(
            "--contract", type=Path, default=Path("contract.yaml"), help="the data contract"
        )
    return parser


def _user_errors() -> tuple[type[Exception], ...]:
    # Imported only once an error is raised: some pull in pandas and scikit-learn, seconds of
    # start-up that `churn serve` on the ONNX path never needs.
    from churn.artifacts.saved_model import ModelLoadError
    from churn.contract import ContractError, DataValidationError
    from churn.deliver.score.predictor import PredictorError
    from churn.deliver.score.run import ScoreError
    from churn.deliver.wheel.build import WheelError
    from churn.params import ParamsError
    from churn.report.collect import ReportError
    from churn.stages.fetch import FetchError

    return (
        DataValidationError,
        ContractError,
        ParamsError,
        FetchError,
        ModelLoadError,
        ReportError,
        ScoreError,
        PredictorError,
        WheelError,
        FileNotFoundError,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (0 ok, 1 failed check, 2 could not run)."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except Exception as exc:
        if not isinstance(exc, _user_errors()):
            raise
        print(f"churn {args.command}: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
