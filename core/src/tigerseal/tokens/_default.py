"""The process-wide token manager built from settings, and the seed's module-level functions."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tigerseal._defaults import ProcessDefault
from tigerseal.tokens._manager import TokenManager
from tigerseal.tokens._payload import TokenPair, TokenPayload
from tigerseal.tokens._signing_keys import JWTKey, KeySet

if TYPE_CHECKING:
    from tigerseal.config import Settings

__all__ = [
    "create_jwt_token",
    "create_token_pair",
    "get_jwks",
    "get_token_manager",
    "refresh_tokens",
    "revoke_token",
    "set_token_manager",
    "verify_jwt_token",
]

log = logging.getLogger("tigerseal.tokens")


def _build(settings: Settings | None = None) -> TokenManager:
    from tigerseal.config import get_security_config
    from tigerseal.plugins import revocation_store_from_uri

    config = get_security_config(settings)
    alg = config.jwt_algorithm
    if config.jwt_signer:
        from tigerseal.plugins import token_signer_from_uri

        # The signing key lives in a KMS/HSM; the key file (if any) keeps older keys verifying.
        older = list(KeySet.load(config.jwt_keys_file)) if config.jwt_keys_file else []
        signer = JWTKey.from_signer(token_signer_from_uri(config.jwt_signer))
        keys = KeySet([*(k for k in older if k.kid != signer.kid), signer], current=signer.kid)
    elif alg.startswith("HS"):
        keys = KeySet.from_secret(config.jwt_secret.get_secret_value(), alg)
    elif config.jwt_keys_file:
        keys = KeySet.load(config.jwt_keys_file)
    else:
        # Settings refuse this in production; in development a key per process will do.
        log.warning(
            "JWT_ALGORITHM=%s without TIGERSEAL_JWT_KEYS_FILE: using a random per-process key "
            "(tokens will not verify after a restart); create one with `tigerseal token keygen`",
            alg,
        )
        keys = KeySet([JWTKey.generate(alg)])
    if keys.current.algorithm != alg:
        from tigerseal.errors import ConfigError

        raise ConfigError(
            f"JWT_ALGORITHM is {alg} but the current signing key (TIGERSEAL_JWT_KEYS_FILE or "
            f"TIGERSEAL_JWT_SIGNER) is {keys.current.algorithm}; make them agree"
        )
    return TokenManager(
        keys,
        issuer=config.jwt_issuer,
        audience=config.jwt_audience,
        access_token_expire=config.jwt_access_token_expire,
        refresh_token_expire=config.jwt_refresh_token_expire,
        leeway=config.jwt_leeway,
        revocation=revocation_store_from_uri(config.revocation_store),
    )


def _settings_source() -> object:
    from tigerseal.config import get_settings

    return get_settings()


_MANAGER: ProcessDefault[TokenManager] = ProcessDefault(
    "token manager", _build, source=_settings_source
)


def get_token_manager(settings: Settings | None = None) -> TokenManager:
    """The process-wide :class:`TokenManager`, from settings (rebuilt after ``reset_settings``).

    ``JWT_ALGORITHM`` with ``JWT_SECRET`` (HS*), ``TIGERSEAL_JWT_KEYS_FILE`` (asymmetric) or
    ``TIGERSEAL_JWT_SIGNER`` (a KMS/HSM key through a token-signer plugin),
    ``JWT_ISSUER``, ``JWT_AUDIENCE``, ``JWT_LEEWAY``, the two lifetimes and
    ``TIGERSEAL_REVOCATION_STORE`` (each seed name read as ``TIGERSEAL_<NAME>`` first).

    Args:
        settings: build a new manager from these settings instead (not shared, not cached).
    """
    if settings is not None:
        return _build(settings)
    return _MANAGER.get()


def set_token_manager(manager: TokenManager | None) -> None:
    """Install a manager for the whole process (``None``: back to settings)."""
    _MANAGER.set(manager)


def create_jwt_token(
    subject: str,
    scopes: Iterable[str] = (),
    expires_in: int | float | timedelta | None = None,
    **claims: Any,
) -> str:
    """Create a signed access token (the seed's ``create_jwt_token``).

    Args:
        subject: the ``sub`` claim.
        scopes: granted scopes.
        expires_in: lifetime in seconds (default ``JWT_ACCESS_TOKEN_EXPIRE``).
        **claims: further claims (``accounts=[...]``, ``audience=...``).
    """
    return get_token_manager().create(subject, scopes, expires_in, **claims)


def verify_jwt_token(
    token: str | bytes,
    *,
    required_scopes: Iterable[str] = (),
    audience: str | None = None,
    token_type: str = "access",  # noqa: S107 - not a password
) -> TokenPayload:
    """Verify a token and return its claims (``.sub``, ``.scopes``, ``.exp``, ``.jti``...).

    Raises:
        TokenError: a subclass saying why (expired, invalid, revoked, insufficient scope).
    """
    return get_token_manager().verify(
        token, required_scopes=required_scopes, audience=audience, token_type=token_type
    )


def create_token_pair(subject: str, scopes: Iterable[str] = (), **claims: Any) -> TokenPair:
    """An access token plus a single-use refresh token."""
    return get_token_manager().create_pair(subject, scopes, **claims)


def refresh_tokens(refresh_token: str) -> TokenPair:
    """Rotate a refresh token (reuse revokes its whole family)."""
    return get_token_manager().refresh(refresh_token)


def revoke_token(token: str | TokenPayload, *, family: bool = False) -> None:
    """Revoke a token (and its refresh family, e.g. at sign-out)."""
    get_token_manager().revoke(token, family=family)


def get_jwks() -> dict[str, Any]:
    """The public signing keys as a JWKS (empty for HS256)."""
    return get_token_manager().jwks()
