"""redis.asyncio twins of the rate-limit storage and revocation store, on a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from tigerseal import aio
from tigerseal.errors import ProviderUnavailable, TokenRevokedError
from tigerseal.ratelimit import RateLimiter
from tigerseal.spi import RateLimitPolicy
from tigerseal.tokens import JWTKey, KeySet, TokenManager
from tigerseal_redis import revocation, storage
from tigerseal_redis.aio import AsyncRedisRateLimitStorage, AsyncRedisRevocationStore

from tests.services.redis import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.anyio]

RETRY = 0.05


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("algorithm", ["sliding_window_log", "sliding_window_counter", "gcra"])
async def test_async_and_sync_share_one_limit(
    algorithm: str, redis_url: str, closing: Callable[[Any], Any]
) -> None:
    sync = closing(storage.from_uri(redis_url))
    twin = aio.async_storage(sync)
    assert isinstance(twin, AsyncRedisRateLimitStorage)
    try:
        policy = RateLimitPolicy(10, 60, algorithm)  # type: ignore[arg-type]
        # 25 concurrent decisions on one key: exactly the limit is admitted (atomic Lua).
        decisions = await asyncio.gather(*(twin.acquire("shared", policy) for _ in range(25)))
        assert sum(d.allowed for d in decisions) == 10
        assert not sync.acquire("shared", policy).allowed
        peek = await twin.peek("shared", policy)
        assert not peek.allowed
        assert peek.remaining == 0
        assert peek.retry_after > 0
        await twin.reset("shared")
        assert (await twin.acquire("shared", policy)).allowed
        assert sync.metrics["remote_calls"] >= 27
    finally:
        await twin.aclose()


async def test_one_round_trip_per_decision(
    redis_url: str, closing: Callable[[Any], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.asyncio.connection import AbstractConnection

    sync = closing(storage.from_uri(redis_url))
    twin = aio.async_storage(sync)
    policy = RateLimitPolicy(100, 60, "sliding_window_log")
    await twin.acquire("rt", policy)  # connects (HELLO...) and may load the script
    sent: list[bytes] = []
    real = AbstractConnection.send_packed_command

    async def spy(self: Any, command: Any, check_health: bool = True) -> None:
        parts = command if isinstance(command, list) else [command]
        sent.append(b"".join(bytes(p) for p in parts))
        await real(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", spy)
    for _ in range(20):
        await twin.acquire("rt", policy)
    assert len(sent) == 20
    assert all(b"EVALSHA" in c for c in sent)
    await twin.aclose()


async def test_script_flush_falls_back_to_eval(
    redis_url: str, closing: Callable[[Any], Any]
) -> None:
    sync = closing(storage.from_uri(redis_url))
    twin = aio.async_storage(sync)
    policy = RateLimitPolicy(5, 60, "gcra")
    assert (await twin.acquire("nf", policy)).allowed
    sync._client.script_flush()
    assert (await twin.acquire("nf", policy)).allowed
    assert sync.metrics["script_loads"] >= 1
    await twin.aclose()


@pytest.mark.parametrize("policy", ["fail_closed", "fail_open", "local"])
async def test_outage_policies_apply_to_the_async_twin(
    policy: str,
    redis_url: str,
    redis_server: RedisServer,
    closing: Callable[[Any], Any],
    audit_capture: Any,
) -> None:
    sync = closing(storage.from_uri(f"{redis_url}?on_outage={policy}&retry_interval={RETRY}"))
    twin = aio.async_storage(sync)
    limit = RateLimitPolicy(3, 3600, "gcra")
    assert (await twin.acquire("k", limit)).allowed
    redis_server.kill()
    allowed = [(await twin.acquire("k", limit)).allowed for _ in range(5)]
    if policy == "fail_closed":
        assert allowed == [False] * 5
    elif policy == "fail_open":
        assert allowed == [True] * 5
    else:
        assert allowed == [True, True, True, False, False]
    assert sync.metrics["state"] == "degraded"  # one guard for the sync and async twins
    assert "redis_unavailable" in audit_capture.events()
    with pytest.raises(ProviderUnavailable):
        await twin.reset("k")
    redis_server.restart()
    for _ in range(400):
        await asyncio.sleep(RETRY)
        await twin.acquire("probe", limit)
        if sync.metrics["state"] == "connected":
            break
    assert sync.metrics["state"] == "connected"
    assert "redis_recovered" in audit_capture.events()
    await twin.aclose()


async def test_async_limiter_over_redis(redis_url: str, closing: Callable[[Any], Any]) -> None:
    sync_storage = closing(storage.from_uri(redis_url))
    alim = aio.AsyncRateLimiter(
        RateLimiter(sync_storage, algorithm="sliding_window_counter", default_limit=50)
    )
    results = await asyncio.gather(*(alim.hit("user:1", 4, 30) for _ in range(6)))
    assert results.count(True) == 4
    assert alim.limiter.rejections == 2
    await alim.aclose()


async def test_revocation_checks_on_redis_asyncio(
    redis_url: str, closing: Callable[[Any], Any]
) -> None:
    store = closing(revocation.from_uri(redis_url))
    mgr = TokenManager(KeySet([JWTKey.generate("HS256")]), revocation=store)
    view = aio.async_revocation_store(store)
    assert isinstance(view, AsyncRedisRevocationStore)
    token = mgr.create("alice")
    await aio.verify_jwt_token(token, manager=mgr, revocation=view)
    await aio.revoke_token(token, manager=mgr)
    with pytest.raises(TokenRevokedError):
        await aio.verify_jwt_token(token, manager=mgr, revocation=view)
    # Default view: built for this loop from the manager's store.
    with pytest.raises(TokenRevokedError):
        await aio.verify_jwt_token(token, manager=mgr)
    assert await view.mark_used("r1", 2_000_000_000) is True
    assert await view.mark_used("r1", 2_000_000_000) is False
    await view.aclose()


async def test_revocation_fail_closed_when_redis_is_down(
    redis_url: str, redis_server: RedisServer, closing: Callable[[Any], Any], audit_capture: Any
) -> None:
    store = closing(revocation.from_uri(f"{redis_url}?retry_interval={RETRY}"))
    view = aio.async_revocation_store(store)
    assert await view.is_revoked("j") is False
    redis_server.kill()
    with pytest.raises(ProviderUnavailable, match="fail_closed"):
        await view.is_revoked("j")
    await view.aclose()


def test_client_built_storage_has_no_async_twin(
    redis_url: str, closing: Callable[[Any], Any]
) -> None:
    import redis

    s = closing(storage.RedisRateLimitStorage(client=redis.Redis.from_url(redis_url)))
    assert s.to_async() is None
    view = aio.async_storage(s)
    assert isinstance(view, aio.SyncStorageAdapter)
    assert view.offload


async def test_cancelled_decision_leaves_no_stray_reply(
    redis_url: str, redis_server: RedisServer, closing: Callable[[Any], Any]
) -> None:
    """A decision cancelled while its reply is in flight must not hand that reply to the next."""
    sync = closing(storage.from_uri(redis_url))
    twin = aio.async_storage(sync)
    policy = RateLimitPolicy(100, 60, "sliding_window_log")
    await twin.acquire("c", policy)
    redis_server.pause()
    try:
        task = asyncio.create_task(twin.acquire("c", policy))
        for _ in range(5):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        redis_server.resume()
    fresh = await twin.peek("fresh-key", policy)
    assert fresh.remaining == 100  # the stray reply for "c" would say 98
    assert (await twin.acquire("c", policy)).remaining in (97, 98)
    await twin.aclose()


async def test_async_twin_through_sentinel(
    redis_sentinel: str, closing: Callable[[Any], Any]
) -> None:
    sync = closing(storage.from_uri(f"{redis_sentinel}?on_outage=fail_closed"))
    twin = aio.async_storage(sync)
    assert isinstance(twin, AsyncRedisRateLimitStorage)
    policy = RateLimitPolicy(3, 60, "gcra")
    allowed = [(await twin.acquire("s", policy)).allowed for _ in range(4)]
    assert allowed == [True, True, True, False]
    assert sync.metrics["state"] == "connected"
    store = closing(revocation.from_uri(redis_sentinel))
    view = aio.async_revocation_store(store)
    store.revoke("j1", 2_000_000_000)
    assert await view.is_revoked("j1") is True
    await view.aclose()
    await twin.aclose()


async def test_async_twin_on_a_cluster(redis_cluster: Any, closing: Callable[[Any], Any]) -> None:
    sync = closing(storage.from_uri(f"{redis_cluster.url}&on_outage=fail_closed"))
    twin = aio.async_storage(sync)
    assert isinstance(twin, AsyncRedisRateLimitStorage)
    assert twin._fast is None  # cluster clients route by slot: redis-py's path
    policy = RateLimitPolicy(2, 60, "sliding_window_log")
    for key in ("a", "b{x}", "c}{"):
        results = await asyncio.gather(*(twin.acquire(key, policy) for _ in range(3)))
        assert sum(d.allowed for d in results) == 2
        assert not sync.acquire(key, policy).allowed
        await twin.reset(key)
        assert (await twin.acquire(key, policy)).allowed
    assert sync.metrics["state"] == "connected"
    await twin.aclose()
