"""JWTs: key sets with ``kid`` rotation and JWKS, strict verification, refresh rotation.

::

    from tigerseal.tokens import create_jwt_token, verify_jwt_token, validate_account_access

    token = create_jwt_token("user_id", scopes=["read", "write"], expires_in=3600,
                             accounts=["12345"])
    payload = verify_jwt_token(token, required_scopes=["read"])
    validate_account_access(payload, "12345")

HS256 with ``JWT_SECRET`` by default; EdDSA, ES256, RS256 (and the rest of RFC 7518 but
``none``) from a key file. Every key is bound to one algorithm. Names are imported lazily, so
PyJWT loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tigerseal._lazy import lazy_exports

if TYPE_CHECKING:
    from tigerseal.tokens._default import (
        create_jwt_token,
        create_token_pair,
        get_jwks,
        get_token_manager,
        refresh_tokens,
        revoke_token,
        set_token_manager,
        verify_jwt_token,
    )
    from tigerseal.tokens._jwks import RemoteJWKSVerifier
    from tigerseal.tokens._manager import (
        TokenManager,
        validate_account_access,
        validate_token_scopes,
    )
    from tigerseal.tokens._payload import TokenPair, TokenPayload
    from tigerseal.tokens._revocation import MemoryRevocationStore
    from tigerseal.tokens._signing_keys import JWTKey, KeySet, jwk_thumbprint

_LAZY = {
    "create_jwt_token": "tigerseal.tokens._default",
    "create_token_pair": "tigerseal.tokens._default",
    "get_jwks": "tigerseal.tokens._default",
    "get_token_manager": "tigerseal.tokens._default",
    "refresh_tokens": "tigerseal.tokens._default",
    "revoke_token": "tigerseal.tokens._default",
    "set_token_manager": "tigerseal.tokens._default",
    "verify_jwt_token": "tigerseal.tokens._default",
    "JWTKey": "tigerseal.tokens._signing_keys",
    "KeySet": "tigerseal.tokens._signing_keys",
    "jwk_thumbprint": "tigerseal.tokens._signing_keys",
    "TokenManager": "tigerseal.tokens._manager",
    "validate_account_access": "tigerseal.tokens._manager",
    "validate_token_scopes": "tigerseal.tokens._manager",
    "TokenPair": "tigerseal.tokens._payload",
    "TokenPayload": "tigerseal.tokens._payload",
    "MemoryRevocationStore": "tigerseal.tokens._revocation",
    "RemoteJWKSVerifier": "tigerseal.tokens._jwks",
}

__all__ = [
    "JWTKey",
    "KeySet",
    "MemoryRevocationStore",
    "RemoteJWKSVerifier",
    "TokenManager",
    "TokenPair",
    "TokenPayload",
    "create_jwt_token",
    "create_token_pair",
    "get_jwks",
    "get_token_manager",
    "jwk_thumbprint",
    "refresh_tokens",
    "revoke_token",
    "set_token_manager",
    "validate_account_access",
    "validate_token_scopes",
    "verify_jwt_token",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
