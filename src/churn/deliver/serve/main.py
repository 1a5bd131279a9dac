"""`churn serve`: resolve the settings (arguments, then environment), check what a user could
have got wrong, and run uvicorn.

The port follows the SageMaker convention: `PORT`, default 8080, the same for `churn serve`,
`make serve` and the container. The host defaults to loopback; the image sets HOST=0.0.0.0.
The prediction log is off unless `--log-dir` or `PREDICTION_LOG_DIR` names a directory; each of
its settings is a flag or an environment variable (`LOG_FLAGS`), the flag first.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from churn.artifacts.saved_model import ModelLoadError

DEFAULT_PORT = 8080
EXIT_ERROR = 2
_MIB = 1024 * 1024

# The prediction log's settings, each a flag or an environment variable (the flag first); the
# defaults are `LogSettings`'.
LOG_FLAGS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "--log-dir": ("PREDICTION_LOG_DIR", Path, "directory to log predictions to"),
    "--log-sample-rate": ("PREDICTION_LOG_SAMPLE_RATE", float, "share of rows logged, 0 to 1"),
    "--log-rotate-mb": ("PREDICTION_LOG_ROTATE_MB", float, "a new file past this size"),
    "--log-rotate-seconds": ("PREDICTION_LOG_ROTATE_SECONDS", float, "a new file past this age"),
    "--log-exclude": (
        "PREDICTION_LOG_EXCLUDE",
        str,
        "comma-separated columns never to log, besides those the contract marks personal",
    ),
    "--log-seed": ("PREDICTION_LOG_SEED", int, "seed of the sampling, for a repeatable sample"),
}


def add_arguments(serve: argparse.ArgumentParser) -> None:
    """The flags for large requests and the prediction log (the others are in `churn.cli`)."""
    serve.add_argument(
        "--offload-kb",
        type=float,
        default=64.0,
        help="bodies of at least this many KiB are parsed and scored in a worker process, "
        "so that the service keeps answering meanwhile (default 64)",
    )
    serve.add_argument(
        "--offload-workers",
        type=int,
        default=1,
        help="worker processes for large bodies; 0 handles every request in the server "
        "process (default 1)",
    )
    log = serve.add_argument_group(
        "prediction log", "Off unless a directory is given (README: the service)."
    )
    for flag, (variable, parse, text) in LOG_FLAGS.items():
        log.add_argument(flag, type=parse, help=f"{text} [{variable}]")


def _log_value(args: argparse.Namespace, flag: str) -> Any:
    """A log setting from its flag, else its environment variable, else None."""
    given = getattr(args, flag.removeprefix("--").replace("-", "_"), None)
    if given is not None:
        return given
    variable, parse, _ = LOG_FLAGS[flag]
    text = os.environ.get(variable, "").strip()
    if not text:
        return None
    try:
        return parse(text)
    except ValueError:
        raise ValueError(f"{variable} must be a {parse.__name__}, not {text!r}") from None


def log_settings(args: argparse.Namespace):
    """The prediction log's settings, or None when no directory is given."""
    from churn.deliver.serve.recorder import LogSettings

    directory = _log_value(args, "--log-dir")
    if directory is None:
        return None
    given: dict[str, Any] = {}
    if (rate := _log_value(args, "--log-sample-rate")) is not None:
        given["sample_rate"] = rate
    if (size := _log_value(args, "--log-rotate-mb")) is not None:
        given["rotate_bytes"] = int(size * _MIB)
    if (age := _log_value(args, "--log-rotate-seconds")) is not None:
        given["rotate_seconds"] = age
    if (exclude := _log_value(args, "--log-exclude")) is not None:
        given["exclude"] = tuple(name.strip() for name in exclude.split(",") if name.strip())
    if (seed := _log_value(args, "--log-seed")) is not None:
        given["seed"] = seed
    return LogSettings(directory, **given)


def settings_from(args: argparse.Namespace):
    from churn.deliver.serve.app import Settings

    scores = args.scores or (Path(os.environ["SCORES_DB"]) if os.environ.get("SCORES_DB") else None)
    offload_kb = getattr(args, "offload_kb", 64.0)
    offload_workers = getattr(args, "offload_workers", 1)
    if offload_kb < 0 or offload_workers < 0:
        raise ValueError("--offload-kb and --offload-workers must not be negative")
    return Settings(
        model_dir=args.model,
        compiled_dir=args.compiled,
        scores_path=scores,
        max_rows=args.max_rows,
        max_body_bytes=int(args.max_body_mb * _MIB),
        offload_bytes=int(offload_kb * 1024),
        offload_workers=offload_workers,
        log=log_settings(args),
    )


def _port(args: argparse.Namespace) -> int:
    if args.port is not None:
        return args.port
    text = os.environ.get("PORT", "") or str(DEFAULT_PORT)
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"PORT must be a port number, not {text!r}")
    return int(text)


def _check_free(host: str, port: int) -> None:
    """Refuse a port another process holds now, with exit 2 like every start-up error
    (uvicorn would exit 3 after loading the model)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; 2 with a one-line reason if the service cannot start."""
    import uvicorn

    from churn.artifacts.score_store import ScoreStore, ScoreStoreError
    from churn.deliver.serve.app import create_app

    try:
        port = _port(args)
        host = args.host or os.environ.get("HOST") or "127.0.0.1"
        _check_free(host, port)
        settings = settings_from(args)
        if settings.max_rows < 1 or settings.max_body_bytes < 1:
            raise ValueError("--max-rows and --max-body-mb must be positive")
        if settings.scores_path is not None:
            # Fail now with a clear message rather than inside the server's startup.
            ScoreStore.open(settings.scores_path).close()
        app = create_app(settings)
    except (ModelLoadError, ScoreStoreError, ValueError) as exc:
        print(f"churn serve: {exc}", file=sys.stderr)
        return EXIT_ERROR
    # Stopped by a signal (Ctrl-C, or SIGTERM from `docker stop` or a process manager), uvicorn
    # shuts down gracefully and then raises the signal again; here that is an orderly exit 0,
    # not a death by signal that `make serve` would report as "*** Terminated".
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        _serve(uvicorn, app, host, port, args.access_log)
    return 0


def _serve(uvicorn: Any, app: Any, host: str, port: int, access_log: bool) -> None:
    uvicorn.run(
        app,
        host=host,
        port=port,
        # uvloop and httptools when installed (the image has both), else asyncio and h11.
        loop="auto",
        http="auto",
        # The metrics count every request; a log line each would cost more than the model.
        access_log=access_log,
        timeout_graceful_shutdown=10,
    )
