"""tigerseal: envelope encryption with keys in KMS, Vault or an HSM, and security services.

The public API (every name of the seed's "shared security package" included). Names are
imported lazily on first access, so ``import tigerseal`` and ``tigerseal --help`` stay fast and
PyJWT, argon2 or boto3 load only when used.

Quick start::

    from tigerseal import get_encryption_service

    service = get_encryption_service()
    message = service.encrypt("sensitive data", context={"table": "accounts"})
    assert service.decrypt_to_string(message, context={"table": "accounts"}) == "sensitive data"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tigerseal._lazy import lazy_exports
from tigerseal.errors import (
    AccessDenied,
    AccountAccessError,
    AuditError,
    AuditIntegrityError,
    ConfigError,
    ContextMismatchError,
    DecryptionError,
    EncryptionError,
    InsufficientScopeError,
    KeyDisabled,
    KeyNotFound,
    KeyProviderError,
    KeyVersionRetired,
    MissingDependencyError,
    NoMatchingKeyError,
    PasswordError,
    PasswordPolicyError,
    PluginError,
    ProviderUnavailable,
    RateLimitExceeded,
    SecurityError,
    TigerSealError,
    TokenError,
    TokenExpiredError,
    TokenInvalidError,
    TokenReuseError,
    TokenRevokedError,
    UnknownProviderError,
    UnsupportedOperation,
)

if TYPE_CHECKING:
    from tigerseal._defaults import reset_defaults
    from tigerseal.apikeys import APIKeyRecord, generate_api_key, verify_api_key
    from tigerseal.audit import audit_security_event, get_security_metrics
    from tigerseal.config import (
        DatabaseConfig,
        SecurityConfig,
        Settings,
        configure_logging,
        generate_env_template,
        get_database_config,
        get_security_config,
        get_settings,
    )
    from tigerseal.envelope import (
        CachePolicy,
        DataKeyCache,
        EncryptedData,
        EncryptionService,
        decrypt_stream,
        encrypt_stream,
        get_encryption_service,
    )
    from tigerseal.hookspecs import hookimpl
    from tigerseal.passwords import check_password_policy, generate_secure_password
    from tigerseal.plugins import key_provider_from_uri, list_plugins
    from tigerseal.ratelimit import verify_rate_limit
    from tigerseal.seed import (
        KeyManager,
        SecurityService,
        decrypt_tiger_account_data,
        decrypt_tiger_credentials,
        encrypt_tiger_account_data,
        encrypt_tiger_credentials,
        get_security_service,
    )
    from tigerseal.tokens import (
        TokenPayload,
        create_jwt_token,
        validate_account_access,
        validate_token_scopes,
        verify_jwt_token,
    )

#: public name -> module that defines it (imported on first access).
_LAZY: dict[str, str] = {
    "APIKeyRecord": "tigerseal.apikeys",
    "generate_api_key": "tigerseal.apikeys",
    "verify_api_key": "tigerseal.apikeys",
    "audit_security_event": "tigerseal.audit",
    "get_security_metrics": "tigerseal.audit",
    "DatabaseConfig": "tigerseal.config",
    "SecurityConfig": "tigerseal.config",
    "Settings": "tigerseal.config",
    "configure_logging": "tigerseal.config",
    "generate_env_template": "tigerseal.config",
    "get_database_config": "tigerseal.config",
    "get_security_config": "tigerseal.config",
    "get_settings": "tigerseal.config",
    "CachePolicy": "tigerseal.envelope",
    "DataKeyCache": "tigerseal.envelope",
    "EncryptedData": "tigerseal.envelope",
    "EncryptionService": "tigerseal.envelope",
    "decrypt_stream": "tigerseal.envelope",
    "encrypt_stream": "tigerseal.envelope",
    "get_encryption_service": "tigerseal.envelope",
    "hookimpl": "tigerseal.hookspecs",
    "KeyManager": "tigerseal.seed",
    "check_password_policy": "tigerseal.passwords",
    "generate_secure_password": "tigerseal.passwords",
    "key_provider_from_uri": "tigerseal.plugins",
    "list_plugins": "tigerseal.plugins",
    "verify_rate_limit": "tigerseal.ratelimit",
    "reset_defaults": "tigerseal._defaults",
    "SecurityService": "tigerseal.seed",
    "get_security_service": "tigerseal.seed",
    "decrypt_tiger_account_data": "tigerseal.seed",
    "decrypt_tiger_credentials": "tigerseal.seed",
    "encrypt_tiger_account_data": "tigerseal.seed",
    "encrypt_tiger_credentials": "tigerseal.seed",
    "TokenPayload": "tigerseal.tokens",
    "create_jwt_token": "tigerseal.tokens",
    "validate_account_access": "tigerseal.tokens",
    "validate_token_scopes": "tigerseal.tokens",
    "verify_jwt_token": "tigerseal.tokens",
}

__all__ = [
    "AccessDenied",
    "AccountAccessError",
    "AuditError",
    "AuditIntegrityError",
    "ConfigError",
    "ContextMismatchError",
    "DecryptionError",
    "EncryptionError",
    "InsufficientScopeError",
    "KeyDisabled",
    "KeyNotFound",
    "KeyProviderError",
    "KeyVersionRetired",
    "MissingDependencyError",
    "NoMatchingKeyError",
    "PasswordError",
    "PasswordPolicyError",
    "PluginError",
    "ProviderUnavailable",
    "RateLimitExceeded",
    "SecurityError",
    "TigerSealError",
    "TokenError",
    "TokenExpiredError",
    "TokenInvalidError",
    "TokenReuseError",
    "TokenRevokedError",
    "UnknownProviderError",
    "UnsupportedOperation",
    *sorted(_LAZY),
]

__version__ = "0.1.0"


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
