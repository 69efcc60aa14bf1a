"""The seed's security view (:class:`SecurityConfig`) and the per-process store check."""

from __future__ import annotations

import logging
import secrets

from pydantic import BaseModel, ConfigDict, SecretStr

from tigerseal._defaults import ProcessDefault
from tigerseal.config._settings import Settings, get_settings
from tigerseal.errors import ConfigError

__all__ = ["SecurityConfig", "check_per_process_store", "get_security_config"]


class SecurityConfig(BaseModel):
    """The security settings as the seed's ``get_security_config()`` returned them.

    ``jwt_secret`` is always set: outside production a missing ``JWT_SECRET`` is replaced by
    a random per-process secret (``jwt_secret_generated`` is then true, and tokens do not
    survive a restart); in production it is required.
    """

    model_config = ConfigDict(frozen=True)

    environment: str
    encryption_master_key: SecretStr | None
    jwt_secret: SecretStr
    jwt_secret_generated: bool
    jwt_algorithm: str
    jwt_access_token_expire: int
    jwt_refresh_token_expire: int
    jwt_issuer: str | None
    jwt_audience: str | None
    jwt_leeway: float
    jwt_keys_file: str
    jwt_signer: str
    password_hash_algorithm: str
    pbkdf2_iterations: int
    password_pepper_file: str
    api_key_prefix: str
    default_rate_limit_hour: int
    rate_limit_storage: str
    rate_limit_algorithm: str
    revocation_store: str
    audit_sinks: str

    @property
    def is_production(self) -> bool:
        """Whether strict production rules apply."""
        return self.environment == "production"

    @classmethod
    def from_settings(cls, settings: Settings) -> SecurityConfig:
        """Build the view from settings (a missing JWT secret is generated outside production).

        Raises:
            ConfigError: production without ``JWT_SECRET`` (normally caught by Settings).
        """
        settings.require(*_FIELDS)  # an invalid host JWT_SECRET etc. fails here, not earlier
        secret = settings.jwt_secret
        generated = secret is None
        if secret is None:
            if settings.is_production:
                raise ConfigError("JWT_SECRET is required in production")
            logging.getLogger("tigerseal.config").warning(
                "JWT_SECRET is not set: using a random per-process secret (tokens will not "
                "verify after a restart or in another process); set JWT_SECRET"
            )
            secret = SecretStr(secrets.token_urlsafe(48))
        return cls(
            environment=settings.environment,
            encryption_master_key=settings.encryption_master_key,
            jwt_secret=secret,
            jwt_secret_generated=generated,
            jwt_algorithm=settings.jwt_algorithm,
            jwt_access_token_expire=settings.jwt_access_token_expire,
            jwt_refresh_token_expire=settings.jwt_refresh_token_expire,
            jwt_issuer=settings.jwt_issuer,
            jwt_audience=settings.jwt_audience,
            jwt_leeway=settings.jwt_leeway,
            jwt_keys_file=settings.jwt_keys_file,
            jwt_signer=settings.jwt_signer,
            password_hash_algorithm=settings.password_hash_algorithm,
            pbkdf2_iterations=settings.pbkdf2_iterations,
            password_pepper_file=settings.password_pepper_file,
            api_key_prefix=settings.api_key_prefix,
            default_rate_limit_hour=settings.default_rate_limit_hour,
            rate_limit_storage=settings.rate_limit_storage,
            rate_limit_algorithm=settings.rate_limit_algorithm,
            revocation_store=settings.revocation_store,
            audit_sinks=settings.audit_sinks,
        )


#: The settings SecurityConfig copies (checked with Settings.require when it is built).
_FIELDS = (
    "jwt_secret",
    "jwt_algorithm",
    "jwt_access_token_expire",
    "jwt_refresh_token_expire",
    "jwt_issuer",
    "jwt_audience",
    "jwt_leeway",
    "password_hash_algorithm",
    "pbkdf2_iterations",
    "default_rate_limit_hour",
)

_SECURITY: ProcessDefault[SecurityConfig] = ProcessDefault(
    "security config", lambda: SecurityConfig.from_settings(get_settings()), source=get_settings
)


def get_security_config(settings: Settings | None = None) -> SecurityConfig:
    """The process-wide :class:`SecurityConfig` (rebuilt when the settings are reset).

    Args:
        settings: build the view from these settings instead (a new object, not cached).

    Raises:
        ConfigError: a setting it holds came from an invalid fallback variable
            (:meth:`Settings.require`).
    """
    if settings is not None:
        return SecurityConfig.from_settings(settings)
    return _SECURITY.get()


def check_per_process_store(
    variable: str, consequence: str, shared: str, settings: Settings | None = None
) -> None:
    """Refuse a per-process (``memory://``) store in production unless single-process is chosen.

    With several workers, state kept in one worker's memory is invisible to the others, so
    production requires either a shared store or ``TIGERSEAL_SINGLE_PROCESS=true``, which says
    the deployment runs exactly one process.

    Args:
        variable: the setting that chose the store (``TIGERSEAL_RATE_LIMIT_STORAGE``).
        consequence: what goes wrong with several workers, for the message.
        shared: the store to use instead (``redis://HOST:6379/0``).
        settings: the settings to check; default the process-wide ones.

    Raises:
        ConfigError: production without the single-process opt-in.
    """
    if settings is None:
        settings = get_settings()
    if settings.is_production and not settings.single_process:
        raise ConfigError(
            f"{variable} is memory:// (this process only) with ENVIRONMENT=production: "
            f"{consequence}. Set {variable}={shared} (pip install tigerseal-redis) to share it "
            "between workers, or set TIGERSEAL_SINGLE_PROCESS=true if this deployment runs "
            "exactly one process"
        )
