"""Blocking work off the event loop, on a small dedicated pool.

Password hashing is slow on purpose (argon2id: tens of milliseconds of CPU and 64 MiB), and a
Redis round trip blocks. Run on the event loop, either stalls every other request of the worker;
run on AnyIO's default pool (40 threads, shared with FastAPI's sync dependencies), a burst of
sign-ins takes every thread and 40 x 64 MiB. A dedicated limiter keeps sign-ins from starving
the rest: at most :data:`LOGIN_THREADS` hashes run at once, the others wait their turn while
the event loop keeps serving.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar

__all__ = ["LOGIN_THREADS", "run_blocking", "set_login_threads"]

T = TypeVar("T")

#: Concurrent password verifications per process (CPU count, 2 to 8).
LOGIN_THREADS = max(2, min(8, os.cpu_count() or 2))

# One limiter per event loop (a limiter belongs to the loop that created it).
_limiter: RunVar[CapacityLimiter] = RunVar("tigerseal_fastapi_login_limiter")
_tokens = LOGIN_THREADS


def _get_limiter() -> CapacityLimiter:
    try:
        return _limiter.get()
    except LookupError:
        limiter = CapacityLimiter(_tokens)
        _limiter.set(limiter)
        return limiter


def set_login_threads(count: int) -> None:
    """Change how many sign-ins may hash at once (event loops started from now on)."""
    global _tokens
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError("the login thread count must be a whole number >= 1")
    _tokens = count


async def run_blocking(func: Callable[[], T]) -> T:
    """Run ``func`` in a worker thread of the dedicated pool and await its result."""
    return await anyio.to_thread.run_sync(func, limiter=_get_limiter())
