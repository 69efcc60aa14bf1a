"""Token revocation store in Redis: a ``jti`` denylist and refresh-token families.

Every entry expires when the token it concerns would have expired anyway (plus ``grace``
seconds for clock skew and verifier leeway), so the denylist never grows without bound.
``mark_used`` is a single ``SET ... NX``: of two processes presenting one refresh token at the
same moment, exactly one wins and the other sees a reuse.

Outage behaviour (``on_outage``, default ``fail_closed``):

* ``fail_closed`` -- every call raises :class:`~tigerseal.errors.ProviderUnavailable`: no token
  is accepted and no revocation is silently lost.
* ``fail_open`` -- checks answer "not revoked" / "first use"; revocations are queued and written
  to Redis when it returns.
* ``local`` -- checks and writes use core's in-memory store (this process only); writes are
  queued and replayed to Redis when it returns. A refresh token used once during the outage and
  once elsewhere is reported as ``refresh_token_reuse`` in the audit trail on replay.
"""

from __future__ import annotations

import itertools
import math
import secrets
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

from tigerseal.errors import ConfigError, ProviderUnavailable
from tigerseal.spi.services import RevocationStore

from tigerseal_redis._options import (
    OutagePolicy,
    RedisOptions,
    build_async_client,
    build_client,
    parse_uri,
)
from tigerseal_redis._outage import OutageGuard, audit

if TYPE_CHECKING:
    import redis

    from tigerseal_redis.aio import AsyncRedisRevocationStore

__all__ = ["RedisRevocationStore", "from_uri"]

DEFAULT_ON_OUTAGE: OutagePolicy = "fail_closed"

#: Queued writes beyond this are dropped (and counted): memory must stay bounded in an outage.
MAX_PENDING = 100_000

_Op = Literal["jti", "fam", "used"]


class RedisRevocationStore(RevocationStore):
    """:class:`~tigerseal.spi.RevocationStore` on Redis.

    Args:
        client: a redis-py ``Redis`` or ``RedisCluster`` (short timeouts, no retries).
        server: where the server is, for metrics and audit records.
        on_outage: ``fail_closed``, ``fail_open`` or ``local`` (see the module docstring).
        retry_interval: seconds between reconnection attempts while degraded.
        key_prefix: prefix of every key written.
        grace: seconds an entry outlives the token's expiry.
    """

    def __init__(
        self,
        *,
        client: redis.Redis | redis.RedisCluster,
        server: str = "redis",
        on_outage: OutagePolicy = DEFAULT_ON_OUTAGE,
        retry_interval: float = 1.0,
        key_prefix: str = "tigerseal:",
        grace: float = 120.0,
    ) -> None:
        self._client = client
        self._prefix = f"{key_prefix}rev:"
        self._grace = grace
        self._guard = OutageGuard(
            component="revocation",
            server=server,
            policy=on_outage,
            retry_interval=retry_interval,
            on_recover=self._replay,
        )
        self._local: RevocationStore | None = None
        if on_outage == "local":
            # Directly, not by URI: on_outage=local chose a per-process store during an outage,
            # so production's memory:// check must not refuse it.
            from tigerseal.tokens import MemoryRevocationStore

            self._local = MemoryRevocationStore()
        self._pending: deque[tuple[_Op, str, float, str]] = deque()
        self._pending_lock = threading.Lock()
        self._dropped = 0
        self._tag = secrets.token_hex(6)
        self._seq = itertools.count()
        # Set by from_uri: lets to_async() build a redis.asyncio client to the same server.
        self._options: RedisOptions | None = None

    @property
    def on_outage(self) -> str:
        """The outage policy in force."""
        return self._guard.policy

    @property
    def metrics(self) -> dict[str, Any]:
        """Connection state, outage counters and the replay queue."""
        with self._pending_lock:
            pending = len(self._pending)
        return {**self._guard.metrics, "pending_writes": pending, "dropped_writes": self._dropped}

    # -- RevocationStore ---------------------------------------------------------------------
    def revoke(self, jti: str, expires_at: float) -> None:
        """Deny ``jti`` until ``expires_at`` (+ grace)."""
        self._write("jti", jti, expires_at)

    def revoke_family(self, family_id: str, expires_at: float) -> None:
        """Deny every refresh token of ``family_id`` until ``expires_at`` (+ grace)."""
        self._write("fam", family_id, expires_at)

    def is_revoked(self, jti: str) -> bool:
        """Whether ``jti`` is on the denylist."""
        return self._exists("jti", jti)

    def is_family_revoked(self, family_id: str) -> bool:
        """Whether the refresh-token family is revoked."""
        return self._exists("fam", family_id)

    def mark_used(self, jti: str, expires_at: float) -> bool:
        """Record a refresh token as used; ``False`` if some process already did (reuse)."""
        key = self._key("used", jti)
        token = self._token()

        def remote() -> bool:
            return bool(self._client.set(key, token, nx=True, pxat=self._pxat(expires_at)))

        def fallback() -> bool:
            self._check_closed("check a refresh token")
            self._enqueue("used", jti, expires_at, token)
            if self._local is not None:
                return self._local.mark_used(jti, expires_at)
            return True

        return self._guard.call(remote, fallback)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def to_async(self) -> AsyncRedisRevocationStore | None:
        """An async twin on ``redis.asyncio`` sharing this store's outage state and queue.

        Checks (``is_revoked``, ``is_family_revoked``) are one ``EXISTS`` on the async client;
        writes (rare: logout, refresh) run this store's sync code in tigerseal's I/O pool.
        ``None`` when this store was built from a client object rather than a URI.
        """
        if self._options is None:
            return None
        from tigerseal_redis.aio import AsyncRedisRevocationStore

        return AsyncRedisRevocationStore(self, build_async_client(self._options))

    def __repr__(self) -> str:
        return f"RedisRevocationStore(server={self._guard.server!r}, on_outage={self.on_outage!r})"

    # -- internals ---------------------------------------------------------------------------
    def _key(self, op: _Op, ident: str) -> str:
        if not isinstance(ident, str) or not ident:
            raise ConfigError(f"a token id must be a non-empty string, got {ident!r}")
        return f"{self._prefix}{op}:{ident}"

    def _token(self) -> str:
        return f"{self._tag}:{next(self._seq)}"

    def _pxat(self, expires_at: float) -> int:
        if not isinstance(expires_at, int | float) or math.isnan(expires_at):
            raise ConfigError(f"expires_at must be epoch seconds, got {expires_at!r}")
        # Never in the past: Redis would drop the key at once, and the verifier's leeway may
        # still accept a just-expired token.
        floor = time.time() + 1.0
        return math.ceil(max(expires_at + self._grace, floor) * 1000)

    def _check_closed(self, what: str) -> None:
        if self._guard.policy == "fail_closed":
            raise ProviderUnavailable(
                f"cannot {what}: the revocation store (Redis at {self._guard.server}) is "
                "unreachable and on_outage=fail_closed; tokens are refused until it returns"
            )

    def _write(self, op: _Op, ident: str, expires_at: float) -> None:
        key = self._key(op, ident)
        pxat = self._pxat(expires_at)

        def remote() -> None:
            self._client.set(key, "1", pxat=pxat)

        def fallback() -> None:
            self._check_closed("record a revocation")
            self._enqueue(op, ident, expires_at, "1")
            if self._local is not None:
                if op == "jti":
                    self._local.revoke(ident, expires_at)
                else:
                    self._local.revoke_family(ident, expires_at)

        self._guard.call(remote, fallback)

    def _exists(self, op: _Op, ident: str) -> bool:
        key = self._key(op, ident)

        def remote() -> bool:
            return bool(self._client.exists(key))

        return self._guard.call(remote, lambda: self._exists_fallback(op, ident))

    def _exists_fallback(self, op: _Op, ident: str) -> bool:
        """The answer while Redis is unreachable (shared with the async twin)."""
        self._check_closed("check a token against the denylist")
        if self._local is None:
            return False
        if op == "jti":
            return self._local.is_revoked(ident)
        return self._local.is_family_revoked(ident)

    def _enqueue(self, op: _Op, ident: str, expires_at: float, value: str) -> None:
        with self._pending_lock:
            if len(self._pending) >= MAX_PENDING:
                self._dropped += 1
                return
            self._pending.append((op, ident, expires_at, value))

    def _replay(self) -> None:
        """Write what was recorded during the outage; called before the switch back."""
        while True:
            with self._pending_lock:
                if not self._pending:
                    return
                op, ident, expires_at, value = self._pending[0]
            key = self._key(op, ident)
            pxat = self._pxat(expires_at)
            if op == "used":
                # Already used elsewhere -- unless this is our own earlier, interrupted replay
                # of the same entry -- means the token was used twice across the outage.
                if (
                    not self._client.set(key, value, nx=True, pxat=pxat)
                    and self._client.get(key) != value.encode()
                ):
                    audit(
                        "refresh_token_reuse",
                        "high",
                        {"detected": "replay after Redis outage", "server": self._guard.server},
                    )
            else:
                self._client.set(key, value, pxat=pxat)
            with self._pending_lock:
                if self._pending and self._pending[0][:2] == (op, ident):
                    self._pending.popleft()


def from_uri(uri: str, **options: Any) -> RedisRevocationStore:
    """Build a revocation store from ``redis://``, ``rediss://`` or ``redis+sentinel://``.

    Query options (also keyword arguments): ``on_outage`` (default ``fail_closed``, or
    ``TIGERSEAL_REDIS_ON_OUTAGE``), ``retry_interval``, ``key_prefix``, ``cluster=1``,
    ``grace`` (seconds, default 120).

    Raises:
        ConfigError: the URI or an option is invalid.
    """
    opts = parse_uri(uri, default_on_outage=DEFAULT_ON_OUTAGE, **options)
    store = RedisRevocationStore(
        client=build_client(opts),
        server=opts.display,
        on_outage=opts.on_outage,
        retry_interval=opts.retry_interval,
        key_prefix=opts.key_prefix,
        grace=opts.grace,
    )
    store._options = opts
    return store
