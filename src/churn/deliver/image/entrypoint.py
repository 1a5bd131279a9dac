"""The image's entrypoint: `docker run IMAGE` and `docker run IMAGE serve` start the service.

SageMaker starts a model container as `docker run IMAGE serve` and mounts the model it was
given (the `model.tar.gz` of `ModelDataUrl`, unpacked) at /opt/ml/model. So:

- no argument, `serve`, or only options (`serve --max-rows 100`, `--max-rows 100`): serve;
- the model comes from the SageMaker model directory when it holds one, laid out like the
  image's own /app: `model/` (the MLflow model directory, which carries its own threshold) and
  optionally `compiled/` (`churn compile`'s ONNX graph and its check); else from /app (the
  working directory), where the image was built with its model inside. A model directory
  that is there but holds no `model/MLmodel` is an error, not a silent fallback to the
  built-in model;
- `train`: refused (this image serves; SageMaker training jobs need a training image);
- any other command runs as given (`docker run -it IMAGE bash`), as with most images.

The port is PORT (8080, SageMaker's), or SAGEMAKER_BIND_TO_PORT when SageMaker sets it (a
container in an inference pipeline). SM_MODEL_DIR moves the model directory (tests, other
platforms). The service itself is `churn serve`, exec'd so that it gets the container's
signals. Standard library only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SAGEMAKER_MODEL_DIR = "/opt/ml/model"
MODEL, COMPILED = "model", "compiled"
EXIT_ERROR = 2
EXIT_NOT_FOUND = 127  # what a shell answers for a command it cannot run


class EntrypointError(RuntimeError):
    """The container cannot serve as asked; the message says what to change."""


@dataclass(frozen=True)
class Layout:
    """Where the served model and its compiled form are, and why there."""

    model: Path
    compiled: Path | None
    source: str


def _layout(root: Path, source: str) -> Layout:
    compiled = root / COMPILED
    return Layout(root / MODEL, compiled if compiled.is_dir() else None, source)


def find_layout(app: Path, sagemaker_dir: Path) -> Layout:
    """The SageMaker model directory's model if one is mounted there, else the image's own."""
    if (sagemaker_dir / MODEL / "MLmodel").is_file():
        return _layout(sagemaker_dir, f"the SageMaker model directory {sagemaker_dir}")
    if sagemaker_dir.is_dir() and any(sagemaker_dir.iterdir()):
        raise EntrypointError(
            f"{sagemaker_dir} is not empty but holds no {MODEL}/MLmodel: pack the release's "
            f"models/ folder as the model data (tar -czf model.tar.gz -C models {MODEL} "
            f"{COMPILED})"
        )
    return _layout(app, f"the image ({app})")


def serve_command(layout: Layout, options: Sequence[str], environ: dict[str, str]) -> list[str]:
    """The `churn serve` command line for `layout`, with the caller's extra options."""
    command = [sys.executable, "-m", "churn", "serve", "--model", str(layout.model)]
    if layout.compiled is not None:
        command += ["--compiled", str(layout.compiled)]
    bind_to = environ.get("SAGEMAKER_BIND_TO_PORT")
    if bind_to:
        command += ["--port", bind_to]
    return [*command, *options]


def main(argv: Sequence[str], environ: dict[str, str]) -> int:
    """Replace this process with the service (or the given command); return only on error."""
    args = list(argv)
    if args and args[0] == "train":
        print(
            "entrypoint: this image serves a model; it does not train one (a SageMaker "
            "training job needs a training image)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    if args and args[0] != "serve" and not args[0].startswith("-"):
        try:
            os.execvp(args[0], args)
        except OSError as exc:
            print(f"entrypoint: cannot run {args[0]!r}: {exc.strerror}", file=sys.stderr)
            return EXIT_NOT_FOUND
    options = args[1:] if args and args[0] == "serve" else args
    sagemaker_dir = Path(environ.get("SM_MODEL_DIR") or SAGEMAKER_MODEL_DIR)
    try:
        layout = find_layout(Path.cwd(), sagemaker_dir)
    except EntrypointError as exc:
        print(f"entrypoint: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"entrypoint: serving the model from {layout.source}", file=sys.stderr, flush=True)
    command = serve_command(layout, options, environ)
    os.execv(command[0], command)
    return EXIT_ERROR  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], dict(os.environ)))
