"""The one error `churn monitor` stops with when it cannot judge (exit 2)."""

from __future__ import annotations


class MonitorError(RuntimeError):
    """The monitor cannot run; the message says why and what to do about it."""
