"""`churn serve`: resolve the settings (arguments, then environment), check what a user could
have got wrong, and run uvicorn.

The port follows the SageMaker convention: `PORT`, default 8080, the same for `churn serve`,
`make serve` and the container. The host defaults to loopback; the image sets HOST=0.0.0.0.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from churn.artifacts.saved_model import ModelLoadError

DEFAULT_PORT = 8080
EXIT_ERROR = 2


def settings_from(args: argparse.Namespace):
    from churn.deliver.serve.app import Settings

    scores = args.scores or (Path(os.environ["SCORES_DB"]) if os.environ.get("SCORES_DB") else None)
    return Settings(
        model_dir=args.model,
        compiled_dir=args.compiled,
        scores_path=scores,
        max_rows=args.max_rows,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
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
