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

import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import Request, Response
from fastapi.openapi.models import APIKey, APIKeyIn, HTTPBearer
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase

# Imported at run time, not under TYPE_CHECKING: FastAPI evaluates the annotations of
# ``__call__`` to build the dependency, and a name it cannot resolve becomes a query parameter.
from tigerseal.apikeys import APIKeyRecord
from tigerseal.errors import (
    MissingCredentialsError,
    TokenError,
    TokenInvalidError,
    TokenRevokedError,
)
from tigerseal.tokens import MemoryRevocationStore, TokenManager, TokenPayload
from tigerseal.web import TrustedProxies, audit_auth_failure, bearer_challenge, bearer_token

from tigerseal_fastapi._client import client_ip_from_scope
from tigerseal_fastapi._errors import to_http_exception
from tigerseal_fastapi._ratelimit import RateLimit

if TYPE_CHECKING:
    from tigerseal.passwords import PepperKeyring

__all__ = ["APIKeyAuth", "APIKeyLookup", "BearerAuth"]

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


class _VerifiedTokens:
    """Tokens whose signature and claims verified, so a repeat skips the signature check.

    A client sends the same access token on every request; checking its signature, decoding
    and parsing it again each time was most of what the dependency cost. An entry is reused
    only while, on every request: the manager is the same object, the key set still maps the
    token's ``kid``/``alg`` to the very key that verified it (a key removed, replaced or
    refreshed from JWKS is a miss), and ``exp`` has not passed (with the manager's leeway).
    Revocation and scopes are checked on every request, hit or not. Only verified tokens are
    stored (an attacker cannot fill it with garbage), at most ``size`` of them.
    """

    __slots__ = ("_entries", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: dict[str, tuple[TokenManager, object, float, TokenPayload]] = {}

    def get(self, token: str, manager: TokenManager) -> TokenPayload | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        owner, key, exp, payload = entry
        if owner is not manager or exp <= time.time() - manager.leeway:
            self._entries.pop(token, None)
            return None
        header = payload.header
        try:
            if manager.keys.select(header.get("kid"), header.get("alg")) is not key:
                raise TokenInvalidError("the key changed")
        except TokenError:
            self._entries.pop(token, None)
            return None
        return payload

    def put(self, token: str, manager: TokenManager, payload: TokenPayload) -> None:
        exp = payload.get("exp")
        if self.size <= 0 or not isinstance(exp, int | float) or isinstance(exp, bool):
            return
        header = payload.header
        try:
            key = manager.keys.select(header.get("kid"), header.get("alg"))
        except TokenError:
            return
        entries = self._entries
        if len(entries) >= self.size:
            # Drop the oldest; another thread may have done so already.
            with contextlib.suppress(KeyError, StopIteration, RuntimeError):
                del entries[next(iter(entries))]
        entries[token] = (manager, key, float(exp), payload)


def _check_revocation(store: Any, payload: TokenPayload) -> None:
    """The revocation checks of ``TokenManager.verify`` on an in-memory store."""
    jti = payload.jti
    if jti is not None and store.is_revoked(jti):
        raise TokenRevokedError("the token has been revoked; sign in again")
    family = payload.family
    if family is not None and store.is_family_revoked(family):
        raise TokenRevokedError("the token's sign-in has been revoked; sign in again")


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
        self._verified = _VerifiedTokens(cache_size)

    async def __call__(
        self, request: Request, response: Response, security_scopes: SecurityScopes
    ) -> TokenPayload | None:
        if self.rate_limit is not None:
            await self.rate_limit(request, response)
        scopes = security_scopes.scopes
        try:
            token = bearer_token(request.headers.get("authorization"))
            if token is None:
                if not self.auto_error:
                    return None
                raise MissingCredentialsError("no bearer token was sent")
            return await self._verify(token, scopes)
        except TokenError as exc:
            if self.audit_failures:
                await _audit(exc, request, self.proxies)
            raise to_http_exception(exc, realm=self.realm, scopes=scopes) from None

    async def _verify(self, token: str, scopes: list[str]) -> TokenPayload:
        manager = self.manager
        if manager is None:
            from tigerseal.tokens import get_token_manager

            manager = get_token_manager()
        store = manager.revocation
        local = store is None or type(store) is MemoryRevocationStore
        payload = self._verified.get(token, manager) if local else None
        if payload is None:
            from tigerseal.aio import verify_jwt_token

            payload = await verify_jwt_token(token, audience=self.audience, manager=manager)
            if local:
                self._verified.put(token, manager, payload)
        elif store is not None:
            _check_revocation(store, payload)
        if scopes:
            from tigerseal.tokens import validate_token_scopes

            validate_token_scopes(payload, scopes)
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
        key = request.headers.get(self.header)
        try:
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
