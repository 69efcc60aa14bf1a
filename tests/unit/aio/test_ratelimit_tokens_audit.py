"""Async rate limits (memory storage), revocation checks and audit under a real event loop."""

from __future__ import annotations

import asyncio
import threading

import pytest
from tigerseal import aio
from tigerseal.errors import (
    InsufficientScopeError,
    RateLimitExceeded,
    TokenReuseError,
    TokenRevokedError,
)
from tigerseal.ratelimit import MemoryRateLimitStorage, ProgressivePenalty, RateLimiter
from tigerseal.tokens import JWTKey, KeySet, MemoryRevocationStore, TokenManager

from tests.unit.aio.conftest import CaptureSink

pytestmark = pytest.mark.anyio


def limiter(**kwargs: object) -> RateLimiter:
    return RateLimiter(
        MemoryRateLimitStorage(), algorithm="sliding_window_log", default_limit=100, **kwargs
    )  # type: ignore[arg-type]


async def test_memory_storage_is_called_on_the_loop_and_shares_limits_with_sync() -> None:
    sync = limiter()
    alim = aio.AsyncRateLimiter(sync)
    assert isinstance(alim.storage, aio.SyncStorageAdapter)
    assert not alim.storage.offload
    results = await asyncio.gather(*(alim.hit("client-1", 5, 60) for _ in range(8)))
    assert results.count(True) == 5
    assert sync.hit("client-1", 5, 60) is False  # the sync limiter sees the same counts
    assert sync.rejections == 4
    status = await alim.status("client-1")
    assert status["requests_remaining"] == 0
    assert status["limit"] == 5
    await alim.reset("client-1")
    assert await alim.hit("client-1", 5, 60)


async def test_enforce_raises_and_rejection_is_audited_once(audit_capture: CaptureSink) -> None:
    alim = aio.AsyncRateLimiter(limiter())
    policy = alim.policy(2, 60)
    await alim.enforce("k", policy)
    await alim.enforce("k", policy)
    for _ in range(3):
        with pytest.raises(RateLimitExceeded, match="rate limit of 2 per 60s exceeded"):
            await alim.enforce("k", policy)
    assert audit_capture.events() == ["excess_rate_limit_exceeded"]
    d = await alim.peek("k", policy)
    assert not d.allowed
    assert "RateLimit" in alim.headers(d, policy)


async def test_penalties_apply_through_the_async_limiter() -> None:
    alim = aio.AsyncRateLimiter(
        limiter(penalty=ProgressivePenalty(strikes_per_level=2, divisor=2, max_level=2))
    )
    policy = alim.policy(8, 60)
    for _ in range(8):
        assert (await alim.acquire("p", policy)).allowed
    for _ in range(2):
        assert not (await alim.acquire("p", policy)).allowed
    assert await alim.penalty_level("p") == 1
    assert (await alim.status("p"))["limit"] == 4


async def test_module_functions_use_the_process_limiter() -> None:
    from tigerseal.ratelimit import get_rate_limiter

    assert await aio.verify_rate_limit("m", 1, 30)
    assert not await aio.verify_rate_limit("m", 1, 30)
    assert aio.get_rate_limiter().limiter is get_rate_limiter()
    assert (await aio.get_rate_limit_status("m"))["requests_made"] == 1


class BlockingStorage(MemoryRateLimitStorage):
    """Not the memory storage as far as async_storage is concerned: offloaded to the pool."""

    threads: set[str]

    def acquire(self, *args: object, **kwargs: object):  # type: ignore[no-untyped-def, override]
        self.threads.add(threading.current_thread().name)
        return super().acquire(*args, **kwargs)  # type: ignore[arg-type]


async def test_other_sync_storage_runs_in_the_io_pool() -> None:
    storage = BlockingStorage()
    storage.threads = set()
    view = aio.async_storage(storage)
    assert isinstance(view, aio.SyncStorageAdapter)
    view.offload = True  # a subclass of memory is still memory; force the third-party path
    alim = aio.AsyncRateLimiter(
        RateLimiter(storage, algorithm="gcra", default_limit=10), storage=view
    )
    assert await alim.hit("x", 3, 10)
    assert storage.threads
    assert all(t.startswith("tigerseal-aio-io") for t in storage.threads)


def manager() -> TokenManager:
    return TokenManager(KeySet([JWTKey.generate("HS256")]), revocation=MemoryRevocationStore())


async def test_revocation_checked_asynchronously() -> None:
    mgr = manager()
    token = mgr.create("alice", ["read"])
    payload = await aio.verify_jwt_token(token, manager=mgr, required_scopes=["read"])
    assert payload.sub == "alice"
    with pytest.raises(InsufficientScopeError):
        await aio.verify_jwt_token(token, manager=mgr, required_scopes=["admin"])
    await aio.revoke_token(token, manager=mgr)
    # Revocation is reported before a missing scope (as in the sync verify).
    with pytest.raises(TokenRevokedError):
        await aio.verify_jwt_token(token, manager=mgr, required_scopes=["admin"])


async def test_refresh_family_revocation() -> None:
    mgr = manager()
    pair = mgr.create_pair("bob")
    new = await aio.refresh_tokens(pair.refresh_token, manager=mgr)
    await aio.verify_jwt_token(new.access_token, manager=mgr)
    with pytest.raises(TokenReuseError):  # reuse of the first refresh token revokes the family
        await aio.refresh_tokens(pair.refresh_token, manager=mgr)
    with pytest.raises(TokenRevokedError):
        await aio.verify_jwt_token(new.refresh_token, manager=mgr, token_type="refresh")


async def test_explicit_async_store_is_consulted() -> None:
    mgr = manager()
    store = MemoryRevocationStore()
    view = aio.async_revocation_store(store)
    token = mgr.create("carol")
    payload = mgr.verify(token)
    await view.revoke(payload.jti, payload.exp)  # type: ignore[arg-type]
    mgr.verify(token)  # the manager's own store knows nothing
    with pytest.raises(TokenRevokedError):
        await aio.verify_jwt_token(token, manager=mgr, revocation=view)


async def test_audit_written_off_the_loop(audit_capture: CaptureSink) -> None:
    record = await aio.audit_security_event(
        "authn_login_fail",
        user_id="u1",
        risk_level="medium",
        source_ip="10.0.0.1",
        outcome="failure",
    )
    assert record["event_type"] == "authn_login_fail"
    assert audit_capture.events() == ["authn_login_fail"]
    await asyncio.gather(
        *(aio.audit_security_event("authn_login_success", user_id=str(i)) for i in range(5))
    )
    assert audit_capture.events().count("authn_login_success") == 5
