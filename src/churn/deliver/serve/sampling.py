"""Which rows of each request the prediction log keeps: each with probability `rate`,
reproducibly, and decided the same way by the service and by its worker process.

Standard library only: the worker process imports it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

_MASK = 2**64 - 1


class Sampler:
    """Which rows of each request to log: each with probability `rate`, reproducibly.

    The service draws one 64-bit seed per request, in arrival order, from a generator seeded by
    the settings; row i of a request is kept when a 64-bit hash of (request seed + i) falls
    below rate x 2^64. The worker process that handles large requests decides from the seed
    alone, so the same requests in the same order log the same rows wherever they were handled.
    """

    def __init__(self, rate: float, seed: int | None) -> None:
        self.rate = rate
        self._generator = random.Random(seed)

    def request_seed(self) -> int:
        return self._generator.getrandbits(64)

    def keep(self, rows: int, seed: int) -> Sequence[int]:
        """The positions of the rows to log among a request's `rows`."""
        return sampled(rows, self.rate, seed)


def sampled(rows: int, rate: float, seed: int) -> Sequence[int]:
    if rate >= 1.0:
        return range(rows)
    below = int(rate * 2**64)
    return [i for i in range(rows) if _mix(seed + i) < below]


def _mix(value: int) -> int:
    """SplitMix64's finalizer: a well-spread 64-bit hash of an integer, in pure Python."""
    z = (value + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)
