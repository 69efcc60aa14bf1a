"""Rate limiting: sliding-window log, sliding-window counter and GCRA over pluggable storage.

Quick use, as in the seed::

    from tigerseal import verify_rate_limit

    if verify_rate_limit("api_key_12345", max_requests=100, window_size=3600):
        ...  # process the request

Storage is chosen by URI (``TIGERSEAL_RATE_LIMIT_STORAGE``): ``memory://`` (built in, one
process) or ``redis://host:6379/0`` (``pip install tigerseal-redis``, shared by processes). The
algorithm comes from ``TIGERSEAL_RATE_LIMIT_ALGORITHM`` (default ``sliding_window_log``).
See ``docs/ratelimit.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tigerseal._defaults import ProcessDefault
from tigerseal.ratelimit._headers import ratelimit_headers
from tigerseal.ratelimit._limiter import DEFAULT_WINDOW, ProgressivePenalty, RateLimiter
from tigerseal.ratelimit._memory import MemoryRateLimitStorage
from tigerseal.spi.services import RateLimitDecision, RateLimitPolicy

if TYPE_CHECKING:
    from tigerseal.config import Settings

__all__ = [
    "DEFAULT_WINDOW",
    "MemoryRateLimitStorage",
    "ProgressivePenalty",
    "RateLimitDecision",
    "RateLimitPolicy",
    "RateLimiter",
    "get_rate_limit_status",
    "get_rate_limiter",
    "ratelimit_headers",
    "reset_rate_limiter",
    "set_rate_limiter",
    "verify_rate_limit",
]


def _close(limiter: RateLimiter) -> None:
    limiter.storage.close()


_LIMITER: ProcessDefault[RateLimiter] = ProcessDefault("rate limiter", RateLimiter, close=_close)


def get_rate_limiter(settings: Settings | None = None) -> RateLimiter:
    """The process-wide limiter, built from settings on first use.

    Args:
        settings: build a new limiter from these settings instead (not shared, not cached).
    """
    if settings is not None:
        return RateLimiter(settings=settings)
    return _LIMITER.get()


def set_rate_limiter(limiter: RateLimiter | None) -> RateLimiter | None:
    """Install ``limiter`` as the process-wide one; returns the previous one."""
    return _LIMITER.set(limiter)


def reset_rate_limiter() -> None:
    """Forget the process-wide limiter (closing its storage); rebuilt from settings on next use."""
    _LIMITER.reset()


def verify_rate_limit(
    key: str,
    max_requests: int | None = None,
    window_size: float = DEFAULT_WINDOW,
    *,
    cost: int = 1,
) -> bool:
    """Count a request for ``key``; whether it is within ``max_requests`` per ``window_size``.

    Args:
        key: who is limited (an API key id, a user id, an IP address).
        max_requests: the limit; ``None`` applies ``DEFAULT_RATE_LIMIT_HOUR`` (scaled to the
            window when the window is not an hour).
        window_size: window length in seconds.
        cost: units this request uses.

    Returns:
        ``True`` if the request is admitted (and counted), ``False`` if it must be refused.
    """
    limiter = _LIMITER.get()
    return limiter.hit(key, max_requests, window_size, cost=cost)


def get_rate_limit_status(
    key: str, max_requests: int | None = None, window_size: float | None = None
) -> dict[str, Any]:
    """The rate-limit status of ``key`` (see :meth:`RateLimiter.status`); counts nothing."""
    return get_rate_limiter().status(key, max_requests, window_size)
