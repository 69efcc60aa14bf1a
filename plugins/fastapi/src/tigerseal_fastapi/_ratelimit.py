"""Per-client rate limits: a dependency for chosen routes, a middleware for a whole app.

Both count the request against a :class:`~tigerseal.web.RateLimitRule`, add
``RateLimit-Policy`` and ``RateLimit`` to every response (``Retry-After`` too on a rejection)
and answer a rejected request with 429 ``{"error": "rate_limited", ...}``.

The client is identified by its address (through :class:`~tigerseal.web.TrustedProxies`) unless
a ``key`` function says otherwise (an API key id, a user id). Storage is the limiter's:
decisions on ``memory://`` are taken on the event loop (a microsecond of work); on ``redis://``
through :class:`tigerseal.aio.AsyncRateLimiter` (``redis.asyncio``, one round trip), so the loop
never waits on I/O.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING

from fastapi import Request, Response
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tigerseal.errors import RateLimitExceeded
from tigerseal.ratelimit import MemoryRateLimitStorage, ratelimit_headers
from tigerseal.spi.services import RateLimitDecision, RateLimitPolicy
from tigerseal.web import RateLimitResult, RateLimitRule, TrustedProxies, exempt_prefixes

from tigerseal_fastapi._client import client_ip_from_scope
from tigerseal_fastapi._errors import TigerSealHTTPException, to_http_exception

if TYPE_CHECKING:
    from tigerseal.aio import AsyncRateLimiter
    from tigerseal.ratelimit import RateLimiter

__all__ = ["RateLimit", "RateLimitKey", "RateLimitMiddleware"]

#: Who a request counts against: ``request -> key`` (plain or ``async``).
RateLimitKey = Callable[[Request], "str | Awaitable[str]"]

_LIMITED_MESSAGE = "too many requests; try again later"


class _Checker:
    """What the dependency and the middleware share: the rule, the limiter, the client key."""

    def __init__(
        self,
        rule: RateLimitRule,
        limiter: RateLimiter | None,
        proxies: TrustedProxies | None,
    ) -> None:
        self.rule = rule
        self._limiter = limiter
        self.proxies = proxies or TrustedProxies()
        # Async views of the limiter, one per event loop (an async Redis connection belongs to
        # the loop that opened it).
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncRateLimiter] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def limiter(self) -> RateLimiter:
        limiter = self._limiter
        if limiter is None:
            from tigerseal.ratelimit import get_rate_limiter

            limiter = get_rate_limiter()  # looked up each time: reset_rate_limiter() works
        return limiter

    async def decide(self, key: str) -> tuple[RateLimitPolicy, RateLimitDecision]:
        """Count one request of ``key``: the policy applied and the storage's decision."""
        limiter = self.limiter
        rule = self.rule
        policy = rule.policy(limiter.algorithm)
        if type(limiter.storage) is MemoryRateLimitStorage:
            # A memory decision is a microsecond of work: on the loop, no hop.
            return policy, limiter.acquire(rule.key(key), policy, cost=rule.cost)
        # Redis (or another store): tigerseal.aio's async view, one EVALSHA on redis.asyncio.
        view = self._async_view(limiter)
        return policy, await view.acquire(rule.key(key), policy, cost=rule.cost)

    async def check(self, key: str) -> RateLimitResult:
        """Count one request of ``key``: the decision with its response fields."""
        policy, decision = await self.decide(key)
        return RateLimitResult.of(self.rule, policy, decision)

    def _async_view(self, limiter: RateLimiter) -> AsyncRateLimiter:
        from tigerseal.aio import AsyncRateLimiter

        loop = asyncio.get_running_loop()
        view = self._async.get(loop)
        if view is None or view.limiter is not limiter:
            view = self._async[loop] = AsyncRateLimiter(limiter)
        return view


class RateLimit(_Checker):
    """Dependency: count the request, set the ``RateLimit`` fields, 429 when over the quota.

    ::

        per_client = RateLimit(RateLimitRule(100, 60, name="api"))

        @app.get("/search", dependencies=[Depends(per_client)])
        async def search(q: str): ...

    Args:
        rule: the quota.
        key: who the request counts against (default: the client address).
        proxies: trusted proxies for the client address.
        limiter: the limiter (default: the process-wide one).
    """

    def __init__(
        self,
        rule: RateLimitRule,
        *,
        key: RateLimitKey | None = None,
        proxies: TrustedProxies | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        super().__init__(rule, limiter, proxies)
        self.key = key

    async def _client(self, request: Request) -> str:
        if self.key is None:
            return client_ip_from_scope(request.scope, self.proxies)
        found = self.key(request)
        return await found if inspect.isawaitable(found) else found

    def _reject(self, result: RateLimitResult) -> TigerSealHTTPException:
        exc = to_http_exception(RateLimitExceeded(_LIMITED_MESSAGE, retry_after=result.retry_after))
        exc.headers = result.headers
        return exc

    async def __call__(self, request: Request, response: Response) -> RateLimitResult:
        result = await self.check(await self._client(request))
        if not result.allowed:
            raise self._reject(result)
        # Appended raw (the fields are new on this response): cheaper than MutableHeaders.update.
        response.headers.raw.extend(
            (name.lower().encode(), value.encode("latin-1"))
            for name, value in result.headers.items()
        )
        return result

    async def count(self, request: Request, response: Response) -> None:
        """Count the request as :meth:`__call__` does, without building its result.

        What ``BearerAuth(rate_limit=...)`` calls: the same fields on ``response``, the same 429.
        """
        # The default key and the memory storage inline: no coroutine per step on the hot path.
        if self.key is None:
            client = client_ip_from_scope(request.scope, self.proxies)
        else:
            client = await self._client(request)
        limiter = self.limiter
        rule = self.rule
        if type(limiter.storage) is MemoryRateLimitStorage:
            policy = rule.policy(limiter.algorithm)
            decision = limiter.acquire(rule.key(client), policy, cost=rule.cost)
        else:
            policy, decision = await self.decide(client)
        if not decision.allowed:
            raise self._reject(RateLimitResult.of(self.rule, policy, decision))
        fields = ratelimit_headers(decision, policy, name=self.rule.name)
        response.headers.raw.extend(
            (
                (b"ratelimit-policy", fields["RateLimit-Policy"].encode("latin-1")),
                (b"ratelimit", fields["RateLimit"].encode("latin-1")),
            )
        )


class RateLimitMiddleware(_Checker):
    """ASGI middleware limiting every HTTP request of an application per client.

    ::

        app.add_middleware(RateLimitMiddleware, rule=RateLimitRule(600, 60, name="global"),
                           proxies=TrustedProxies(["10.0.0.0/8"]), exempt={"/health"})

    A plain ASGI middleware (not ``BaseHTTPMiddleware``): it adds the fields to the response's
    start message and costs no extra task per request.

    Args:
        app: the ASGI application.
        rule: the quota.
        key: ``scope -> key`` (default: the client address through ``proxies``).
        proxies: trusted proxies for the client address.
        limiter: the limiter (default: the process-wide one).
        exempt: paths never limited (health checks, metrics): a list or set of exact paths,
            each starting with ``/`` (``/health`` exempts neither ``/health/`` nor
            ``/healthz``). WebSocket and lifespan scopes pass through unlimited.

    Raises:
        ConfigError: ``exempt`` is a single string or holds an entry that is not a path.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        rule: RateLimitRule,
        key: Callable[[Scope], str] | None = None,
        proxies: TrustedProxies | None = None,
        limiter: RateLimiter | None = None,
        exempt: Collection[str] = (),
    ) -> None:
        super().__init__(rule, limiter, proxies)
        self.app = app
        self.key = key
        # A single string would be its characters: "/" exempt. Checked as Django's setting is.
        self.exempt = frozenset(exempt_prefixes(exempt, setting="RateLimitMiddleware(exempt=)"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        key = self.key(scope) if self.key is not None else client_ip_from_scope(scope, self.proxies)
        result = await self.check(key)
        if not result.allowed:
            response = JSONResponse(
                {"error": "rate_limited", "detail": _LIMITED_MESSAGE}, 429, headers=result.headers
            )
            await response(scope, receive, send)
            return
        fields = [(k.lower().encode(), v.encode("latin-1")) for k, v in result.headers.items()]

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *fields]
            await send(message)

        await self.app(scope, receive, send_with_fields)
