"""Timestamps for audit records: RFC 3339 UTC with microseconds, cheap to produce."""

from __future__ import annotations

import time

__all__ = ["timestamp"]

# (second, "YYYY-MM-DDTHH:MM:SS") of the last call: formatting the date part once per second
# instead of once per record saves a microsecond per event. A tuple swap is atomic.
_last: tuple[int, str] = (0, "1970-01-01T00:00:00")


def timestamp(now: float | None = None) -> str:
    """``2025-01-31T12:34:56.123456Z`` for ``now`` (default: the current time)."""
    global _last
    t = time.time() if now is None else now
    second = int(t)
    cached = _last
    if cached[0] != second:
        cached = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        _last = cached
    return f"{cached[1]}.{int((t - second) * 1_000_000):06d}Z"
