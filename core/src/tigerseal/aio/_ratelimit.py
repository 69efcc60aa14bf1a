"""Rate limiting for ``async def`` code: async storage and ``AsyncRateLimiter``."""

from __future__ import annotations

import asyncio
import time
import weakref
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from tigerseal import observe as _observe
from tigerseal.aio._pools import run_io, run_io_to_completion
from tigerseal.ratelimit._limiter import DEFAULT_WINDOW, _short
from tigerseal.ratelimit.storage_keys import strikes_key, user_key
from tigerseal.spi import RateLimitDecision, RateLimitPolicy

if TYPE_CHECKING:
    from tigerseal.ratelimit import RateLimiter
    from tigerseal.spi import RateLimitStorage

__all__ = [
    "AsyncRateLimitStorage",
    "AsyncRateLimiter",
    "SyncStorageAdapter",
    "async_storage",
    "get_rate_limit_status",
    "get_rate_limiter",
    "verify_rate_limit",
]


class AsyncRateLimitStorage(ABC):
    """Async counterpart of :class:`~tigerseal.spi.RateLimitStorage` (same semantics)."""

    @abstractmethod
    async def acquire(
        self, key: str, policy: RateLimitPolicy, cost: int = 1, *, now: float | None = None
    ) -> RateLimitDecision:
        """Count ``cost`` units against ``key`` if ``policy`` admits them."""

    @abstractmethod
    async def peek(
        self, key: str, policy: RateLimitPolicy, *, now: float | None = None
    ) -> RateLimitDecision:
        """Whether one more unit would be admitted, counting nothing."""

    @abstractmethod
    async def reset(self, key: str) -> None:
        """Forget everything recorded for ``key``."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Idempotent."""


class SyncStorageAdapter(AsyncRateLimitStorage):
    """A synchronous storage behind the async interface.

    Args:
        storage: the storage.
        offload: run each call in the I/O pool (for storages that block on the network);
            ``False`` calls it directly on the event loop, right for the in-memory storage
            (a decision takes a few microseconds, less than a thread hop).
    """

    def __init__(self, storage: RateLimitStorage, *, offload: bool) -> None:
        self.storage = storage
        self.offload = offload

    async def acquire(
        self, key: str, policy: RateLimitPolicy, cost: int = 1, *, now: float | None = None
    ) -> RateLimitDecision:
        if not self.offload:
            return self.storage.acquire(key, policy, cost, now=now)
        return await run_io(self.storage.acquire, key, policy, cost, now=now)

    async def peek(
        self, key: str, policy: RateLimitPolicy, *, now: float | None = None
    ) -> RateLimitDecision:
        if not self.offload:
            return self.storage.peek(key, policy, now=now)
        return await run_io(self.storage.peek, key, policy, now=now)

    async def reset(self, key: str) -> None:
        if not self.offload:
            self.storage.reset(key)
        else:
            await run_io(self.storage.reset, key)

    async def aclose(self) -> None:
        """Nothing: the sync storage belongs to its owner (the sync limiter) and stays open."""

    def __repr__(self) -> str:
        return f"SyncStorageAdapter({self.storage!r}, offload={self.offload})"


def async_storage(storage: RateLimitStorage) -> AsyncRateLimitStorage:
    """The async view of a storage.

    A storage with a native async twin (``to_async()``, e.g. tigerseal-redis on
    ``redis.asyncio``) returns it; the in-memory storage is called directly; any other runs in
    the I/O pool.
    """
    to_async = getattr(storage, "to_async", None)
    if callable(to_async):
        twin = to_async()
        if twin is not None:
            return twin  # type: ignore[no-any-return]
    from tigerseal.ratelimit import MemoryRateLimitStorage

    return SyncStorageAdapter(storage, offload=not isinstance(storage, MemoryRateLimitStorage))


class AsyncRateLimiter:
    """Async twin of :class:`~tigerseal.ratelimit.RateLimiter`.

    Shares the policies, penalties, rejection counters and audit bookkeeping of a synchronous
    limiter (by default the process-wide one) and talks to the storage through its async view
    (:func:`async_storage`). With Redis each decision is one ``EVALSHA`` on ``redis.asyncio``,
    the same Lua scripts as the sync storage, so sync and async callers share limits.

    An async Redis client is bound to the event loop that first uses it: build one limiter per
    loop (:func:`get_rate_limiter` keeps one per running loop).

    Args:
        limiter: the sync limiter whose configuration to share (default: the process-wide one,
            :func:`tigerseal.ratelimit.get_rate_limiter`).
        storage: the async storage (default: ``async_storage(limiter.storage)``).
    """

    def __init__(
        self, limiter: RateLimiter | None = None, *, storage: AsyncRateLimitStorage | None = None
    ) -> None:
        if limiter is None:
            from tigerseal.ratelimit import get_rate_limiter as shared

            limiter = shared()
        self.limiter = limiter
        self.storage = storage if storage is not None else async_storage(limiter.storage)

    @property
    def default_policy(self) -> RateLimitPolicy:
        """The limiter's default policy."""
        return self.limiter.default_policy

    def policy(
        self, max_requests: int | None = None, window_size: float = DEFAULT_WINDOW
    ) -> RateLimitPolicy:
        """See :meth:`RateLimiter.policy`."""
        return self.limiter.policy(max_requests, window_size)

    async def _effective(self, key: str, policy: RateLimitPolicy) -> RateLimitPolicy:
        penalty = self.limiter.penalty
        if penalty is None:
            return policy
        level = await self.penalty_level(key)
        if level <= 0:
            return policy
        limit = max(1, policy.limit // penalty.divisor**level)
        burst = None if policy.burst is None else max(1, policy.burst // penalty.divisor**level)
        return RateLimitPolicy(limit, policy.window, policy.algorithm, burst)

    async def penalty_level(self, key: str) -> int:
        """The key's current penalty level (0: none)."""
        penalty = self.limiter.penalty
        if penalty is None:
            return 0
        strikes_policy = penalty.strike_policy
        peek = await self.storage.peek(strikes_key(key), strikes_policy)
        strikes = strikes_policy.limit - peek.remaining
        return min(penalty.max_level, strikes // penalty.strikes_per_level)

    async def hit(
        self,
        key: str,
        max_requests: int | None = None,
        window_size: float = DEFAULT_WINDOW,
        *,
        cost: int = 1,
    ) -> bool:
        """Count one request (of ``cost`` units) for ``key``; whether it is admitted."""
        lim = self.limiter
        policy = lim._policies.get((max_requests, window_size)) or lim.policy(
            max_requests, window_size
        )
        return (await self.acquire(key, policy, cost=cost)).allowed

    async def acquire(
        self, key: str, policy: RateLimitPolicy | None = None, *, cost: int = 1
    ) -> RateLimitDecision:
        """Count ``cost`` units for ``key`` under ``policy`` (see :meth:`RateLimiter.acquire`)."""
        lim = self.limiter
        if policy is None:
            policy = lim.default_policy
        elif policy is not lim.default_policy and lim._key_policies.get(_short(key)) is not policy:
            lim._remember(key, policy)
        effective = await self._effective(key, policy)
        decision = await self.storage.acquire(user_key(key), effective, cost)
        if _observe.on:
            _observe.rate_limit_decision(effective.algorithm, decision.allowed)
        if not decision.allowed:
            if lim._count_rejection(key, effective):
                # The audit trail may fsync: not on the event loop.
                await run_io_to_completion(lim._audit, key, effective, decision)
            if lim.penalty is not None:
                await self.storage.acquire(strikes_key(key), lim.penalty.strike_policy)
        return decision

    async def enforce(
        self, key: str, policy: RateLimitPolicy | None = None, *, cost: int = 1
    ) -> RateLimitDecision:
        """Like :meth:`acquire`, but a rejection raises :class:`~tigerseal.RateLimitExceeded`."""
        decision = await self.acquire(key, policy, cost=cost)
        if not decision.allowed:
            raise self.limiter.exceeded(decision, policy)
        return decision

    async def peek(self, key: str, policy: RateLimitPolicy | None = None) -> RateLimitDecision:
        """The key's state, counting nothing."""
        if policy is None:
            policy = self.limiter._key_policies.get(_short(key), self.limiter.default_policy)
        return await self.storage.peek(user_key(key), await self._effective(key, policy))

    async def reset(self, key: str) -> None:
        """Forget the key's state, strikes and remembered policy."""
        await self.storage.reset(user_key(key))
        if self.limiter.penalty is not None:
            await self.storage.reset(strikes_key(key))
        short = _short(key)
        with self.limiter._lock:
            self.limiter._key_policies.pop(short, None)
            self.limiter._audited.pop(short, None)

    async def status(
        self, key: str, max_requests: int | None = None, window_size: float | None = None
    ) -> dict[str, Any]:
        """The seed's status dict of ``key`` (see :meth:`RateLimiter.status`); counts nothing."""
        lim = self.limiter
        if max_requests is None and window_size is None:
            policy = lim._key_policies.get(_short(key), lim.default_policy)
        else:
            policy = lim.policy(
                max_requests, DEFAULT_WINDOW if window_size is None else window_size
            )
        effective = await self._effective(key, policy)
        decision = await self.storage.peek(user_key(key), effective)
        used = max(0, effective.limit - decision.remaining)
        return {
            "key": key,
            "limit": effective.limit,
            "window_size": policy.window,
            "algorithm": policy.algorithm,
            "requests_made": used,
            "requests_remaining": decision.remaining,
            "reset_after": decision.reset_after,
            "reset_time": time.time() + decision.reset_after,
            "retry_after": decision.retry_after,
            "allowed": decision.allowed,
            "penalty_level": await self.penalty_level(key),
            "headers": lim.headers(decision, effective),
        }

    def headers(self, decision: RateLimitDecision, policy: RateLimitPolicy) -> dict[str, str]:
        """IETF ``RateLimit``/``RateLimit-Policy`` (and ``Retry-After``) for a decision."""
        return self.limiter.headers(decision, policy)

    async def aclose(self) -> None:
        """Close the async storage's connections (the sync limiter's storage stays open)."""
        await self.storage.aclose()

    def __repr__(self) -> str:
        return f"AsyncRateLimiter({self.storage!r})"


# One limiter per running loop (an async Redis connection belongs to the loop that made it).
_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncRateLimiter] = (
    weakref.WeakKeyDictionary()
)


def get_rate_limiter() -> AsyncRateLimiter:
    """The async view of the process-wide limiter, one per running event loop."""
    from tigerseal.ratelimit import get_rate_limiter as shared

    loop = asyncio.get_running_loop()
    sync = shared()
    current = _per_loop.get(loop)
    if current is None or current.limiter is not sync:  # the shared one was replaced
        current = _per_loop[loop] = AsyncRateLimiter(sync)
    return current


async def _shared() -> AsyncRateLimiter:
    """:func:`get_rate_limiter`, building the process-wide limiter in the I/O pool if needed.

    Its first build reads the settings (pydantic, every variable validated) and may connect
    a storage: not on the event loop, where it would hold up every request.
    """
    from tigerseal.ratelimit import _LIMITER
    from tigerseal.ratelimit import get_rate_limiter as shared

    if _LIMITER.peek() is None:
        await run_io(shared)
    return get_rate_limiter()


async def verify_rate_limit(
    key: str,
    max_requests: int | None = None,
    window_size: float = DEFAULT_WINDOW,
    *,
    cost: int = 1,
) -> bool:
    """Count a request for ``key``; whether it is admitted (:func:`tigerseal.verify_rate_limit`)."""
    return await (await _shared()).hit(key, max_requests, window_size, cost=cost)


async def get_rate_limit_status(
    key: str, max_requests: int | None = None, window_size: float | None = None
) -> dict[str, Any]:
    """The rate-limit status of ``key``; counts nothing."""
    return await (await _shared()).status(key, max_requests, window_size)
