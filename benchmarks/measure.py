"""Wall time and peak resident memory of one command, run as a fresh process.

ru_maxrss of a forked child starts at its parent's peak, and a benchmark may hold a large input:
a small launcher process keeps that out of the measurement. The peak is the largest of the
command's processes that ended (the command itself or one of its children, e.g. a DVC stage).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

MIB = 1024 * 1024

LAUNCHER = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
seconds = time.perf_counter() - start
print(code, seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


class CommandError(RuntimeError):
    """The measured command exited with a status it should not have."""


def run_measured(
    command: list[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    ok: tuple[int, ...] = (0,),
) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of `command` (stderr passes through)."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *command],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
        env=dict(os.environ if env is None else env),
    )
    code, seconds, peak_kib = done.stdout.split()
    if int(code) not in ok:
        raise CommandError(f"{' '.join(command)} failed with exit code {code}:\n{done.stderr}")
    return float(seconds), int(peak_kib) * 1024 / MIB
