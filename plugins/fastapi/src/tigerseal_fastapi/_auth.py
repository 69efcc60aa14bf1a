"""Authentication dependencies: bearer JWTs with scopes, and API keys.

::

    from fastapi import Security
    from tigerseal.tokens import TokenPayload
    from tigerseal_fastapi import BearerAuth

    bearer = BearerAuth(realm="api")

    @app.get("/orders")
    async def orders(token: TokenPayload = Security(bearer, scopes=["orders:read"])):
        return {"user": token.sub}

Scopes come from FastAPI's ``SecurityScopes``: those of every ``Security(...)`` up the
dependency chain are required together. Failures answer as RFC 6750 says: no or bad
credentials 401 with ``WWW-Authenticate: Bearer realm="api"`` (plus
``error="invalid_token"`` when a token was sent); a valid token lacking a scope 403 with
``error="insufficient_scope", scope="orders:read"``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.openapi.models import APIKey, APIKeyIn, HTTPBearer
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase

# Imported at run time, not under TYPE_CHECKING: FastAPI evaluates the annotations of
# ``__call__`` to build the dependency, and a name it cannot resolve becomes a query parameter.
from tigerseal.apikeys import APIKeyRecord
from tigerseal.errors import (
    InsufficientScopeError,
    MissingCredentialsError,
    TokenError,
    TokenReuseError,
)
from tigerseal.tokens import TokenManager, TokenPayload
from tigerseal.web import bearer_challenge, bearer_token

from tigerseal_fastapi._errors import to_http_exception

if TYPE_CHECKING:
    from tigerseal.passwords import PepperKeyring

__all__ = ["APIKeyAuth", "APIKeyLookup", "BearerAuth"]

log = logging.getLogger("tigerseal_fastapi")

#: Finds the stored record of an API key by its public id (``None``: no such key).
APIKeyLookup = Callable[[str], "APIKeyRecord | Awaitable[APIKeyRecord | None] | None"]


def _audit(event_type: str, risk_level: str, reason: str, **fields: Any) -> None:
    try:
        from tigerseal.audit import audit_security_event

        audit_security_event(
            event_type, risk_level=risk_level, details={"reason": reason}, **fields
        )
    except Exception:
        # The request must get its 401/403 even when the audit trail cannot be written.
        log.warning("could not audit %s", event_type, exc_info=True)


class BearerAuth(SecurityBase):
    """Dependency: verify ``Authorization: Bearer <jwt>`` and the required scopes.

    Use with ``Security(bearer, scopes=[...])`` (or ``Depends(bearer)`` for no scope). The
    result is the verified :class:`~tigerseal.tokens.TokenPayload`.

    Args:
        manager: the token manager (default: the process-wide one, from settings, looked up
            on each request so ``set_token_manager`` takes effect).
        realm: the ``realm`` of the ``WWW-Authenticate`` challenge.
        audience: the audience to require (default: the manager's).
        audit_failures: write ``authn_token_invalid`` / ``authz_fail`` audit events.
        scheme_name: the name of the security scheme in the OpenAPI document.
        auto_error: ``False`` to get ``None`` instead of a 401 when no credentials are sent
            (a bad token or a missing scope still fails).
    """

    def __init__(
        self,
        *,
        manager: TokenManager | None = None,
        realm: str | None = None,
        audience: str | None = None,
        audit_failures: bool = True,
        scheme_name: str | None = None,
        auto_error: bool = True,
    ) -> None:
        if realm is not None:
            bearer_challenge(realm=realm)  # refuse a realm that cannot be sent, now
        self.model = HTTPBearer(bearerFormat="JWT")
        self.scheme_name = scheme_name or type(self).__name__
        self.manager = manager
        self.realm = realm
        self.audience = audience
        self.audit_failures = audit_failures
        self.auto_error = auto_error

    def _manager(self) -> TokenManager:
        if self.manager is not None:
            return self.manager
        from tigerseal.tokens import get_token_manager

        return get_token_manager()

    async def __call__(
        self, request: Request, security_scopes: SecurityScopes
    ) -> TokenPayload | None:
        scopes = security_scopes.scopes
        try:
            token = bearer_token(request.headers.get("authorization"))
            if token is None:
                if not self.auto_error:
                    return None
                raise MissingCredentialsError("no bearer token was sent")
            # Signature and claim checks are microseconds of CPU: no thread hop needed.
            return self._manager().verify(token, required_scopes=scopes, audience=self.audience)
        except TokenError as exc:
            self._audit(exc, request, scopes)
            raise to_http_exception(exc, realm=self.realm, scopes=scopes) from None

    def _audit(self, exc: TokenError, request: Request, scopes: list[str]) -> None:
        if not self.audit_failures or isinstance(exc, MissingCredentialsError):
            return
        source = request.client.host if request.client else None
        if isinstance(exc, InsufficientScopeError):
            _audit(
                "authz_fail",
                "medium",
                type(exc).__name__,
                source_ip=source,
                resource=request.url.path,
            )
        elif isinstance(exc, TokenReuseError):
            _audit("authn_token_reuse", "high", type(exc).__name__, source_ip=source)
        else:
            _audit("authn_token_invalid", "medium", type(exc).__name__, source_ip=source)


class APIKeyAuth(SecurityBase):
    """Dependency: authenticate an API key from a header and check the required scopes.

    The key's public id (:func:`tigerseal.apikeys.api_key_id`) is derived from the key and
    passed to ``lookup``, which returns the stored :class:`~tigerseal.apikeys.APIKeyRecord`
    (or ``None``); the key is then checked against the record's hash in constant time, with
    its expiry and scopes. The result is the record.

    Args:
        lookup: ``key_id -> record | None`` (a plain or ``async`` function).
        header: the request header holding the key.
        realm: the ``realm`` of the ``WWW-Authenticate: ApiKey`` challenge.
        pepper: the pepper keys were hashed under (``hash_api_key(key, pepper=...)``).
        audit_failures: write ``authn_token_invalid`` / ``authz_fail`` audit events.
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
        audit_failures: bool = True,
        scheme_name: str | None = None,
        auto_error: bool = True,
    ) -> None:
        if realm is not None:
            bearer_challenge(realm=realm, scheme="ApiKey")
        self.pepper = pepper
        self.model = APIKey.model_validate({"in": APIKeyIn.header, "name": header})
        self.scheme_name = scheme_name or type(self).__name__
        self.lookup = lookup
        self.header = header
        self.realm = realm
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
                from tigerseal.errors import TokenInvalidError

                raise TokenInvalidError("the API key is not valid")
            return found.check(key, required_scopes=scopes, pepper=self.pepper)
        except TokenError as exc:
            if self.audit_failures and not isinstance(exc, MissingCredentialsError):
                source = request.client.host if request.client else None
                if isinstance(exc, InsufficientScopeError):
                    _audit(
                        "authz_fail",
                        "medium",
                        type(exc).__name__,
                        source_ip=source,
                        resource=request.url.path,
                    )
                else:
                    _audit("authn_token_invalid", "medium", type(exc).__name__, source_ip=source)
            raise to_http_exception(exc, realm=self.realm, scopes=scopes, scheme="ApiKey") from None
