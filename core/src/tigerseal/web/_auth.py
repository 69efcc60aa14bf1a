"""Request authentication for synchronous frameworks: bearer JWTs and API keys, audited.

Each function takes what a request carries (the ``Authorization`` value, the API-key header)
and returns the verified payload or record, or raises a :class:`~tigerseal.errors.TokenError`
that :func:`tigerseal.web.http_error` turns into a 401/403 with its RFC 6750 challenge. Failures
other than "no credentials" are written to the audit trail (``authn_token_invalid``,
``authn_token_reuse``, ``authz_fail``); an audit failure never changes the answer.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from tigerseal.errors import (
    InsufficientScopeError,
    MissingCredentialsError,
    TokenError,
    TokenInvalidError,
    TokenReuseError,
    TokenRevokedError,
)
from tigerseal.web._challenge import bearer_token

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


class VerifiedTokens:
    """Tokens whose signature and claims verified, so a repeat skips the signature check.

    A client sends the same access token on every request; decoding it and checking its
    signature again each time was most of what a JWT-protected endpoint cost (about 170 us of
    a Flask request's 350). An entry is reused only while: the manager and the audience are
    the same, the key set still maps the token's ``kid``/``alg`` to the very key that verified
    it (a key removed, replaced or refreshed from a JWKS is a miss, so the token is verified
    again and refused) and ``exp`` has not passed (with the manager's leeway). Revocation and
    scopes are checked on every request, hit or not. Only verified tokens are stored (an
    attacker cannot fill it with garbage), at most ``size`` of them, oldest dropped first.

    Args:
        size: tokens remembered; ``0`` turns the cache off.
    """

    __slots__ = ("_entries", "size")

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: dict[
            tuple[str, str | None], tuple[TokenManager, object, float, TokenPayload]
        ] = {}

    def get(self, token: str, manager: TokenManager, audience: str | None) -> TokenPayload | None:
        """The payload of a token verified before, still valid under ``manager``; or ``None``."""
        entry = self._entries.get((token, audience))
        if entry is None:
            return None
        owner, key, exp, payload = entry
        if owner is not manager or exp <= time.time() - manager.leeway:
            self._entries.pop((token, audience), None)
            return None
        header = payload.header
        try:
            if manager.keys.select(header.get("kid"), header.get("alg")) is not key:
                raise TokenInvalidError("the key changed")
        except TokenError:
            self._entries.pop((token, audience), None)
            return None
        return payload

    def put(
        self, token: str, manager: TokenManager, audience: str | None, payload: TokenPayload
    ) -> None:
        """Remember a token that ``manager`` just verified (one without ``exp`` is not kept)."""
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
        entries[(token, audience)] = (manager, key, float(exp), payload)

    def verify(
        self,
        token: str,
        manager: TokenManager,
        *,
        scopes: list[str],
        audience: str | None = None,
    ) -> TokenPayload:
        """``manager.verify(token, ...)``, skipping the signature check for a repeat."""
        payload = self.get(token, manager, audience)
        if payload is None:
            payload = manager.verify(token, audience=audience)
            self.put(token, manager, audience, payload)
        else:
            store = manager.revocation
            if store is not None:
                jti = payload.jti
                if jti is not None and store.is_revoked(jti):
                    raise TokenRevokedError("the token has been revoked; sign in again")
                family = payload.family
                if family is not None and store.is_family_revoked(family):
                    raise TokenRevokedError("the token's sign-in has been revoked; sign in again")
        if scopes:
            from tigerseal.tokens import validate_token_scopes

            validate_token_scopes(payload, scopes)
        return payload


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
