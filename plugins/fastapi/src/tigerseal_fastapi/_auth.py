"""Authentication dependencies: bearer JWTs with scopes, and API keys.

::

    from typing import Annotated
    from fastapi import Security
    from tigerseal.tokens import TokenPayload
    from tigerseal_fastapi import BearerAuth

    bearer = BearerAuth(realm="api")

    @app.get("/orders")
    async def orders(token: Annotated[TokenPayload, Security(bearer, scopes=["orders:read"])]):
        return {"user": token.sub}

Scopes come from FastAPI's ``SecurityScopes``: those of every ``Security(...)`` up the
dependency chain are required together. Failures answer as RFC 6750 says: no or bad
credentials 401 with ``WWW-Authenticate: Bearer realm="api"`` (plus
``error="invalid_token"`` when a token was sent); a valid token lacking a scope 403 with
``error="insufficient_scope", scope="orders:read"``. Failures other than "no credentials" are
audited (``authn_token_invalid``, ``authn_token_reuse``, ``authz_fail``) in tigerseal.aio's I/O
pool, so the audit trail's fsync never runs on the event loop.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING

from fastapi import Request, Response
from fastapi.openapi.models import APIKey, APIKeyIn, HTTPBearer
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Imported at run time, not under TYPE_CHECKING: FastAPI evaluates the annotations of
# ``__call__`` to build the dependency, and a name it cannot resolve becomes a query parameter.
from tigerseal.apikeys import APIKeyRecord
from tigerseal.errors import (
    MissingCredentialsError,
    RateLimitExceeded,
    TokenError,
    TokenInvalidError,
)
from tigerseal.ratelimit import ratelimit_headers
from tigerseal.tokens import MemoryRevocationStore, TokenManager, TokenPayload
from tigerseal.web import (
    RateLimitResult,
    RateLimitRule,
    TrustedProxies,
    VerifiedTokens,
    audit_auth_failure,
    bearer_challenge,
    bearer_token,
    exempt_prefixes,
)
from tigerseal.web._verified import check_scopes

from tigerseal_fastapi._client import client_ip_from_scope
from tigerseal_fastapi._errors import TigerSealHTTPException, to_http_exception
from tigerseal_fastapi._ratelimit import _LIMITED_MESSAGE, RateLimit, _Checker

if TYPE_CHECKING:
    from tigerseal.passwords import PepperKeyring
    from tigerseal.ratelimit import RateLimiter

__all__ = ["APIKeyAuth", "APIKeyLookup", "BearerAuth", "BearerAuthMiddleware"]

#: Finds the stored record of an API key by its public id (``None``: no such key).
APIKeyLookup = Callable[[str], "APIKeyRecord | Awaitable[APIKeyRecord | None] | None"]


async def _audit(exc: TokenError, request: Request, proxies: TrustedProxies | None) -> None:
    if isinstance(exc, MissingCredentialsError):
        return  # no credentials is no attack: not worth a record
    from tigerseal.aio import run_io

    await run_io(
        audit_auth_failure,
        exc,
        source_ip=client_ip_from_scope(request.scope, proxies),
        resource=request.url.path,
    )


def _single_header(scope: Scope, name: bytes) -> str | None:
    """The request's one field ``name`` (lower case, as ASGI servers give names), or ``None``.

    Raises:
        TokenInvalidError: more than one was sent (which one a proxy and the application
            each read would be a guess: refused rather than picked).
    """
    found: bytes | None = None
    for key, value in scope["headers"]:
        if key == name:
            if found is not None:
                raise TokenInvalidError(
                    f"the request has more than one {name.decode('latin-1')} header"
                )
            found = value
    return None if found is None else found.decode("latin-1")


def _authorization(scope: Scope) -> str | None:
    """The request's one ``Authorization`` field (see :func:`_single_header`)."""
    return _single_header(scope, b"authorization")


class BearerAuth(SecurityBase):
    """Dependency: verify ``Authorization: Bearer <jwt>`` and the required scopes.

    Use with ``Security(bearer, scopes=[...])`` (or ``Depends(bearer)`` for no scope). The
    result is the verified :class:`~tigerseal.tokens.TokenPayload`. The signature and claims
    are checked on the event loop (microseconds); the revocation store through
    :func:`tigerseal.aio.verify_jwt_token` (``redis.asyncio`` with tigerseal-redis).

    Args:
        manager: the token manager (default: the process-wide one, from settings, looked up
            on each request so ``set_token_manager`` takes effect).
        realm: the ``realm`` of the ``WWW-Authenticate`` challenge.
        audience: the audience to require (default: the manager's).
        proxies: trusted proxies, for the client address written to the audit trail.
        audit_failures: write failures to the audit trail.
        scheme_name: the name of the security scheme in the OpenAPI document.
        auto_error: ``False`` to get ``None`` instead of a 401 when no credentials are sent
            (a bad token or a missing scope still fails).
        cache_size: verified tokens remembered so a repeat skips the signature check (see
            below); ``0`` turns it off.
        rate_limit: a :class:`RateLimit` applied in the same dependency, before the token is
            checked (so guessing tokens is limited too): the same 429 and ``RateLimit`` fields
            as the separate dependency, one dependency resolution fewer per request.

    A token seen before is not re-verified while its ``exp`` holds and the manager's key set
    still maps its ``kid`` to the key that verified it; revocation (in-memory store) and
    scopes are checked on every request. With another revocation store (Redis), every request
    is verified in full through :func:`tigerseal.aio.verify_jwt_token`.
    """

    def __init__(
        self,
        *,
        manager: TokenManager | None = None,
        realm: str | None = None,
        audience: str | None = None,
        proxies: TrustedProxies | None = None,
        audit_failures: bool = True,
        scheme_name: str | None = None,
        auto_error: bool = True,
        cache_size: int = 4096,
        rate_limit: RateLimit | None = None,
    ) -> None:
        if realm is not None:
            bearer_challenge(realm=realm)  # refuse a realm that cannot be sent, now
        self.rate_limit = rate_limit
        self.model = HTTPBearer(bearerFormat="JWT")
        self.scheme_name = scheme_name or type(self).__name__
        self.manager = manager
        self.realm = realm
        self.audience = audience
        self.proxies = proxies
        self.audit_failures = audit_failures
        self.auto_error = auto_error
        self._verified = VerifiedTokens(cache_size)

    async def __call__(
        self, request: Request, response: Response, security_scopes: SecurityScopes
    ) -> TokenPayload | None:
        scope = request.scope
        if self.rate_limit is not None:
            await self.rate_limit.count(request, response)
        scopes = security_scopes.scopes
        try:
            return await self._authenticate(scope, scopes)
        except TokenError as exc:
            if self.audit_failures:
                await _audit(exc, request, self.proxies)
            raise to_http_exception(exc, realm=self.realm, scopes=scopes) from None

    async def _authenticate(self, scope: Scope, scopes: list[str]) -> TokenPayload | None:
        """The verified payload of the request's token (``None``: none sent, not required)."""
        authorization = _authorization(scope)
        manager = self.manager
        if manager is None:
            from tigerseal.tokens import get_token_manager

            manager = get_token_manager()
        store = manager.revocation
        local = store is None or type(store) is MemoryRevocationStore
        # A token verified before is looked up by the field's text first: only verified (so
        # well-formed) tokens are in the cache, so a hit needs no parsing.
        if local and authorization is not None and authorization.startswith("Bearer "):
            hit = self._verified.lookup(authorization[7:], manager, self.audience)
            if hit is not None:
                payload, granted = hit
                manager.check_revocation(payload)
                check_scopes(payload, granted, scopes)
                return payload
        token = bearer_token(authorization)
        if token is None:
            if not self.auto_error:
                return None
            raise MissingCredentialsError("no bearer token was sent")
        return await self._verify(token, scopes, manager, local)

    async def _verify(
        self,
        token: str,
        scopes: list[str],
        manager: TokenManager | None = None,
        local: bool | None = None,
    ) -> TokenPayload:
        if manager is None:
            manager = self.manager
            if manager is None:
                from tigerseal.tokens import get_token_manager

                manager = get_token_manager()
        if local is None:
            store = manager.revocation
            local = store is None or type(store) is MemoryRevocationStore
        if local:
            # In-memory (or no) revocation store: everything is synchronous and local.
            return self._verified.verify(token, manager, audience=self.audience, scopes=scopes)
        # Another store (Redis): verified in full, the store consulted through redis.asyncio.
        from tigerseal.aio import verify_jwt_token

        payload = await verify_jwt_token(token, audience=self.audience, manager=manager)
        check_scopes(payload, None, scopes)
        return payload


class APIKeyAuth(SecurityBase):
    """Dependency: authenticate an API key from a header and check the required scopes.

    The key's public id (:func:`tigerseal.apikeys.api_key_id`) is derived from the key and
    passed to ``lookup``, which returns the stored :class:`~tigerseal.apikeys.APIKeyRecord`
    (or ``None``); the key is then checked against the record's hash in constant time, with
    its expiry and scopes. The result is the record.

    Args:
        lookup: ``key_id -> record | None`` (a plain or ``async`` function; a plain one runs
            on the event loop, so it must not block: use ``async`` for a database).
        header: the request header holding the key.
        realm: the ``realm`` of the ``WWW-Authenticate: ApiKey`` challenge.
        pepper: the pepper keys were hashed under (``hash_api_key(key, pepper=...)``).
        proxies: trusted proxies, for the client address written to the audit trail.
        audit_failures: write failures to the audit trail.
        scheme_name: the name of the security scheme in the OpenAPI document.
        auto_error: ``False`` to get ``None`` instead of a 401 when no key is sent.
    """

    def __init__(
        self,
        lookup: APIKeyLookup,
        *,
        header: str = "X-API-Key",
        realm: str | None = None,
        pepper: PepperKeyring | None = None,
        proxies: TrustedProxies | None = None,
        audit_failures: bool = True,
        scheme_name: str | None = None,
        auto_error: bool = True,
    ) -> None:
        if realm is not None:
            bearer_challenge(realm=realm, scheme="ApiKey")
        self.model = APIKey.model_validate({"in": APIKeyIn.header, "name": header})
        self.scheme_name = scheme_name or type(self).__name__
        self.lookup = lookup
        self.header = header
        self._name = header.lower().encode("latin-1")
        self.realm = realm
        self.pepper = pepper
        self.proxies = proxies
        self.audit_failures = audit_failures
        self.auto_error = auto_error

    async def __call__(
        self, request: Request, security_scopes: SecurityScopes
    ) -> APIKeyRecord | None:
        from tigerseal.apikeys import api_key_id

        scopes = security_scopes.scopes
        try:
            key = _single_header(request.scope, self._name)
            if not key:
                if not self.auto_error:
                    return None
                raise MissingCredentialsError("no API key was sent")
            found = self.lookup(api_key_id(key))
            if inspect.isawaitable(found):
                found = await found
            if found is None:
                raise TokenInvalidError("the API key is not valid")
            return found.check(key, required_scopes=scopes, pepper=self.pepper)
        except TokenError as exc:
            if self.audit_failures:
                await _audit(exc, request, self.proxies)
            raise to_http_exception(exc, realm=self.realm, scopes=scopes, scheme="ApiKey") from None


class BearerAuthMiddleware:
    """ASGI middleware: bearer JWT on every HTTP request, rate limited per token subject.

    The cheapest shape of "JWT + rate limit" for an application whose routes all need a
    token: no FastAPI dependency is resolved (each costs about as much as tigerseal's checks
    together). The verified :class:`~tigerseal.tokens.TokenPayload` is left in the request
    state (``request.state.token``)::

        bearer = BearerAuth(realm="api")
        app.add_middleware(BearerAuthMiddleware, bearer=bearer,
                           rate_limit=RateLimitRule(600, 60, name="user"),
                           scopes=["api"], exempt={"/health", "/login"})

        @app.get("/me")
        async def me(request: Request):
            return {"user": request.state.token.sub}

    Routes needing more scopes still use ``Security(bearer, scopes=[...])`` (a cache hit).
    Failures answer as the dependency does: 401/403 with the RFC 6750 challenge, 429 with
    ``Retry-After``, body ``{"error": code, "detail": message}``; failures are audited as the
    dependency audits them. The quota is counted after the token verified, keyed by its
    ``sub`` (a client without a valid token is refused before it can use any quota).

    Args:
        app: the ASGI application.
        bearer: the :class:`BearerAuth` whose manager, realm, audience, cache and audit
            settings apply.
        scopes: scopes every request's token must grant.
        rate_limit: the per-subject quota (``None``: no limit).
        limiter: the limiter (default: the process-wide one).
        exempt: exact paths served without a token (``/health``, ``/login``); WebSocket and
            lifespan scopes pass through untouched.

    Raises:
        ConfigError: ``exempt`` is a single string or holds an entry that is not a path.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        bearer: BearerAuth,
        scopes: Collection[str] = (),
        rate_limit: RateLimitRule | None = None,
        limiter: RateLimiter | None = None,
        exempt: Collection[str] = (),
    ) -> None:
        self.app = app
        self.bearer = bearer
        self.scopes = [scopes] if isinstance(scopes, str) else list(scopes)
        self.limit = None if rate_limit is None else _Checker(rate_limit, limiter, None)
        self.exempt = frozenset(exempt_prefixes(exempt, setting="BearerAuthMiddleware(exempt=)"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        bearer = self.bearer
        try:
            try:
                payload = await bearer._authenticate(scope, self.scopes)
            except TokenError as exc:
                if bearer.audit_failures:
                    await _audit(exc, Request(scope), bearer.proxies)
                raise to_http_exception(exc, realm=bearer.realm, scopes=self.scopes) from None
            if payload is None:  # auto_error=False: no token, no identity to limit
                await self.app(scope, receive, send)
                return
            fields: list[tuple[bytes, bytes]] = []
            if self.limit is not None:
                policy, decision = await self.limit.decide(payload.sub or "")
                if not decision.allowed:
                    result = RateLimitResult.of(self.limit.rule, policy, decision)
                    limited = to_http_exception(
                        RateLimitExceeded(_LIMITED_MESSAGE, retry_after=result.retry_after)
                    )
                    limited.headers = result.headers
                    raise limited
                named = ratelimit_headers(decision, policy, name=self.limit.rule.name)
                fields = [
                    (b"ratelimit-policy", named["RateLimit-Policy"].encode("latin-1")),
                    (b"ratelimit", named["RateLimit"].encode("latin-1")),
                ]
        except TigerSealHTTPException as failed:
            response = JSONResponse(
                {"error": failed.error, "detail": failed.detail},
                failed.status_code,
                headers=failed.headers,
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["token"] = payload
        if not fields:
            await self.app(scope, receive, send)
            return

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *fields]
            await send(message)

        await self.app(scope, receive, send_with_fields)
