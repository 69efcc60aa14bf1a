"""The seed's security facade: ``get_security_service()``.

One object bundling password hashing, API keys, JWTs, rate limiting and audit, each delegating
to its module (and so to the configured plugins)::

    from tigerseal import get_security_service

    security = get_security_service()
    stored = security.hash_password("user_password")
    assert security.verify_password("user_password", stored)
    api_key, key_hash = security.generate_api_key("tk")
    payload = security.verify_token(token)            # .sub, .scopes
    status = security.get_rate_limit_status("api_key_12345")

Failures the facade sees are audited before they are raised: a token that does not verify
(``authn_token_invalid``, or ``authn_token_reuse`` for a replayed refresh token) and a denied
scope or account (``authz_fail``). The token itself is never written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tigerseal._defaults import ProcessDefault
from tigerseal.errors import PasswordError, TokenError, TokenReuseError

if TYPE_CHECKING:
    from tigerseal.audit import Auditor
    from tigerseal.config import Settings
    from tigerseal.passwords import PasswordContext, PolicyResult
    from tigerseal.ratelimit import RateLimiter
    from tigerseal.tokens import TokenManager, TokenPair, TokenPayload

__all__ = ["SecurityService", "get_security_service", "reset_security_service"]

log = logging.getLogger(__name__)


class SecurityService:
    """Passwords, API keys, tokens, rate limits and audit behind one object.

    Args:
        rate_limiter: the limiter to use (default: the process-wide one from settings).
        audit_failures: audit token and authorization failures seen here (default ``True``).
        settings: build this service's password context, token manager, rate limiter and
            auditor from these settings (each on first use, kept by this instance) instead
            of using the process-wide ones.
        auditor: the auditor to write to (default: from ``settings``, else the process-wide).

    Thread-safe; share one instance (:func:`get_security_service`).
    """

    def __init__(
        self,
        *,
        rate_limiter: RateLimiter | None = None,
        audit_failures: bool = True,
        settings: Settings | None = None,
        auditor: Auditor | None = None,
    ) -> None:
        self._rate_limiter = rate_limiter
        self.audit_failures = audit_failures
        self._settings = settings
        self._auditor = auditor
        self._passwords: PasswordContext | None = None
        self._tokens: TokenManager | None = None

    def _password_context(self) -> PasswordContext:
        from tigerseal.passwords import get_password_context

        if self._settings is None:
            return get_password_context()
        if self._passwords is None:
            self._passwords = get_password_context(self._settings)
        return self._passwords

    def _token_manager(self) -> TokenManager:
        from tigerseal.tokens import get_token_manager

        if self._settings is None:
            return get_token_manager()
        if self._tokens is None:
            self._tokens = get_token_manager(self._settings)
        return self._tokens

    def _audit_to(self) -> Auditor | None:
        """The auditor of this service, or ``None`` for the process-wide one."""
        if self._auditor is None and self._settings is not None:
            from tigerseal.audit import get_auditor

            self._auditor = get_auditor(self._settings)
        return self._auditor

    # -- passwords -------------------------------------------------------------------------
    def hash_password(self, password: str) -> str:
        """Hash a password with the configured scheme (argon2id by default)."""
        return self._password_context().hash(password)

    def verify_password(self, password: str, password_hash: str) -> bool:
        """Whether ``password`` matches ``password_hash`` (any supported scheme)."""
        try:
            ok = self._password_context().verify(password, password_hash)
        except PasswordError:
            # A stored hash that cannot be checked (malformed, planted with a huge cost) is a
            # failed login too, and worth a look: audited, then the caller sees the error.
            self._audit("authn_login_fail", "medium", details={"reason": "stored_hash_unusable"})
            raise
        if not ok:  # audited without the password; the caller knows who tried
            self._audit("authn_login_fail", "medium", details={"reason": "password_mismatch"})
        return ok

    def verify_and_update(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """Verify, and return a new hash when the stored one uses outdated parameters."""
        try:
            ok, new_hash = self._password_context().verify_and_update(password, password_hash)
        except PasswordError:
            self._audit("authn_login_fail", "medium", details={"reason": "stored_hash_unusable"})
            raise
        if not ok:  # audited without the password; the caller knows who tried
            self._audit("authn_login_fail", "medium", details={"reason": "password_mismatch"})
        return ok, new_hash

    def generate_secure_password(self, length: int = 20) -> str:
        """A random password from the system's CSPRNG."""
        from tigerseal.passwords import generate_secure_password

        return generate_secure_password(length)

    def check_password_policy(self, password: str) -> PolicyResult:
        """Check a password against the default policy (length, classes, common passwords)."""
        from tigerseal.passwords import check_password_policy

        return check_password_policy(password)

    # -- API keys --------------------------------------------------------------------------
    def generate_api_key(self, prefix: str = "tk") -> tuple[str, str]:
        """A new API key ``prefix_...`` and the hash to store; show the key once."""
        from tigerseal.apikeys import generate_api_key

        return generate_api_key(prefix)

    def verify_api_key(self, api_key: str, key_hash: str) -> bool:
        """Whether ``api_key`` matches the stored ``key_hash`` (constant time)."""
        from tigerseal.apikeys import verify_api_key

        ok = verify_api_key(api_key, key_hash)
        if not ok:  # audited without the key
            self._audit("authn_token_invalid", "medium", details={"reason": "api_key_mismatch"})
        return ok

    # -- tokens ----------------------------------------------------------------------------
    def create_token(
        self,
        subject: str,
        scopes: Iterable[str] = (),
        expires_in: int | float | None = None,
        **claims: Any,
    ) -> str:
        """Create a signed access token (see :func:`tigerseal.create_jwt_token`)."""
        return self._token_manager().create(subject, scopes, expires_in, **claims)

    create_jwt_token = create_token

    def verify_token(
        self,
        token: str | bytes,
        *,
        required_scopes: Iterable[str] = (),
        audience: str | None = None,
    ) -> TokenPayload:
        """Verify a token; the payload has ``.sub``, ``.scopes`` and the other claims.

        Raises:
            TokenError: why it is not valid (expired, invalid, revoked, insufficient scope);
                the failure is audited first.
        """
        try:
            return self._token_manager().verify(
                token, required_scopes=required_scopes, audience=audience
            )
        except TokenError as exc:
            self._audit_token_failure(exc)
            raise

    def create_token_pair(
        self, subject: str, scopes: Iterable[str] = (), **claims: Any
    ) -> TokenPair:
        """An access token and a single-use refresh token."""
        return self._token_manager().create_pair(subject, scopes, **claims)

    def refresh_tokens(self, refresh_token: str) -> TokenPair:
        """Rotate a refresh token; a reused one revokes its family (and is audited)."""
        try:
            return self._token_manager().refresh(refresh_token)
        except TokenError as exc:
            self._audit_token_failure(exc)
            raise

    def revoke_token(self, token: str | TokenPayload, *, family: bool = False) -> None:
        """Revoke a token (and its refresh family)."""
        self._token_manager().revoke(token, family=family)

    def validate_token_scopes(
        self, payload: TokenPayload | Mapping[str, Any], required_scopes: Iterable[str] | str
    ) -> bool:
        """Check the token grants the scopes; a denial is audited (``authz_fail``)."""
        from tigerseal.tokens import validate_token_scopes

        try:
            return validate_token_scopes(payload, required_scopes)
        except TokenError as exc:
            self._audit_denial(payload, exc, scopes=required_scopes)
            raise

    def validate_account_access(
        self, payload: TokenPayload | Mapping[str, Any], account_id: str | int
    ) -> bool:
        """Check the token covers ``account_id``; a denial is audited (``authz_fail``)."""
        from tigerseal.tokens import validate_account_access

        try:
            return validate_account_access(payload, account_id)
        except TokenError as exc:
            self._audit_denial(payload, exc, account_id=account_id)
            raise

    # -- rate limiting ---------------------------------------------------------------------
    @property
    def rate_limiter(self) -> RateLimiter:
        """The limiter in use."""
        if self._rate_limiter is not None:
            return self._rate_limiter
        from tigerseal.ratelimit import get_rate_limiter

        if self._settings is not None:
            self._rate_limiter = get_rate_limiter(self._settings)
            return self._rate_limiter
        return get_rate_limiter()

    def check_rate_limit(
        self, key: str, max_requests: int | None = None, window_size: float = 3600
    ) -> bool:
        """Count a request for ``key``; whether it is admitted (see ``verify_rate_limit``)."""
        return self.rate_limiter.hit(key, max_requests, window_size)

    def get_rate_limit_status(
        self, key: str, max_requests: int | None = None, window_size: float | None = None
    ) -> dict[str, Any]:
        """``requests_remaining``, ``reset_time`` and the rest (see ``RateLimiter.status``)."""
        return self.rate_limiter.status(key, max_requests, window_size)

    # -- audit -----------------------------------------------------------------------------
    def audit_event(self, event_type: str, **fields: Any) -> dict[str, Any]:
        """Record a security event (see :func:`tigerseal.audit_security_event`)."""
        auditor = self._audit_to()
        if auditor is not None:
            return auditor.log(event_type, **fields)
        from tigerseal.audit import audit_security_event

        return audit_security_event(event_type, **fields)

    def get_security_metrics(self) -> dict[str, Any]:
        """The seed's metrics (see :func:`tigerseal.get_security_metrics`)."""
        from tigerseal.audit import get_security_metrics

        return get_security_metrics()

    # -- helpers ---------------------------------------------------------------------------
    def _audit(self, event_type: str, risk_level: str, **fields: Any) -> None:
        if not self.audit_failures:
            return
        try:
            self.audit_event(event_type, risk_level=risk_level, **fields)
        except Exception:
            # The caller must see the original error; a broken audit trail is only logged.
            log.warning("could not audit %s", event_type, exc_info=True)

    def _audit_token_failure(self, exc: TokenError) -> None:
        if isinstance(exc, TokenReuseError):
            self._audit("authn_token_reuse", "high", details={"reason": type(exc).__name__})
        else:
            self._audit("authn_token_invalid", "medium", details={"reason": type(exc).__name__})

    def _audit_denial(
        self, payload: TokenPayload | Mapping[str, Any], exc: TokenError, **details: Any
    ) -> None:
        subject = payload.get("sub") if isinstance(payload, Mapping) else None
        if isinstance(details.get("scopes"), Iterable) and not isinstance(
            details.get("scopes"), str
        ):
            details["scopes"] = list(details["scopes"])
        self._audit(
            "authz_fail",
            "medium",
            user_id=subject,
            details={"reason": type(exc).__name__, **details},
        )

    def __repr__(self) -> str:
        return "<SecurityService>"


_SERVICE: ProcessDefault[SecurityService] = ProcessDefault("security service", SecurityService)


def get_security_service(settings: Settings | None = None) -> SecurityService:
    """The process-wide :class:`SecurityService`.

    Args:
        settings: a new service whose components are built from these settings instead (not
            shared, not cached).
    """
    if settings is not None:
        return SecurityService(settings=settings)
    return _SERVICE.get()


def reset_security_service() -> None:
    """Forget the process-wide service (tests)."""
    _SERVICE.reset()
