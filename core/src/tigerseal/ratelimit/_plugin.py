"""Built-in plugin: the ``memory://`` rate-limit storage."""

from __future__ import annotations

from tigerseal.hookspecs import hookimpl
from tigerseal.spi.specs import RateLimitStorageSpec


@hookimpl
def register_rate_limit_storage() -> list[RateLimitStorageSpec]:
    """Register ``memory://`` (this process only; ``redis://`` comes from tigerseal-redis)."""
    return [
        RateLimitStorageSpec(
            name="memory",
            factory="tigerseal.ratelimit._memory:from_uri",
            description="in-process rate-limit state (one process; thread-safe)",
        )
    ]
