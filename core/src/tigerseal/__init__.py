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
    # "X as X": explicit re-exports, so `from tigerseal import get_encryption_service` type-checks
    # under mypy --strict (no implicit re-export; __all__ below is built from _LAZY).
    from tigerseal._defaults import (
        reset_defaults as reset_defaults,
    )
    from tigerseal._version import __version__ as __version__
    from tigerseal.apikeys import (
        APIKeyRecord as APIKeyRecord,
    )
    from tigerseal.apikeys import (
        generate_api_key as generate_api_key,
    )
    from tigerseal.apikeys import (
        verify_api_key as verify_api_key,
    )
    from tigerseal.audit import (
        audit_security_event as audit_security_event,
    )
    from tigerseal.audit import (
        get_security_metrics as get_security_metrics,
    )
    from tigerseal.config import (
        DatabaseConfig as DatabaseConfig,
    )
    from tigerseal.config import (
        SecurityConfig as SecurityConfig,
    )
    from tigerseal.config import (
        Settings as Settings,
    )
    from tigerseal.config import (
        configure_logging as configure_logging,
    )
    from tigerseal.config import (
        generate_env_template as generate_env_template,
    )
    from tigerseal.config import (
        get_database_config as get_database_config,
    )
    from tigerseal.config import (
        get_security_config as get_security_config,
    )
    from tigerseal.config import (
        get_settings as get_settings,
    )
    from tigerseal.envelope import (
        CachePolicy as CachePolicy,
    )
    from tigerseal.envelope import (
        DataKeyCache as DataKeyCache,
    )
    from tigerseal.envelope import (
        EncryptedData as EncryptedData,
    )
    from tigerseal.envelope import (
        EncryptionService as EncryptionService,
    )
    from tigerseal.envelope import (
        decrypt_stream as decrypt_stream,
    )
    from tigerseal.envelope import (
        encrypt_stream as encrypt_stream,
    )
    from tigerseal.envelope import (
        get_encryption_service as get_encryption_service,
    )
    from tigerseal.hookspecs import (
        hookimpl as hookimpl,
    )
    from tigerseal.passwords import (
        check_password_policy as check_password_policy,
    )
    from tigerseal.passwords import (
        generate_secure_password as generate_secure_password,
    )
    from tigerseal.plugins import (
        key_provider_from_uri as key_provider_from_uri,
    )
    from tigerseal.plugins import (
        list_plugins as list_plugins,
    )
    from tigerseal.ratelimit import (
        verify_rate_limit as verify_rate_limit,
    )
    from tigerseal.seed import (
        KeyManager as KeyManager,
    )
    from tigerseal.seed import (
        SecurityService as SecurityService,
    )
    from tigerseal.seed import (
        decrypt_tiger_account_data as decrypt_tiger_account_data,
    )
    from tigerseal.seed import (
        decrypt_tiger_credentials as decrypt_tiger_credentials,
    )
    from tigerseal.seed import (
        encrypt_tiger_account_data as encrypt_tiger_account_data,
    )
    from tigerseal.seed import (
        encrypt_tiger_credentials as encrypt_tiger_credentials,
    )
    from tigerseal.seed import (
        get_security_service as get_security_service,
    )
    from tigerseal.tokens import (
        TokenPayload as TokenPayload,
    )
    from tigerseal.tokens import (
        create_jwt_token as create_jwt_token,
    )
    from tigerseal.tokens import (
        validate_account_access as validate_account_access,
    )
    from tigerseal.tokens import (
        validate_token_scopes as validate_token_scopes,
    )
    from tigerseal.tokens import (
        verify_jwt_token as verify_jwt_token,
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

# __version__ too, outside __all__: importlib.metadata loads only when it is asked for.
__getattr__, __dir__ = lazy_exports(__name__, {**_LAZY, "__version__": "tigerseal._version"})
