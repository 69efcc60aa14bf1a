"""Settings from the environment and ``.env`` (pydantic-settings).

The seed's variable names are kept (``ENCRYPTION_MASTER_KEY``, ``JWT_SECRET``,
``PBKDF2_ITERATIONS``, ...); tigerseal's own settings are prefixed ``TIGERSEAL_``.

Every value is validated when :class:`Settings` is built, and a mistake is a
:class:`~tigerseal.errors.ConfigError` whose message names the variable and the fix (never its
value: variables here hold keys and passwords). With ``ENVIRONMENT=production`` tigerseal also
refuses keys that are missing (it never generates keys in production), copied from examples
(the values printed in the seed README and in these docs), marked as development keys, or
visibly not random (all zero, short repeated patterns).

Views for the seed's API: :func:`get_security_config` (a :class:`SecurityConfig`),
:func:`get_database_config` (a :class:`DatabaseConfig` whose password never shows in repr, str
or logs), :func:`configure_logging` (text or structured JSON logs, with redaction) and
:func:`generate_env_template` (a commented ``.env`` with fresh secrets, mode 0600).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from tigerseal._weakness import jwt_secret_weakness, master_key_weakness
from tigerseal.errors import ConfigError

__all__ = [
    "DEFAULT_PBKDF2_ITERATIONS",
    "JWT_ALGORITHMS",
    "ConnectionString",
    "DatabaseConfig",
    "KeyProviderSelection",
    "SecurityConfig",
    "Settings",
    "configure_logging",
    "current_environment",
    "generate_env_template",
    "get_database_config",
    "get_security_config",
    "get_settings",
    "reset_settings",
    "select_key_providers",
]

#: OWASP Password Storage Cheat Sheet (2023+) for PBKDF2-HMAC-SHA256: 600,000 iterations.
#: (The seed's 100,000 predates that advice; set ``PBKDF2_ITERATIONS`` to keep it.)
DEFAULT_PBKDF2_ITERATIONS = 600_000
#: Below this, PBKDF2 is no longer a password hash worth the name: refused everywhere.
MIN_PBKDF2_ITERATIONS = 10_000
#: RFC 7518 ``alg`` values a signing key may use. ``none`` is deliberately absent.
JWT_ALGORITHMS = frozenset(
    {
        "HS256", "HS384", "HS512",
        "RS256", "RS384", "RS512",
        "PS256", "PS384", "PS512",
        "ES256", "ES384", "ES512",
        "EdDSA",
    }
)  # fmt: skip
_ENVIRONMENTS = {
    "development": "development",
    "dev": "development",
    "test": "test",
    "testing": "test",
    "staging": "staging",
    "production": "production",
    "prod": "production",
}
_BUILTIN_HASHERS = ("argon2", "bcrypt", "scrypt", "pbkdf2-sha256")
_HASHER_ALIASES = {
    "argon2id": "argon2",
    "pbkdf2": "pbkdf2-sha256",
    "pbkdf2_sha256": "pbkdf2-sha256",
    "pbkdf2-sha-256": "pbkdf2-sha256",
}
#: libpq ``sslmode`` values.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


# -- settings -------------------------------------------------------------------------------
class Settings(BaseSettings):
    """All tigerseal settings, from the environment and ``.env``.

    Secrets are ``SecretStr``: they never show in repr or logs. Building an instance validates
    everything and raises :class:`~tigerseal.errors.ConfigError` (never a pydantic error
    carrying the offending value).
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
    )

    # -- the seed's variables ----------------------------------------------------------------
    environment: str = Field(
        default="development",
        validation_alias="ENVIRONMENT",
        description="development, test, staging or production (production refuses weak keys)",
    )
    encryption_master_key: SecretStr | None = Field(
        default=None,
        validation_alias="ENCRYPTION_MASTER_KEY",
        description="256-bit master key as 64 hex characters (key for env://ENCRYPTION_MASTER_KEY)",
    )
    jwt_secret: SecretStr | None = Field(
        default=None,
        validation_alias="JWT_SECRET",
        description="HMAC secret for HS256 JWTs, at least 32 characters",
    )
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        description="database URL, e.g. postgresql://user:password@localhost:5432/tiger_mcp",
    )
    pbkdf2_iterations: int = Field(
        default=DEFAULT_PBKDF2_ITERATIONS,
        validation_alias="PBKDF2_ITERATIONS",
        description="PBKDF2-HMAC-SHA256 iterations (OWASP 2023: 600000)",
    )
    password_hash_algorithm: str = Field(
        default="argon2",
        validation_alias="PASSWORD_HASH_ALGORITHM",
        description="scheme for new password hashes: argon2, bcrypt, scrypt or pbkdf2-sha256",
    )
    jwt_access_token_expire: int = Field(
        default=3600,
        validation_alias="JWT_ACCESS_TOKEN_EXPIRE",
        description="access-token lifetime in seconds",
    )
    default_rate_limit_hour: int = Field(
        default=1000,
        validation_alias="DEFAULT_RATE_LIMIT_HOUR",
        description="requests per hour when no limit is given",
    )

    # -- tokens ------------------------------------------------------------------------------
    jwt_algorithm: str = Field(
        default="HS256",
        validation_alias="JWT_ALGORITHM",
        description="JWS alg of new tokens: HS256 (JWT_SECRET) or EdDSA/ES256/RS256 (key file)",
    )
    jwt_refresh_token_expire: int = Field(
        default=14 * 24 * 3600,
        validation_alias="JWT_REFRESH_TOKEN_EXPIRE",
        description="refresh-token lifetime in seconds",
    )
    jwt_issuer: str | None = Field(
        default="tigerseal",
        validation_alias="JWT_ISSUER",
        description="iss claim written and required (empty: none)",
    )
    jwt_audience: str | None = Field(
        default=None,
        validation_alias="JWT_AUDIENCE",
        description="aud claim written and required (empty: none)",
    )
    jwt_leeway: float = Field(
        default=30.0,
        validation_alias="JWT_LEEWAY",
        description="clock skew tolerated on exp/nbf/iat, in seconds",
    )
    jwt_keys_file: str = Field(
        default="",
        validation_alias="TIGERSEAL_JWT_KEYS_FILE",
        description="private JWKS file (mode 0600) holding the asymmetric signing keys",
    )
    jwt_signer: str = Field(
        default="",
        validation_alias="TIGERSEAL_JWT_SIGNER",
        description="URI of a KMS/HSM JWT signer plugin (e.g. aws-kms://alias/jwt)",
    )
    password_pepper_file: str = Field(
        default="",
        validation_alias="TIGERSEAL_PASSWORD_PEPPER_FILE",
        description="pepper file whose peppers are wrapped by the configured key providers",
    )
    api_key_prefix: str = Field(
        default="tk",
        validation_alias="TIGERSEAL_API_KEY_PREFIX",
        description="prefix of new API keys (tk_...)",
    )

    # -- database ----------------------------------------------------------------------------
    database_ssl_mode: str | None = Field(
        default=None,
        validation_alias="DATABASE_SSL_MODE",
        description="libpq sslmode if DATABASE_URL has none (prefer; production: require)",
    )
    database_pool_size: int = Field(
        default=5, validation_alias="DATABASE_POOL_SIZE", description="connection pool size"
    )

    # -- logging -----------------------------------------------------------------------------
    log_level: str = Field(
        default="INFO", validation_alias="TIGERSEAL_LOG_LEVEL", description="logging level"
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        validation_alias="TIGERSEAL_LOG_FORMAT",
        description="text or json (one JSON object per line)",
    )

    # -- tigerseal settings ------------------------------------------------------------------
    #: Space-separated key URIs; the first generates data keys, all wrap them, any decrypts.
    #: Empty: ``env://ENCRYPTION_MASTER_KEY`` if that variable is set, else (development only)
    #: the file keyring at ``keyring_path``.
    key_providers: str = Field(
        default="",
        validation_alias="TIGERSEAL_KEY_PROVIDERS",
        description="space-separated key URIs (vault://..., aws-kms://..., pkcs11:...)",
    )
    keyring_path: str = Field(
        default=".tigerseal/keyring.json",
        validation_alias="TIGERSEAL_KEYRING_PATH",
        description="development keyring file used when no key is configured",
    )
    allow_dev_keyring: bool = Field(
        default=True,
        validation_alias="TIGERSEAL_ALLOW_DEV_KEYRING",
        description="false: never fall back to the development keyring (always refused in "
        "staging and production)",
    )
    cache_enabled: bool = Field(
        default=False,
        validation_alias="TIGERSEAL_CACHE_ENABLED",
        description="reuse data keys within the cache limits below",
    )
    cache_max_age: float = Field(
        default=300.0,
        validation_alias="TIGERSEAL_CACHE_MAX_AGE",
        description="seconds a cached data key may be used",
    )
    cache_max_messages: int = Field(
        default=2**32,
        validation_alias="TIGERSEAL_CACHE_MAX_MESSAGES",
        description="messages per cached data key",
    )
    cache_max_bytes: int = Field(
        default=2**40,
        validation_alias="TIGERSEAL_CACHE_MAX_BYTES",
        description="bytes per cached data key",
    )
    rate_limit_storage: str = Field(
        default="memory://",
        validation_alias="TIGERSEAL_RATE_LIMIT_STORAGE",
        description="rate-limit storage URI (memory://, redis://host:6379/0)",
    )
    rate_limit_algorithm: Literal["sliding_window_log", "sliding_window_counter", "gcra"] = Field(
        default="sliding_window_log",
        validation_alias="TIGERSEAL_RATE_LIMIT_ALGORITHM",
        description="sliding_window_log, sliding_window_counter or gcra",
    )
    revocation_store: str = Field(
        default="memory://",
        validation_alias="TIGERSEAL_REVOCATION_STORE",
        description="token revocation store URI (memory://, redis://host:6379/0)",
    )
    single_process: bool = Field(
        default=False,
        validation_alias="TIGERSEAL_SINGLE_PROCESS",
        description="this deployment runs exactly one process: memory:// rate-limit and "
        "revocation stores are allowed in production",
    )
    audit_sinks: str = Field(
        default="file://./.tigerseal/audit.jsonl",
        validation_alias="TIGERSEAL_AUDIT_SINKS",
        description="space-separated audit sink URIs",
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            # ``from None``: the pydantic error would print the offending (secret) value.
            raise ConfigError(_describe(exc)) from None

    # -- field checks ------------------------------------------------------------------------
    @field_validator("environment", mode="before")
    @classmethod
    def _environment(cls, value: Any) -> str:
        name = _ENVIRONMENTS.get(str(value).strip().lower())
        if name is None:
            # A typo ("prodution") must not silently relax the production checks.
            raise ValueError(
                "must be one of development, test, staging, production; "
                "fix the spelling of ENVIRONMENT"
            )
        return name

    @field_validator("encryption_master_key", mode="before")
    @classmethod
    def _master_key(cls, value: Any) -> Any:
        text = _secret_text(value)
        if text is None:
            return None
        text = text.strip()
        if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
            raise ValueError(
                f"must be exactly 64 hex characters (a 256-bit key), got {len(text)} characters"
                + ("" if re.fullmatch(r"[0-9a-fA-F]*", text) else " including non-hex ones")
                + "; generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"
                " (or `tigerseal keygen --print`)"
            )
        return text.lower()

    @field_validator("jwt_secret", mode="before")
    @classmethod
    def _jwt_secret(cls, value: Any) -> Any:
        text = _secret_text(value)
        if text is None:
            return None
        if len(text) < 32:
            raise ValueError(
                f"must be at least 32 characters, got {len(text)}; generate one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return text

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: Any) -> Any:
        text = _secret_text(value)
        if text is None:
            return None
        problem = _url_problem(text.strip())
        if problem:
            raise ValueError(
                f"is not a database URL ({problem}); expected "
                "postgresql://USER:PASSWORD@HOST:5432/DBNAME (percent-encode special characters "
                "in the password) or sqlite:///path/to/file.db"
            )
        return text.strip()

    @field_validator("pbkdf2_iterations")
    @classmethod
    def _iterations(cls, value: int) -> int:
        if value < MIN_PBKDF2_ITERATIONS:
            raise ValueError(
                f"must be at least {MIN_PBKDF2_ITERATIONS} (OWASP recommends "
                f"{DEFAULT_PBKDF2_ITERATIONS} for PBKDF2-HMAC-SHA256), got {value}"
            )
        return value

    @field_validator("password_hash_algorithm", mode="before")
    @classmethod
    def _hasher(cls, value: Any) -> str:
        name = str(value).strip().lower()
        known = _known_hashers()
        canonical = known.get(name)
        if canonical is None:
            import difflib

            names = sorted(set(known.values()))
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"unknown password hash algorithm {name!r}; use one of {', '.join(names)}.{hint}"
            )
        return canonical

    @field_validator("jwt_algorithm", mode="before")
    @classmethod
    def _jwt_algorithm(cls, value: Any) -> str:
        text = str(value).strip()
        by_upper = {a.upper(): a for a in JWT_ALGORITHMS}
        if text.lower() == "none":
            raise ValueError(
                "'none' means unsigned tokens and is never accepted; use HS256, ES256, EdDSA "
                "or RS256"
            )
        alg = by_upper.get(text.upper())
        if alg is None:
            raise ValueError(
                f"unknown JWT algorithm {text!r}; use one of {', '.join(sorted(JWT_ALGORITHMS))}"
            )
        return alg

    @field_validator("jwt_issuer", "jwt_audience", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("jwt_access_token_expire", "jwt_refresh_token_expire")
    @classmethod
    def _positive_lifetime(cls, value: int) -> int:
        if value <= 0:
            raise ValueError(f"must be a positive number of seconds, got {value}")
        return value

    @field_validator("default_rate_limit_hour", "database_pool_size")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError(f"must be positive, got {value}")
        return value

    @field_validator("jwt_leeway")
    @classmethod
    def _leeway(cls, value: float) -> float:
        if not 0 <= value <= 300:
            raise ValueError(f"must be between 0 and 300 seconds, got {value}")
        return value

    @field_validator("database_ssl_mode", mode="before")
    @classmethod
    def _ssl_mode(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        mode = str(value).strip().lower()
        if mode not in SSL_MODES:
            raise ValueError(f"must be one of {', '.join(SSL_MODES)}, got {mode!r}")
        return mode

    @field_validator("api_key_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9]{0,15}", value):
            raise ValueError(
                "must be 1-16 lowercase letters or digits starting with a letter (e.g. tk)"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> str:
        level = str(value).strip().upper()
        if level not in ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"):
            raise ValueError("must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG")
        return level

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: Any) -> Any:
        return str(value).strip().lower()

    # -- production rules --------------------------------------------------------------------
    @model_validator(mode="after")
    def _production(self) -> Settings:
        if not self.is_production:
            return self
        problems: list[str] = []
        if self.encryption_master_key is not None:
            why = master_key_weakness(self.encryption_master_key.get_secret_value())
            if why:
                problems.append(
                    f"ENCRYPTION_MASTER_KEY is refused in production: {why}; generate a fresh "
                    "key with `tigerseal keygen --print` (or secrets.token_hex(32))"
                )
        try:
            select_key_providers(self)  # no keys at all, or the fake provider
        except ConfigError as exc:
            problems.append(str(exc))
        if self.jwt_algorithm.startswith("HS"):
            if self.jwt_secret is None:
                problems.append(
                    "JWT_SECRET is required in production with JWT_ALGORITHM="
                    f"{self.jwt_algorithm}: set it to at least 32 random characters "
                    "(secrets.token_urlsafe(48))"
                )
            else:
                why = jwt_secret_weakness(self.jwt_secret.get_secret_value())
                if why:
                    problems.append(
                        f"JWT_SECRET is refused in production: {why}; generate a fresh one "
                        "with secrets.token_urlsafe(48)"
                    )
        elif not self.jwt_keys_file and not self.jwt_signer:
            problems.append(
                f"JWT_ALGORITHM={self.jwt_algorithm} needs TIGERSEAL_JWT_KEYS_FILE (or "
                "TIGERSEAL_JWT_SIGNER) in production: create the key file with `tigerseal token "
                f"keygen --algorithm {self.jwt_algorithm} --out FILE`"
            )
        if problems:
            raise ValueError("ENVIRONMENT=production: " + "; ".join(problems))
        return self

    @property
    def is_production(self) -> bool:
        """Whether strict production rules apply."""
        return self.environment == "production"


# -- which key providers are configured -------------------------------------------------------
#: ``KeyProviderSelection.source`` values.
SOURCE_EXPLICIT = "TIGERSEAL_KEY_PROVIDERS"
SOURCE_MASTER_KEY = "ENCRYPTION_MASTER_KEY"
SOURCE_DEV_KEYRING = "development keyring"


@dataclass(frozen=True, slots=True)
class KeyProviderSelection:
    """Which key providers the settings select, and why.

    Attributes:
        uris: key URIs in order (the first one generates data keys).
        source: ``"TIGERSEAL_KEY_PROVIDERS"``, ``"ENCRYPTION_MASTER_KEY"`` or
            ``"development keyring"``.
        dev_keyring: the development keyring's absolute path when that is the selection.
    """

    uris: tuple[str, ...]
    source: str
    dev_keyring: Path | None = None


def current_environment() -> str:
    """The normalised ``ENVIRONMENT`` (``development``, ``test``, ``staging``, ``production``).

    From the settings; when they fail to validate, from the raw variable, and a value that is
    set but not recognised counts as ``production`` (a typo must not relax a check).
    """
    try:
        return get_settings().environment
    except ConfigError:
        raw = os.environ.get("ENVIRONMENT", "").strip().lower()
        if not raw:
            return "development"
        return _ENVIRONMENTS.get(raw, "production")


#: The normalised environments that look like a deployment: no development keyring, no fake://.
_DEPLOYMENTS = frozenset({"staging", "production"})


def looks_like_deployment(environment: str | None = None) -> bool:
    """Whether ``environment`` (default: :func:`current_environment`) looks like a deployment.

    The one rule for what tigerseal never does outside a developer's machine or a test run:
    fall back to the development keyring, or accept the in-memory ``fake://`` provider (its
    keys vanish at exit). ``staging`` counts: data written there must survive a redeploy too.

    Args:
        environment: a normalised ``ENVIRONMENT`` value (``Settings.environment``).
    """
    return (current_environment() if environment is None else environment) in _DEPLOYMENTS


#: Said whenever fake:// is refused (select_key_providers and tigerseal.testing.fake.from_uri).
FAKE_PROVIDER_REFUSED = (
    "the fake:// test provider keeps keys in memory and loses them at exit: never use it in "
    "production or staging; configure env://, file:// or a KMS, Vault or HSM key"
)


def select_key_providers(settings: Settings | None = None) -> KeyProviderSelection:
    """Decide which key providers are configured: the one rule every caller uses.

    ``TIGERSEAL_KEY_PROVIDERS`` if set; else ``env://ENCRYPTION_MASTER_KEY`` if that variable
    is set; else the development keyring file (``TIGERSEAL_KEYRING_PATH``), but only where the
    environment does not look like a deployment. The default service, ``tigerseal doctor``,
    ``tigerseal rotate`` and the production settings check all call this function. It writes
    nothing (the default service creates the development keyring on first use).

    Raises:
        ConfigError: nothing is configured and the development keyring is refused
            (:func:`looks_like_deployment`, or ``TIGERSEAL_ALLOW_DEV_KEYRING=false``); or the
            in-memory ``fake://`` test provider is configured where it looks like a deployment.
    """
    s = get_settings() if settings is None else settings
    explicit = tuple(s.key_providers.split())
    if explicit:
        if looks_like_deployment(s.environment):
            fakes = [u for u in explicit if u.partition(":")[0].strip().lower() == "fake"]
            if fakes:
                raise ConfigError(
                    f"TIGERSEAL_KEY_PROVIDERS names fake:// with ENVIRONMENT={s.environment}: "
                    + FAKE_PROVIDER_REFUSED
                )
        return KeyProviderSelection(explicit, SOURCE_EXPLICIT)
    if s.encryption_master_key is not None:
        return KeyProviderSelection((f"env://{SOURCE_MASTER_KEY}",), SOURCE_MASTER_KEY)
    how = (
        "set ENCRYPTION_MASTER_KEY to 64 fresh hex characters (`tigerseal keygen --print`), or "
        "TIGERSEAL_KEY_PROVIDERS to a KMS, Vault or HSM key (e.g. aws-kms://alias/app) or a "
        "keyring file (file:///etc/tigerseal/keyring.json)"
    )
    if looks_like_deployment(s.environment):
        raise ConfigError(
            f"ENCRYPTION_MASTER_KEY is required in {s.environment} (no encryption key is "
            f"configured): {how}; tigerseal never creates keys in a deployment (a generated "
            "keyring would be lost at the next deploy, and every message with it)"
        )
    if not s.allow_dev_keyring:
        raise ConfigError(
            "no encryption key is configured, and TIGERSEAL_ALLOW_DEV_KEYRING=false refuses "
            f"the development keyring: {how}"
        )
    path = Path(s.keyring_path).expanduser().resolve()
    return KeyProviderSelection((f"file://{path}",), SOURCE_DEV_KEYRING, path)


def _secret_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    text = str(value)
    return text if text.strip() else None


def _url_problem(url: str) -> str | None:
    """What is wrong with a database URL, without quoting any part of it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the port is not a number"
    scheme = parts.scheme
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme or ""):
        return "missing or invalid scheme"
    if scheme.startswith("sqlite"):
        return None
    if not parts.netloc and "host=" not in parts.query:
        return "no host"
    if port is not None and not 0 < port < 65536:
        return "the port is out of range"
    query = dict(parse_qsl(parts.query))
    mode = query.get("sslmode")
    if mode is not None and mode not in SSL_MODES:
        return f"sslmode must be one of {', '.join(SSL_MODES)}"
    return None


def _known_hashers() -> dict[str, str]:
    """Names PASSWORD_HASH_ALGORITHM may take (aliases included) -> the scheme's own name.

    Built-ins, installed entry points (by name, nothing imported) and plugins registered in a
    registry that already exists (validating settings must not build one).
    """
    from importlib import metadata

    from tigerseal import plugins

    names = {n: n for n in _BUILTIN_HASHERS} | dict(_HASHER_ALIASES)
    names.update((ep.name, ep.name) for ep in metadata.entry_points(group="tigerseal.hashers"))
    registry = plugins._registry
    if registry is not None:
        names.update(
            (k, spec.name) for k, spec in registry.specs("register_password_hashers").items()
        )
    return names


def _describe(exc: ValidationError) -> str:
    """A ConfigError message from a ValidationError: variable names and fixes, no values."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        lines.append(f"{loc.upper()}: {msg}" if loc else msg)
    return "invalid configuration: " + "; ".join(lines)


def check_per_process_store(variable: str, consequence: str, shared: str) -> None:
    """Refuse a per-process (``memory://``) store in production unless single-process is chosen.

    With several workers, state kept in one worker's memory is invisible to the others, so
    production requires either a shared store or ``TIGERSEAL_SINGLE_PROCESS=true``, which says
    the deployment runs exactly one process.

    Args:
        variable: the setting that chose the store (``TIGERSEAL_RATE_LIMIT_STORAGE``).
        consequence: what goes wrong with several workers, for the message.
        shared: the store to use instead (``redis://HOST:6379/0``).

    Raises:
        ConfigError: production without the single-process opt-in.
    """
    settings = get_settings()
    if settings.is_production and not settings.single_process:
        raise ConfigError(
            f"{variable} is memory:// (this process only) with ENVIRONMENT=production: "
            f"{consequence}. Set {variable}={shared} (pip install tigerseal-redis) to share it "
            "between workers, or set TIGERSEAL_SINGLE_PROCESS=true if this deployment runs "
            "exactly one process"
        )


_settings: Settings | None = None
_security: SecurityConfig | None = None
_lock = threading.Lock()


def get_settings() -> Settings:
    """The process-wide settings, read once from the environment and ``.env``.

    Raises:
        ConfigError: a variable is invalid, or a production rule is broken.
    """
    global _settings
    if _settings is None:
        with _lock:
            if _settings is None:
                _settings = Settings()
    return _settings


def reset_settings() -> None:
    """Forget cached settings (tests, or after changing the environment)."""
    global _settings, _security
    with _lock:
        _settings = None
        _security = None


# -- the seed's security configuration ----------------------------------------------------------
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


def get_security_config() -> SecurityConfig:
    """The process-wide :class:`SecurityConfig` (built once, like :func:`get_settings`)."""
    global _security
    config = _security
    if config is None:
        settings = get_settings()
        with _lock:
            if _security is None:
                _security = SecurityConfig.from_settings(settings)
            config = _security
    return config


# -- database ---------------------------------------------------------------------------------
class ConnectionString(str):
    """A database URL that redacts its password whenever it is shown.

    The string value is the real URL, so drivers that take a ``str`` (psycopg, SQLAlchemy's
    ``create_engine``, asyncpg) connect with it; ``str()``, ``repr()``, f-strings and ``%s``
    logging show ``user:***@host`` instead. Call :meth:`reveal` when a library insists on
    calling ``str()`` on its argument.
    """

    __slots__ = ()

    def reveal(self) -> str:
        """The full URL, password included, as a plain ``str``."""
        return str.__str__(self)

    @property
    def redacted(self) -> str:
        """The URL with the password replaced by ``***``."""
        return redact_url(str.__str__(self))

    def __str__(self) -> str:
        return self.redacted

    def __repr__(self) -> str:
        return f"ConnectionString({self.redacted!r})"

    def __format__(self, spec: str) -> str:
        return format(self.redacted, spec)


def redact_url(url: str) -> str:
    """Replace the password of a URL (if any) with ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    host = parts.netloc.rpartition("@")[2]
    start = len(parts.scheme) + 3  # "scheme://"
    return url[:start] + f"{user}:***@{host}" + url[start + len(parts.netloc) :]


@dataclass(frozen=True, repr=False)
class DatabaseConfig:
    """Database connection settings from ``DATABASE_URL`` (the password never shows).

    Attributes:
        scheme: URL scheme (``postgresql``, ``postgresql+psycopg``, ``sqlite``, ...).
        host: host name (``None`` for SQLite or a Unix socket given in the query).
        port: port, or ``None`` for the driver's default.
        database: database name (or SQLite path).
        username: user name, if any.
        password: the password as a ``SecretStr``.
        ssl_mode: libpq ``sslmode`` (``None`` for SQLite).
        pool_size: connection pool size.
        query: other query parameters.
    """

    scheme: str
    host: str | None
    port: int | None
    database: str
    username: str | None
    password: SecretStr | None = field(compare=False)
    ssl_mode: str | None
    pool_size: int = 5
    query: Mapping[str, str] = field(default_factory=dict)
    _url: str = field(default="", compare=False)

    @classmethod
    def from_url(
        cls, url: str, *, ssl_mode: str | None = None, pool_size: int = 5, production: bool = False
    ) -> DatabaseConfig:
        """Parse a database URL.

        Args:
            url: the URL (validated as ``DATABASE_URL`` is).
            ssl_mode: ``sslmode`` used when the URL has none.
            pool_size: connection pool size.
            production: default ``sslmode`` to ``require`` instead of ``prefer``.

        Raises:
            ConfigError: the URL is malformed (the message does not quote it).
        """
        problem = _url_problem(url)
        if problem:
            raise ConfigError(f"DATABASE_URL is not a database URL ({problem})")
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        is_sqlite = parts.scheme.startswith("sqlite")
        mode: str | None = None
        if not is_sqlite:
            mode = query.get("sslmode") or ssl_mode or ("require" if production else "prefer")
            if mode not in SSL_MODES:
                raise ConfigError(f"DATABASE_SSL_MODE must be one of {', '.join(SSL_MODES)}")
            if parts.scheme.startswith("postgres") and "sslmode" not in query:
                query["sslmode"] = mode
                # Rebuild by hand: urlunsplit turns "postgresql:///db" into "postgresql:/db".
                url = url.partition("#")[0].partition("?")[0] + "?" + urlencode(query)
        password = parts.password
        return cls(
            scheme=parts.scheme,
            host=parts.hostname,
            port=parts.port,
            database=unquote(parts.path.lstrip("/")) if not is_sqlite else parts.path,
            username=unquote(parts.username) if parts.username else None,
            password=SecretStr(unquote(password)) if password is not None else None,
            ssl_mode=mode,
            pool_size=pool_size,
            query=dict(query),
            _url=url,
        )

    @property
    def connection_string(self) -> ConnectionString:
        """The URL to connect with (``sslmode`` added for PostgreSQL); shows redacted."""
        return ConnectionString(self._url)

    @property
    def redacted_url(self) -> str:
        """The URL with the password replaced by ``***`` (for logs and UIs)."""
        return redact_url(self._url)

    def with_password(self, password: str) -> DatabaseConfig:
        """A copy with another password (e.g. fetched from a secrets manager)."""
        parts = urlsplit(self._url)
        user = quote(self.username or "", safe="")
        host = parts.netloc.rpartition("@")[2]
        start = len(parts.scheme) + 3
        url = (
            self._url[:start]
            + f"{user}:{quote(password, safe='')}@{host}"
            + self._url[start + len(parts.netloc) :]
        )
        return DatabaseConfig.from_url(url, ssl_mode=self.ssl_mode, pool_size=self.pool_size)

    def __repr__(self) -> str:
        return (
            f"DatabaseConfig(url={self.redacted_url!r}, ssl_mode={self.ssl_mode!r}, "
            f"pool_size={self.pool_size})"
        )

    __str__ = __repr__


def get_database_config() -> DatabaseConfig:
    """The database configuration from ``DATABASE_URL``, ``DATABASE_SSL_MODE`` and friends.

    Raises:
        ConfigError: ``DATABASE_URL`` is not set or malformed.
    """
    settings = get_settings()
    if settings.database_url is None:
        raise ConfigError(
            "DATABASE_URL is not set; set it in the environment or .env, e.g. "
            "DATABASE_URL=postgresql://USER:PASSWORD@localhost:5432/tiger_mcp"
        )
    return DatabaseConfig.from_url(
        settings.database_url.get_secret_value(),
        ssl_mode=settings.database_ssl_mode,
        pool_size=settings.database_pool_size,
        production=settings.is_production,
    )


# -- logging ----------------------------------------------------------------------------------
_STD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


def _log_marker(kind: str, secret: str) -> str:
    # Logs are for people: a marker that says what was there (the audit trail hashes instead).
    if kind == "jwt":
        return "[REDACTED-JWT]"
    if kind == "url_password":
        return "***"
    if kind == "prefixed" and "_" in secret:
        return secret.split("_", 1)[0] + "_[REDACTED]"
    return "[REDACTED]"


def redact_text(text: str) -> str:
    """Replace secret-shaped parts of free text (the rules of :mod:`tigerseal._redact`)."""
    from tigerseal._redact import scrub

    return scrub(text, _log_marker)


def redact_value(key: str, value: Any, _depth: int = 0) -> Any:
    """Redact a structured field: by name (``password``, ``pw``, ``token``...) or by shape.

    Keys are redacted by shape too (a map of token -> user); bytes become ``[bytes N]``,
    other objects their redacted text, and nesting stops at 8 levels.
    """
    from tigerseal._redact import KEEP, name_rule

    if name_rule(key) != KEEP:
        return "[REDACTED]"
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return f"[bytes {len(value)}]"
    if _depth >= 8:
        return "[nested too deep]"
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            name = redact_text(str(k))
            out[name] = redact_value(name, v, _depth + 1)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(key, v, _depth + 1) for v in value]
    return redact_text(str(value))


class RedactingFormatter(logging.Formatter):
    """A text formatter that redacts token-, key- and password-shaped substrings."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, and extra fields.

    Fields passed with ``extra=`` are included; those whose names look secret (``password``,
    ``token``, ``api_key``...) are replaced by ``[REDACTED]``, and token- or key-shaped text is
    redacted everywhere.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                entry[key] = redact_value(key, value)
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


_HANDLER_MARK = "_tigerseal_handler"


def configure_logging(
    level: str | int | None = None,
    *,
    json_format: bool | None = None,
    stream: IO[str] | None = None,
    logger: str | None = None,
) -> logging.Handler:
    """Configure logging: text or structured JSON lines, with secrets redacted.

    Calling it again replaces the handler it installed before (never stacks handlers).

    Args:
        level: level name or number; default ``TIGERSEAL_LOG_LEVEL`` (INFO).
        json_format: one JSON object per line; default ``TIGERSEAL_LOG_FORMAT == "json"``.
        stream: where to write; default ``sys.stderr``.
        logger: logger to configure; default the root logger.

    Returns:
        The installed handler.
    """
    settings: Settings | None
    try:
        settings = get_settings()
    except ConfigError:
        settings = None  # logging must come up even when the rest of the config is broken
    if level is None:
        level = settings.log_level if settings else "INFO"
    if json_format is None:
        json_format = bool(settings and settings.log_format == "json")
    target = logging.getLogger(logger)
    for old in [h for h in target.handlers if getattr(h, _HANDLER_MARK, False)]:
        target.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    target.addHandler(handler)
    target.setLevel(level.upper() if isinstance(level, str) else level)
    return handler


# -- .env template ----------------------------------------------------------------------------
def generate_env_template(
    path: str | os.PathLike[str] = ".env.template",
    *,
    overwrite: bool = False,
    environment: str = "development",
    backup_to: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a commented ``.env`` template with freshly generated secrets.

    Every setting is listed with its description and default; ``ENCRYPTION_MASTER_KEY`` and
    ``JWT_SECRET`` get new random values (so the file is a secret: it is created with mode
    0600). An existing file is never overwritten silently.

    Args:
        path: where to write.
        overwrite: replace an existing file (atomically) instead of refusing.
        environment: the ``ENVIRONMENT`` value to write.
        backup_to: with ``overwrite``, first copy an existing file here (mode 0600, never over
            an existing file): its master key may still wrap data (``env-template --force``).

    Returns:
        The path written.

    Raises:
        ConfigError: the file exists and ``overwrite`` is false.
    """
    target = Path(path)
    text = _template_text(environment)
    if not overwrite:
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise ConfigError(
                f"{target} already exists; pass overwrite=True (CLI: --force) to replace it, "
                "or choose another path"
            ) from None
        from tigerseal import _files

        try:
            _files.write_all(fd, text.encode("utf-8"))
            os.fsync(fd)  # it holds a fresh master key: a crash must not leave it empty
        finally:
            os.close(fd)
        _files.fsync_dir(target.parent.absolute())
        return target
    from tigerseal import _files

    if backup_to is not None and target.exists():
        try:
            _files.write_backup(target, Path(backup_to))
        except OSError as exc:
            raise ConfigError(
                f"could not back up {target} to {backup_to} ({exc.strerror}); nothing was replaced"
            ) from exc
    target = _files.rename_target(target)  # a linked .env is replaced where it lives
    # fsynced like a keyring: the file holds the master key that wraps existing data.
    _files.write_private(target, text.encode("utf-8"))
    return target


_TEMPLATE_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Required in production",
        ("ENVIRONMENT", "ENCRYPTION_MASTER_KEY", "JWT_SECRET", "DATABASE_URL"),
    ),
    (
        "Passwords, tokens and API keys",
        (
            "PASSWORD_HASH_ALGORITHM",
            "PBKDF2_ITERATIONS",
            "TIGERSEAL_PASSWORD_PEPPER_FILE",
            "JWT_ALGORITHM",
            "JWT_ACCESS_TOKEN_EXPIRE",
            "JWT_REFRESH_TOKEN_EXPIRE",
            "JWT_ISSUER",
            "JWT_AUDIENCE",
            "JWT_LEEWAY",
            "TIGERSEAL_JWT_KEYS_FILE",
            "TIGERSEAL_JWT_SIGNER",
            "TIGERSEAL_REVOCATION_STORE",
            "TIGERSEAL_API_KEY_PREFIX",
        ),
    ),
    ("Rate limiting", ("DEFAULT_RATE_LIMIT_HOUR", "TIGERSEAL_RATE_LIMIT_STORAGE",
                       "TIGERSEAL_RATE_LIMIT_ALGORITHM", "TIGERSEAL_SINGLE_PROCESS")),
)  # fmt: skip


def _template_text(environment: str) -> str:
    env = _ENVIRONMENTS.get(environment.strip().lower())
    if env is None:
        raise ConfigError("environment must be one of development, test, staging, production")
    fields = {str(f.validation_alias): (name, f) for name, f in Settings.model_fields.items()}
    fresh = {
        "ENVIRONMENT": env,
        "ENCRYPTION_MASTER_KEY": secrets.token_hex(32),
        "JWT_SECRET": secrets.token_urlsafe(48),
    }
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = [
        f"# tigerseal configuration template, generated {now}.",
        "# It holds freshly generated secrets: keep it out of version control, and copy it to",
        "# .env (or your secrets manager). Commented lines show defaults.",
    ]
    listed: set[str] = set()
    sections = [*_TEMPLATE_SECTIONS, ("Everything else", tuple(fields))]
    for title, names in sections:
        block: list[str] = []
        for alias in names:
            if alias in listed or alias not in fields:
                continue
            listed.add(alias)
            _, info = fields[alias]
            block.append(f"# {info.description}")
            if alias in fresh:
                block.append(f"{alias}={fresh[alias]}")
            elif alias == "DATABASE_URL":
                block.append(f"# {alias}=postgresql://USER:PASSWORD@localhost:5432/tiger_mcp")
            else:
                default = info.default
                shown = (
                    ""
                    if default is None
                    else str(default).lower()
                    if isinstance(default, bool)
                    else str(default)
                )
                block.append(f"# {alias}={shown}")
        if block:
            out += ["", f"# -- {title} " + "-" * max(3, 76 - len(title)), *block]
    return "\n".join(out) + "\n"
