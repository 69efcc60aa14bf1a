"""``redis.asyncio`` twins of the rate-limit storage and the revocation store.

Built by ``RedisRateLimitStorage.to_async()`` / ``RedisRevocationStore.to_async()`` (which
:mod:`tigerseal.aio` calls): a twin shares its sync store's keys, Lua scripts, outage guard,
local fallback and replay queue, and adds an async client to the same server. A rate-limit
decision is one ``EVALSHA`` round trip, as in the sync storage.

An async client belongs to the event loop that first uses it: build one twin per loop
(:func:`tigerseal.aio.get_rate_limiter` does) and ``await twin.aclose()`` when done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tigerseal.aio._pools import run_io
from tigerseal.aio._ratelimit import AsyncRateLimitStorage
from tigerseal.aio._tokens import AsyncRevocationStore
from tigerseal.errors import ConfigError, ProviderUnavailable
from tigerseal.spi import RateLimitDecision, RateLimitPolicy
from tigerseal.spi.services import RATE_LIMIT_ALGORITHMS

from tigerseal_redis._scripts import Script
from tigerseal_redis.storage import _payload, _response_error, hash_tag

if TYPE_CHECKING:
    from tigerseal_redis.revocation import RedisRevocationStore, _Op
    from tigerseal_redis.storage import RedisRateLimitStorage

__all__ = ["AsyncRedisRateLimitStorage", "AsyncRedisRevocationStore"]


class AsyncRedisRateLimitStorage(AsyncRateLimitStorage):
    """Rate-limit storage on ``redis.asyncio`` (see the module docstring).

    Args:
        sync: the synchronous storage whose keys, scripts and outage state to share.
        client: a ``redis.asyncio`` ``Redis`` or ``RedisCluster`` to the same server (short
            timeouts, no retries).
    """

    def __init__(self, sync: RedisRateLimitStorage, client: Any) -> None:
        import redis.asyncio as aredis
        import redis.exceptions as rx

        self.sync = sync
        self._client = client
        # As in the sync storage: a plain client with a shared pool takes the pre-packed path.
        plain = type(client) is aredis.Redis and getattr(client, "connection", None) is None
        self._fast = _HeldConnections(client.connection_pool, rx.ResponseError) if plain else None

    async def acquire(
        self, key: str, policy: RateLimitPolicy, cost: int = 1, *, now: float | None = None
    ) -> RateLimitDecision:
        """Count ``cost`` units against ``key`` if ``policy`` admits them (one round trip)."""
        if cost.__class__ is not int or cost < 0:
            raise ConfigError(f"a rate-limit cost must be a whole number >= 0, got {cost!r}")
        return await self._decide(key, policy, cost, now, False)

    async def peek(
        self, key: str, policy: RateLimitPolicy, *, now: float | None = None
    ) -> RateLimitDecision:
        """Whether one more unit would be admitted, counting nothing."""
        return await self._decide(key, policy, 1, now, True)

    async def reset(self, key: str) -> None:
        """Forget everything recorded for ``key`` (every algorithm).

        Raises:
            ProviderUnavailable: Redis is unreachable (the local fallback is reset anyway).
        """
        sync = self.sync
        tag = hash_tag(key)
        keys = [f"{sync._prefix}{tag}:{alg}" for alg in RATE_LIMIT_ALGORITHMS]
        if sync._fallback_storage is not None:
            sync._fallback_storage.reset(key)

        async def remote() -> None:
            await self._client.execute_command("DEL", *keys)

        def fallback() -> None:
            raise ProviderUnavailable(
                f"cannot reset rate limits of a key: Redis at {sync._guard.server} is "
                "unreachable; retry when it is back"
            )

        await sync._guard.acall(remote, fallback)

    async def _decide(
        self, key: str, policy: RateLimitPolicy, cost: int, now: float | None, peek: bool
    ) -> RateLimitDecision:
        sync = self.sync
        wire, state, now_arg, extra, args = sync._request(key, policy, cost, now, peek)
        fast = self._fast

        async def remote() -> RateLimitDecision:
            if fast is not None:
                payload = _payload(wire, state, cost, now_arg, peek, extra)
                reply = await self._eval(wire.script, state, args, payload)
            else:
                reply = await self._eval(wire.script, state, args, None)
            return sync._decision(policy, reply)

        def fallback() -> RateLimitDecision:
            return sync._fallback_decision(key, policy, cost, now, peek)

        return await sync._guard.acall(remote, fallback)

    async def _eval(
        self, script: Script, key: str, args: tuple[Any, ...], payload: bytes | None
    ) -> Any:
        import redis.exceptions as rx

        try:
            if payload is not None and self._fast is not None:
                return await self._fast.call(payload)
            return await self._client.execute_command("EVALSHA", script.sha, 1, key, *args)
        except rx.NoScriptError:
            # Server restarted or SCRIPT FLUSH: EVAL sends the source and caches it again.
            self.sync._script_loads += 1
            try:
                return await self._client.execute_command("EVAL", script.source, 1, key, *args)
            except rx.ResponseError as exc:
                raise _response_error(script, exc) from exc
        except rx.ResponseError as exc:
            raise _response_error(script, exc) from exc

    async def aclose(self) -> None:
        """Close the async client's connections (the sync storage stays open)."""
        if self._fast is not None:
            await self._fast.aclose()
        await _close(self._client)

    def __repr__(self) -> str:
        return f"AsyncRedisRateLimitStorage(server={self.sync._guard.server!r})"


class AsyncRedisRevocationStore(AsyncRevocationStore):
    """Revocation store on ``redis.asyncio`` (see the module docstring).

    Args:
        sync: the synchronous store whose keys, outage state and replay queue to share.
        client: a ``redis.asyncio`` client to the same server.
    """

    def __init__(self, sync: RedisRevocationStore, client: Any) -> None:
        self.sync = sync
        self._client = client

    async def is_revoked(self, jti: str) -> bool:
        """Whether ``jti`` is on the denylist (one ``EXISTS``)."""
        return await self._exists("jti", jti)

    async def is_family_revoked(self, family_id: str) -> bool:
        """Whether the refresh-token family is revoked (one ``EXISTS``)."""
        return await self._exists("fam", family_id)

    async def _exists(self, op: _Op, ident: str) -> bool:
        sync = self.sync
        key = sync._key(op, ident)

        async def remote() -> bool:
            return bool(await self._client.exists(key))

        return await sync._guard.acall(remote, lambda: sync._exists_fallback(op, ident))

    async def revoke(self, jti: str, expires_at: float) -> None:
        """Deny ``jti`` until ``expires_at`` (+ grace); the sync store's code, in the I/O pool."""
        await run_io(self.sync.revoke, jti, expires_at)

    async def revoke_family(self, family_id: str, expires_at: float) -> None:
        """Deny a refresh family; the sync store's code, in the I/O pool."""
        await run_io(self.sync.revoke_family, family_id, expires_at)

    async def mark_used(self, jti: str, expires_at: float) -> bool:
        """Record a refresh token as used (``SET NX``); the sync store's code, in the I/O pool."""
        return await run_io(self.sync.mark_used, jti, expires_at)

    async def aclose(self) -> None:
        """Close the async client's connections (the sync store stays open)."""
        await _close(self._client)

    def __repr__(self) -> str:
        return f"AsyncRedisRevocationStore(server={self.sync._guard.server!r})"


async def _close(client: Any) -> None:
    """Close a client and, behind Sentinel, the connections to the sentinels it asked."""
    await client.aclose()
    manager = getattr(getattr(client, "connection_pool", None), "sentinel_manager", None)
    for sentinel in getattr(manager, "sentinels", ()):
        await sentinel.aclose()


class _HeldConnections:
    """Pool connections held by the twin between decisions: send pre-packed bytes, read one reply.

    redis-py's generic async path (pool lock, connection health check, retry wrapper,
    observability hooks, per-argument encoding) costs about as much client time as the round
    trip; a decision here takes an idle held connection (or one more from the pool), writes the
    ``EVALSHA`` packed mostly in advance and reads its reply. Connection set-up, AUTH and TLS
    stay redis-py's; the pool's ``max_connections`` still bounds how many are held.
    """

    def __init__(self, pool: Any, response_error: type[BaseException]) -> None:
        self._pool = pool
        self._idle: list[Any] = []
        self._held: list[Any] = []
        self._response_error = response_error

    async def call(self, payload: bytes) -> Any:
        idle = self._idle
        if idle:
            conn = idle.pop()
        else:
            conn = await self._pool.get_connection()
            self._held.append(conn)
        try:
            await conn.send_packed_command([payload], check_health=False)
            reply = await conn.read_response()
        except BaseException as exc:
            if not isinstance(exc, self._response_error):
                # A reply may still be in flight (timeout, cancellation): the next call on this
                # connection starts on a fresh socket (redis-py reconnects on send).
                await conn.disconnect()
            idle.append(conn)
            raise
        idle.append(conn)
        return reply

    async def aclose(self) -> None:
        held, self._held, self._idle = self._held, [], []
        for conn in held:
            await self._pool.release(conn)
