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
        gate=args.gate,
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


def _moment(text: str):
    """A time on the command line: ISO 8601, UTC when it names no offset."""
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _monitor(args: argparse.Namespace) -> int:
    from churn.monitor import run as monitor

    return monitor.run(
        monitor.Options(
            model=args.model,
            data=args.data,
            params=args.params,
            out=args.out,
            json_out=args.json,
            log_dir=args.log_dir,
            period=args.period,
            end=args.end,
            table=args.table,
            sample=args.sample,
            labels=args.labels,
        )
    )


def _add_monitor_command(command: Callable[..., argparse.ArgumentParser]) -> None:
    monitor = command(
        "monitor",
        _monitor,
        "Compare a production window with the model's training data; exit 1 on an alert.",
    )
    monitor.add_argument("--model", type=Path, required=True, help="model directory")
    monitor.add_argument("--data", type=Path, required=True, help="its prepared data directory")
    monitor.add_argument("--out", type=Path, required=True, help="Markdown report to write")
    monitor.add_argument("--json", type=Path, required=True, help="JSON report to write")
    source = monitor.add_mutually_exclusive_group()
    source.add_argument(
        "--log-dir", help="prediction log: a directory or an fsspec URL [else MONITOR_WINDOW]"
    )
    source.add_argument("--table", type=Path, help="a CSV or Parquet table of raw rows instead")
    source.add_argument(
        "--sample", action="store_true", help="the test split scored as production traffic"
    )
    monitor.add_argument("--period", help="with --log-dir: how far back, e.g. 24h, 7d (default 7d)")
    monitor.add_argument(
        "--end", type=_moment, help="with a log: the window's end, ISO 8601 (default now)"
    )
    monitor.add_argument(
        "--labels", help="outcomes keyed by id, CSV or Parquet (path or URL) [else MONITOR_LABELS]"
    )
    monitor.add_argument(
        "--params", type=Path, default=Path("params.yaml"), help="params file (monitor:)"
    )


def _add_score_command(command: Callable[..., argparse.ArgumentParser]) -> None:
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
    from churn.deliver.serve import main as serve_main

    serve_main.add_arguments(serve)


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


def _payloads() -> list[dict]:
    """The input payloads an orchestrator task hands over on stdin (a JSON list)."""
    import json

    from churn.engines.stage_task import TaskError

    try:
        inputs = json.load(sys.stdin)
    except ValueError as exc:
        raise TaskError(f"stdin is not JSON: {exc}") from exc
    if not isinstance(inputs, list) or not all(isinstance(p, dict) for p in inputs):
        raise TaskError("stdin must be a JSON list of payloads (objects)")
    return inputs


def _print_json(value: object) -> int:
    import json

    print(json.dumps(value))
    return 0


def _task_stage(args: argparse.Namespace) -> int:
    from churn.engines import stage_task

    return _print_json(stage_task.run_stage(Path.cwd(), args.stage, _payloads()))


def _task_assemble(args: argparse.Namespace) -> int:
    from churn.engines import stage_task

    assembled = stage_task.assemble(Path.cwd(), _payloads(), verify=not args.no_verify)
    if args.out:
        for path in stage_task.export(assembled, args.out):
            print(f"wrote {path}", file=sys.stderr)
    return _print_json(assembled)


def _task_refresh_data(args: argparse.Namespace) -> int:
    from churn.engines import data_refresh

    return _print_json(data_refresh.refresh(Path.cwd(), args.source, args.out))


def _task_open_pr(args: argparse.Namespace) -> int:
    import os

    from churn import github as rest
    from churn.engines import pull_request
    from churn.engines.stage_task import TaskError

    token = os.environ.get("GITHUB_TOKEN", "")
    if not token:
        raise TaskError("GITHUB_TOKEN is not set: a token that may push and open pull requests")
    api_url = os.environ.get("GITHUB_API_URL") or rest.DEFAULT_API_URL
    github = rest.GitHub(api_url, args.repo, token, user_agent="churn-retrain")
    outcome = pull_request.propose(
        Path.cwd(), _payloads(), github=github, base=args.base, run_id=args.run_id
    )
    return _print_json(outcome)


def _task_checkout(args: argparse.Namespace) -> int:
    from churn.engines import worker_checkout

    worker_checkout.create(args.dir, origin=args.origin)
    print(f"worker checkout ready in {args.dir}", file=sys.stderr)
    return 0


def _add_task_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    task = command(
        "task",
        lambda _: 2,
        "What an orchestrator's tasks run in a worker's checkout (JSON payloads on stdin/stdout).",
    )
    actions = task.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, handler: Callable[[argparse.Namespace], int], text: str):
        sub = actions.add_parser(name, help=text, description=text)
        sub.set_defaults(handler=handler)
        return sub

    stage = action("stage", _task_stage, "Pull a stage's inputs, reproduce it, push its outputs.")
    stage.add_argument("stage", help="stage name in dvc.yaml")
    assemble = action("assemble", _task_assemble, "Write a run's dvc.lock and check it.")
    assemble.add_argument("--out", type=Path, help="also write the run's files under this folder")
    assemble.add_argument(
        "--no-verify", action="store_true", help="skip pulling every output and `dvc status`"
    )
    refresh = action("refresh-data", _task_refresh_data, "Replace the raw data by the latest.")
    refresh.add_argument("--source", required=True, help="http(s):// or file:// URL, or a path")
    refresh.add_argument("--out", help="tracked file to replace (default: found from dvc.yaml)")
    pull = action("open-pr", _task_open_pr, "Commit the run's pins on a branch and open a PR.")
    pull.add_argument("--repo", required=True, help="GitHub repository, owner/name")
    pull.add_argument("--base", required=True, help="branch the pull request targets")
    pull.add_argument("--run-id", default="", help="the orchestrator's run id, for the record")
    checkout = action("checkout", _task_checkout, "Make a worker's checkout of this project.")
    checkout.add_argument("dir", type=Path, help="directory to clone into")
    checkout.add_argument("--origin", default=".", help="repository to clone (default: here)")


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
    report.add_argument(
        "--gate", type=Path, default=Path("gate.yaml"), help="gate policy file (read at --base)"
    )

    wheel = command("wheel", _wheel, "Build the embedded-model wheel (model + predict API).")
    wheel.add_argument("--model", type=Path, required=True, help="model directory")
    wheel.add_argument("--source", type=Path, required=True, help="package template directory")
    wheel.add_argument("--out", type=Path, required=True, help="directory for the wheel")

    _add_score_command(command)
    _add_serving_commands(command)
    _add_monitor_command(command)
    _add_release_commands(command)
    _add_task_commands(command)

    for sub in (prepare, train, evaluate, report):
        sub.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file")
    for sub in (fetch, prepare, train):
        sub.add_argument(
            "--contract", type=Path, default=Path("contract.yaml"), help="the data contract"
        )
    return parser


def _user_errors() -> tuple[type[Exception], ...]:
    # Recognised without importing the modules that raise them: some load pandas, scikit-learn
    # or DVC, seconds before a one-line message. The modules named here stand alone by design
    # (the wheel embeds the contract and the model loader, Airflow loads the graph by path), so
    # their errors cannot derive from UserError; each imports only the standard library, PyYAML
    # and NumPy.
    from churn.artifacts.saved_model import ModelLoadError
    from churn.contract import ContractError, DataValidationError
    from churn.engines.pipeline_graph import PipelineError
    from churn.user_error import UserError

    return (
        UserError,
        ContractError,
        DataValidationError,
        ModelLoadError,
        PipelineError,
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
        name = " ".join(filter(None, (args.command, getattr(args, "action", None))))
        print(f"churn {name}: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
