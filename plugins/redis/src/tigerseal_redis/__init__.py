"""Redis plugin for tigerseal: shared rate-limit storage and token revocation store.

Registers the URI schemes ``redis``, ``rediss`` (TLS) and ``redis+sentinel`` for rate-limit
storage (:class:`~tigerseal_redis.storage.RedisRateLimitStorage`) and token revocation
(:class:`~tigerseal_redis.revocation.RedisRevocationStore`). Cluster: ``redis://host:7000?cluster=1``.

Importing this module imports nothing heavy: redis-py loads when a store is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tigerseal._lazy import lazy_exports
from tigerseal.hookspecs import hookimpl
from tigerseal.spi.specs import RateLimitStorageSpec, RevocationStoreSpec

if TYPE_CHECKING:
    from tigerseal_redis.revocation import RedisRevocationStore
    from tigerseal_redis.storage import RedisRateLimitStorage

__all__ = [
    "RedisRateLimitStorage",
    "RedisRevocationStore",
    "register_rate_limit_storage",
    "register_revocation_stores",
]

ALIASES = ("rediss", "redis+sentinel")


@hookimpl
def register_rate_limit_storage() -> list[RateLimitStorageSpec]:
    """Register the ``redis`` rate-limit storage (``rediss``, ``redis+sentinel`` aliases)."""
    return [
        RateLimitStorageSpec(
            name="redis",
            factory="tigerseal_redis.storage:from_uri",
            description="Redis (Lua sliding window / GCRA, one round trip per decision)",
            aliases=ALIASES,
        )
    ]


@hookimpl
def register_revocation_stores() -> list[RevocationStoreSpec]:
    """Register the ``redis`` revocation store (``rediss``, ``redis+sentinel`` aliases)."""
    return [
        RevocationStoreSpec(
            name="redis",
            factory="tigerseal_redis.revocation:from_uri",
            description="Redis jti denylist and refresh-token families with TTL to expiry",
            aliases=ALIASES,
        )
    ]


__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "RedisRateLimitStorage": "tigerseal_redis.storage",
        "RedisRevocationStore": "tigerseal_redis.revocation",
    },
)
