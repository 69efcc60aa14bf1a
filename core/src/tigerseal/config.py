"""Settings from the environment and ``.env`` (pydantic-settings).

The seed's variable names are kept (``ENCRYPTION_MASTER_KEY``, ``JWT_SECRET``,
``PBKDF2_ITERATIONS``, ...); tigerseal's own settings are prefixed ``TIGERSEAL_``.
"""

from __future__ import annotations

import threading
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "reset_settings"]

#: OWASP Password Storage Cheat Sheet (2023+) for PBKDF2-HMAC-SHA256: 600,000 iterations.
DEFAULT_PBKDF2_ITERATIONS = 600_000


class Settings(BaseSettings):
    """All tigerseal settings. Secrets are ``SecretStr``: they never show in repr or logs."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    environment: str = Field(default="development", validation_alias="ENVIRONMENT")
    encryption_master_key: SecretStr | None = Field(
        default=None, validation_alias="ENCRYPTION_MASTER_KEY"
    )
    jwt_secret: SecretStr | None = Field(default=None, validation_alias="JWT_SECRET")
    database_url: SecretStr | None = Field(default=None, validation_alias="DATABASE_URL")
    pbkdf2_iterations: int = Field(
        default=DEFAULT_PBKDF2_ITERATIONS, validation_alias="PBKDF2_ITERATIONS"
    )
    password_hash_algorithm: str = Field(
        default="argon2", validation_alias="PASSWORD_HASH_ALGORITHM"
    )
    jwt_access_token_expire: int = Field(default=3600, validation_alias="JWT_ACCESS_TOKEN_EXPIRE")
    default_rate_limit_hour: int = Field(default=1000, validation_alias="DEFAULT_RATE_LIMIT_HOUR")

    # -- tigerseal settings ------------------------------------------------------------------
    #: Space-separated key URIs; the first generates data keys, all wrap them, any decrypts.
    #: Empty: ``env://ENCRYPTION_MASTER_KEY`` if that variable is set, else (development only)
    #: the file keyring at ``keyring_path``.
    key_providers: str = Field(default="", validation_alias="TIGERSEAL_KEY_PROVIDERS")
    keyring_path: str = Field(
        default=".tigerseal/keyring.json", validation_alias="TIGERSEAL_KEYRING_PATH"
    )
    cache_enabled: bool = Field(default=False, validation_alias="TIGERSEAL_CACHE_ENABLED")
    cache_max_age: float = Field(default=300.0, validation_alias="TIGERSEAL_CACHE_MAX_AGE")
    cache_max_messages: int = Field(
        default=2**32, validation_alias="TIGERSEAL_CACHE_MAX_MESSAGES"
    )
    cache_max_bytes: int = Field(default=2**40, validation_alias="TIGERSEAL_CACHE_MAX_BYTES")
    rate_limit_storage: str = Field(
        default="memory://", validation_alias="TIGERSEAL_RATE_LIMIT_STORAGE"
    )
    rate_limit_algorithm: Literal["sliding_window_log", "sliding_window_counter", "gcra"] = Field(
        default="sliding_window_log", validation_alias="TIGERSEAL_RATE_LIMIT_ALGORITHM"
    )
    revocation_store: str = Field(default="memory://", validation_alias="TIGERSEAL_REVOCATION_STORE")
    audit_sinks: str = Field(
        default="file://./.tigerseal/audit.jsonl", validation_alias="TIGERSEAL_AUDIT_SINKS"
    )

    @property
    def is_production(self) -> bool:
        """Whether strict production rules apply."""
        return self.environment.strip().lower() in ("production", "prod")


_settings: Settings | None = None
_lock = threading.Lock()


def get_settings() -> Settings:
    """The process-wide settings, read once from the environment and ``.env``."""
    global _settings
    if _settings is None:
        with _lock:
            if _settings is None:
                _settings = Settings()
    return _settings


def reset_settings() -> None:
    """Forget cached settings (tests, or after changing the environment)."""
    global _settings
    with _lock:
        _settings = None
