"""Request authentication for synchronous frameworks: bearer JWTs and API keys, audited.

Each function takes what a request carries (the ``Authorization`` value, the API-key header)
and returns the verified payload or record, or raises a :class:`~tigerseal.errors.TokenError`
that :func:`tigerseal.web.http_error` turns into a 401/403 with its RFC 6750 challenge. Failures
other than "no credentials" are written to the audit trail (``authn_token_invalid``,
``authn_token_reuse``, ``authz_fail``); an audit failure never changes the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from tigerseal.errors import (
    InsufficientScopeError,
    MissingCredentialsError,
    TokenError,
    TokenInvalidError,
    TokenReuseError,
)
from tigerseal.web._challenge import bearer_token
from tigerseal.web._verified import VerifiedTokens

if TYPE_CHECKING:
    from tigerseal.apikeys import APIKeyRecord
    from tigerseal.tokens import TokenManager, TokenPayload

__all__ = [
    "VerifiedTokens",
    "audit_auth_failure",
    "verify_api_key_request",
    "verify_bearer_request",
]

log = logging.getLogger("tigerseal.web")


def audit_auth_failure(
    exc: TokenError, *, source_ip: str | None = None, resource: str | None = None
) -> None:
    """Write the audit event for a failed authentication (nothing for missing credentials)."""
    if isinstance(exc, MissingCredentialsError):
        return
    if isinstance(exc, InsufficientScopeError):
        event, risk, fields = "authz_fail", "medium", {"resource": resource}
    elif isinstance(exc, TokenReuseError):
        event, risk, fields = "authn_token_reuse", "high", {}
    else:
        event, risk, fields = "authn_token_invalid", "medium", {}
    try:
        from tigerseal.audit import audit_security_event

        audit_security_event(
            event,
            risk_level=risk,
            source_ip=source_ip,
            details={"reason": type(exc).__name__},
            **fields,
        )
    except Exception:
        # The request must get its 401/403 even when the audit trail cannot be written.
        log.warning("could not audit %s", event, exc_info=True)


def verify_bearer_request(
    authorization: str | None,
    *,
    scopes: Iterable[str] = (),
    manager: TokenManager | None = None,
    audience: str | None = None,
    source_ip: str | None = None,
    resource: str | None = None,
    audit: bool = True,
    cache: VerifiedTokens | None = None,
) -> TokenPayload:
    """Verify the bearer JWT of a request and the scopes it must grant.

    Args:
        authorization: the ``Authorization`` header's value (``None`` when absent).
        scopes: scopes the token must grant, all of them.
        manager: the token manager (default: the process-wide one).
        audience: the audience to require (default: the manager's).
        source_ip: the client address, for the audit trail.
        resource: the path requested, for the audit trail.
        audit: write failures to the audit trail.
        cache: tokens verified before (:class:`VerifiedTokens`): a repeat skips the signature
            check; revocation and scopes are checked every time.

    Raises:
        MissingCredentialsError: no bearer token was sent.
        TokenError: the token is malformed, invalid, expired, revoked or lacks a scope
            (:class:`~tigerseal.errors.InsufficientScopeError`).
    """
    required = [scopes] if isinstance(scopes, str) else list(scopes)
    try:
        token = bearer_token(authorization)
        if token is None:
            raise MissingCredentialsError("no bearer token was sent")
        if manager is None:
            from tigerseal.tokens import get_token_manager

            manager = get_token_manager()
        if cache is not None:
            return cache.verify(token, manager, scopes=required, audience=audience)
        return manager.verify(token, required_scopes=required, audience=audience)
    except TokenError as exc:
        if audit:
            audit_auth_failure(exc, source_ip=source_ip, resource=resource)
        raise


def verify_api_key_request(
    key: str | None,
    lookup: Callable[[str], APIKeyRecord | None],
    *,
    scopes: Iterable[str] = (),
    source_ip: str | None = None,
    resource: str | None = None,
    audit: bool = True,
    **check: Any,
) -> APIKeyRecord:
    """Authenticate the API key of a request against its stored record, with scopes.

    Args:
        key: the key the client sent (``None`` or empty when absent).
        lookup: ``key_id -> record | None`` (:func:`tigerseal.apikeys.api_key_id` of the key).
        scopes: scopes the key must grant, all of them.
        source_ip: the client address, for the audit trail.
        resource: the path requested, for the audit trail.
        audit: write failures to the audit trail.
        **check: passed to :meth:`APIKeyRecord.check` (``pepper=``, ``now=``).

    Raises:
        MissingCredentialsError: no key was sent.
        TokenError: unknown, malformed, wrong or expired key, or a missing scope.
    """
    required = [scopes] if isinstance(scopes, str) else list(scopes)
    try:
        if not key:
            raise MissingCredentialsError("no API key was sent")
        from tigerseal.apikeys import api_key_id

        found = lookup(api_key_id(key))
        if found is None:
            raise TokenInvalidError("the API key is not valid")
        return found.check(key, required_scopes=required, **check)
    except TokenError as exc:
        if audit:
            audit_auth_failure(exc, source_ip=source_ip, resource=resource)
        raise
