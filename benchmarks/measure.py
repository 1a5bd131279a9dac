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

# argv: the address-space limit in bytes (0: none), then the command. A command over the limit
# fails by itself (MemoryError) instead of waking the kernel's OOM killer, which may pick any
# process on a shared machine.
LAUNCHER = """
import resource, subprocess, sys, time
limit = int(sys.argv[1])
def cap():
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
start = time.perf_counter()
try:
    code = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, preexec_fn=cap).returncode
except OSError as error:  # the command is not there: fail like a shell would
    print(error, file=sys.stderr)
    code = 127
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
    limit_mib: int = 0,
) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of `command`; `limit_mib` caps its address space."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(limit_mib * MIB), *command],
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
