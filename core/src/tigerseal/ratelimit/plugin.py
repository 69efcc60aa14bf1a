"""Built-in plugin: memory rate-limit storage."""

from __future__ import annotations

from tigerseal.hookspecs import hookimpl
from tigerseal.spi.specs import RateLimitStorageSpec


@hookimpl
def register_rate_limit_storage() -> list[RateLimitStorageSpec]:
    return []
