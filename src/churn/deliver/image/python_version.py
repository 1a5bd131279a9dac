"""Stop an image build whose base image runs another Python than the project's.

The project states its Python once, in `.python-version`. The Dockerfile builds on
`python:${PYTHON_VERSION}-slim` and runs this first, so a base image with another interpreter
fails the build at once, saying so, instead of failing later at `pip install` (the locks hold
wheels for one Python) or building an image that cannot import its own package.

Run as a plain file, `python python_version.py .python-version`: nothing else is installed
at that point of the build.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def mismatch(declared: str, running: Sequence[int]) -> str | None:
    """Why an interpreter of version `running` may not build the image, or None."""
    want = ".".join(declared.strip().split(".")[:2])
    have = f"{running[0]}.{running[1]}"
    if want == have:
        return None
    return (
        f"the base image runs Python {have}, but the project declares Python {want} in "
        f".python-version: build on python:{want}-slim (the Dockerfile's PYTHON_VERSION), "
        f"or move the project to {have} first (.python-version, pyproject.toml's "
        "requires-python, then `make lock`)"
    )


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print("usage: python python_version.py .python-version", file=sys.stderr)
        return 2
    problem = mismatch(Path(argv[1]).read_text(encoding="utf-8"), sys.version_info)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    print(f"Python {sys.version_info[0]}.{sys.version_info[1]}, as .python-version declares")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
