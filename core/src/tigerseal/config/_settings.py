"""The :class:`Settings` model: every tigerseal setting, validated when built.

Where each value is read from is :mod:`tigerseal.config._env` (the one resolution rule); the
package docstring (:mod:`tigerseal.config`) describes names, fallbacks and the ``.env`` file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from tigerseal._weakness import jwt_secret_weakness, master_key_weakness
from tigerseal.config._constants import (
    _ENVIRONMENTS,
    DEFAULT_AIO_IO_THREADS,
    DEFAULT_KEYRING_PATH,
    DEFAULT_PBKDF2_ITERATIONS,
    JWT_ALGORITHMS,
    MIN_PBKDF2_ITERATIONS,
    SSL_MODES,
    _known_hashers,
    master_key_problem,
    parse_aio_threads,
    parse_bool,
    url_problem,
)
from tigerseal.config._env import (
    KEY_SETTINGS,
    PREFIX,
    SEED_NAMES,
    SETTINGS,
    environment_from,
    lookup,
    settings_environ,
    variable,
)
from tigerseal.errors import ConfigError

__all__ = ["Settings", "get_settings", "reset_settings"]


# -- settings -------------------------------------------------------------------------------
class Settings(BaseModel):
    """All tigerseal settings, from the environment (and a dotenv file only when named).

    Each setting is read from ``TIGERSEAL_<NAME>``; the seed's settings fall back to the seed's
    name (``ENCRYPTION_MASTER_KEY``, ``JWT_SECRET``, ``ENVIRONMENT``, ``DATABASE_URL`` ...).
    Keyword arguments (field names, or ``TIGERSEAL_`` names) win over the environment.

    A ``TIGERSEAL_`` variable or a keyword with a bad value is refused when the instance is
    built. A bad value in an unprefixed fallback (most likely the host application's own
    ``JWT_SECRET`` or ``DATABASE_URL``, meaning something else) is set aside instead: the
    setting keeps its default, and only the calls that need it raise (:meth:`require`), with
    the same message. Secrets are ``SecretStr``: they never show in repr or logs. Errors are
    :class:`~tigerseal.errors.ConfigError` (never a pydantic error carrying the value).

    Args:
        _env_file: a dotenv file to read (under the environment); default the file named by
            ``TIGERSEAL_ENV_FILE``, else none. The working directory's ``.env`` is never read
            implicitly.
        _environ: the variables to read instead of ``os.environ`` (tests, embedding).
        **values: settings by field name (``environment="test"``) or ``TIGERSEAL_`` name.
    """

    model_config = ConfigDict(
        extra="ignore",
        hide_input_in_errors=True,
        populate_by_name=True,
    )

    _sources: Mapping[str, str] = PrivateAttr(default_factory=dict)
    _problems: Mapping[str, str] = PrivateAttr(default_factory=dict)

    # -- the seed's variables ----------------------------------------------------------------
    environment: str = Field(
        default="development",
        validation_alias="TIGERSEAL_ENVIRONMENT",
        description="development, test, staging or production (production refuses weak keys)",
    )
    encryption_master_key: SecretStr | None = Field(
        default=None,
        validation_alias="TIGERSEAL_ENCRYPTION_MASTER_KEY",
        description="256-bit master key as 64 hex characters (key for env://ENCRYPTION_MASTER_KEY)",
    )
    jwt_secret: SecretStr | None = Field(
        default=None,
        validation_alias="TIGERSEAL_JWT_SECRET",
        description="HMAC secret for HS256 JWTs, at least 32 characters",
    )
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias="TIGERSEAL_DATABASE_URL",
        description="database URL, e.g. postgresql://user:password@localhost:5432/tiger_mcp",
    )
    pbkdf2_iterations: int = Field(
        default=DEFAULT_PBKDF2_ITERATIONS,
        validation_alias="TIGERSEAL_PBKDF2_ITERATIONS",
        description="PBKDF2-HMAC-SHA256 iterations (OWASP 2023: 600000)",
    )
    password_hash_algorithm: str = Field(
        default="argon2",
        validation_alias="TIGERSEAL_PASSWORD_HASH_ALGORITHM",
        description="scheme for new password hashes: argon2, bcrypt, scrypt or pbkdf2-sha256",
    )
    jwt_access_token_expire: int = Field(
        default=3600,
        validation_alias="TIGERSEAL_JWT_ACCESS_TOKEN_EXPIRE",
        description="access-token lifetime in seconds",
    )
    default_rate_limit_hour: int = Field(
        default=1000,
        validation_alias="TIGERSEAL_DEFAULT_RATE_LIMIT_HOUR",
        description="requests per hour when no limit is given",
    )

    # -- tokens ------------------------------------------------------------------------------
    jwt_algorithm: str = Field(
        default="HS256",
        validation_alias="TIGERSEAL_JWT_ALGORITHM",
        description="JWS alg of new tokens: HS256 (JWT_SECRET) or EdDSA/ES256/RS256 (key file)",
    )
    jwt_refresh_token_expire: int = Field(
        default=14 * 24 * 3600,
        validation_alias="TIGERSEAL_JWT_REFRESH_TOKEN_EXPIRE",
        description="refresh-token lifetime in seconds",
    )
    jwt_issuer: str | None = Field(
        default="tigerseal",
        validation_alias="TIGERSEAL_JWT_ISSUER",
        description="iss claim written and required (empty: none)",
    )
    jwt_audience: str | None = Field(
        default=None,
        validation_alias="TIGERSEAL_JWT_AUDIENCE",
        description="aud claim written and required (empty: none)",
    )
    jwt_leeway: float = Field(
        default=30.0,
        validation_alias="TIGERSEAL_JWT_LEEWAY",
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
        validation_alias="TIGERSEAL_DATABASE_SSL_MODE",
        description="libpq sslmode if DATABASE_URL has none (prefer; production: require)",
    )
    database_pool_size: int = Field(
        default=5,
        validation_alias="TIGERSEAL_DATABASE_POOL_SIZE",
        description="connection pool size",
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
        default=DEFAULT_KEYRING_PATH,
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
    aio_io_threads: int = Field(
        default=DEFAULT_AIO_IO_THREADS,
        validation_alias="TIGERSEAL_AIO_IO_THREADS",
        description="threads of tigerseal.aio's I/O pool for blocking key-provider calls "
        "(1-256; 10 matches botocore's connection pool)",
    )
    aio_hash_threads: int | None = Field(
        default=None,
        validation_alias="TIGERSEAL_AIO_HASH_THREADS",
        description="threads of tigerseal.aio's password-hashing pool (1-256; default: the "
        "number of CPU cores)",
    )

    def __init__(
        self,
        _env_file: str | os.PathLike[str] | None = None,
        _environ: Mapping[str, str] | None = None,
        **values: Any,
    ) -> None:
        fields = type(self).model_fields
        explicit = {_field_of(k): v for k, v in values.items() if _field_of(k) in fields}
        env = settings_environ(_environ, _env_file)
        data: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for name in fields:
            if name in explicit:
                continue
            found = lookup(name, env)
            if found is not None:
                sources[name], data[name] = found
        if "environment" not in explicit:
            environment, source = environment_from(env)  # its own rule (see _env)
            if source is not None:
                data["environment"], sources["environment"] = environment, source
        problems: dict[str, str] = {}
        while True:
            try:
                super().__init__(**data, **explicit)
                break
            except ValidationError as exc:
                deferred = _fallback_errors(exc, sources)
                if not deferred:
                    # ``from None``: the pydantic error would print the offending (secret) value.
                    raise ConfigError(_describe(exc, sources)) from None
                for name, message in deferred.items():
                    problems[name] = message
                    del data[name]
        self._sources = MappingProxyType(sources)
        self._problems = MappingProxyType(problems)

    @property
    def problems(self) -> Mapping[str, str]:
        """Fallback variables set aside as invalid: setting name -> message (no value)."""
        return self._problems

    def variable_for(self, field: str) -> str:
        """The variable a setting was read from (its ``TIGERSEAL_`` name when not set)."""
        return self._sources.get(field, variable(field))

    def require(self, *fields: str) -> None:
        """Raise if a setting a call needs came from an invalid fallback variable.

        Raises:
            ConfigError: naming each variable, what is wrong with it, and how to give
                tigerseal its own value (``TIGERSEAL_<NAME>``).
        """
        found = [(f, self._problems[f]) for f in fields if f in self._problems]
        if found:
            raise ConfigError(
                "invalid configuration: "
                + "; ".join(message for _, message in found)
                + ". If that variable belongs to another part of the application, set "
                + ", ".join(variable(f) for f, _ in found)
                + " for tigerseal instead (the TIGERSEAL_ name wins)"
            )

    # -- field checks ------------------------------------------------------------------------
    @field_validator("environment", mode="before")
    @classmethod
    def _environment(cls, value: Any) -> str:
        name = _ENVIRONMENTS.get(str(value).strip().lower())
        if name is None:
            # A typo ("prodution") must not silently relax the production checks.
            raise ValueError(
                "must be one of development, test, staging, production; "
                "fix the spelling of TIGERSEAL_ENVIRONMENT"
            )
        return name

    @field_validator("encryption_master_key", mode="before")
    @classmethod
    def _master_key(cls, value: Any) -> Any:
        text = _secret_text(value)
        if text is None:
            return None
        text = text.strip()
        problem = master_key_problem(text)
        if problem:
            raise ValueError(problem)
        return text.lower()

    @field_validator("allow_dev_keyring", "cache_enabled", "single_process", mode="before")
    @classmethod
    def _bool(cls, value: Any) -> bool:
        return parse_bool(value)  # the rule the key-settings fast path uses too

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
        problem = url_problem(text.strip())
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

    @field_validator("aio_io_threads", "aio_hash_threads", mode="before")
    @classmethod
    def _threads(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return parse_aio_threads(value)

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
        from tigerseal.config._providers import select_key_providers

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


def _secret_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    text = str(value)
    return text if text.strip() else None


def _field_of(name: str) -> str:
    """The field a keyword or an error location names (``TIGERSEAL_JWT_SECRET``: ``jwt_secret``)."""
    upper = name.upper()
    if upper.startswith(PREFIX):
        return upper[len(PREFIX) :].lower()
    return _SEED_FIELDS.get(upper, name)


_SEED_FIELDS = {seed: field for field, seed in SEED_NAMES.items()}


def _message(err: Any) -> str:
    msg = str(err["msg"])
    return msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg


def _fallback_errors(exc: ValidationError, sources: Mapping[str, str]) -> dict[str, str]:
    """Field -> message for the errors caused by fallback (unprefixed) variables only.

    Empty when any error is not one (a ``TIGERSEAL_`` variable, a keyword, a production rule):
    those are refused outright.
    """
    out: dict[str, str] = {}
    for err in exc.errors(include_input=False, include_url=False):
        loc = err["loc"]
        field = _field_of(str(loc[0])) if loc else ""
        source = sources.get(field)
        if source is None or source.startswith(PREFIX):
            return {}
        out[field] = f"{source}: {_message(err)}"
    return out


def _describe(exc: ValidationError, sources: Mapping[str, str]) -> str:
    """A ConfigError message from a ValidationError: variable names and fixes, no values."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = err["loc"]
        if loc:
            field = _field_of(str(loc[0]))
            name = sources.get(field, variable(field))
            lines.append(f"{name}: {_message(err)}")
        else:
            lines.append(_message(err))
    return "invalid configuration: " + "; ".join(lines)


def get_settings() -> Settings:
    """The process-wide settings, read once from the environment (see :mod:`tigerseal.config`).

    Raises:
        ConfigError: a variable is invalid, or a production rule is broken.
    """
    return SETTINGS.get()


def reset_settings() -> None:
    """Forget cached settings (tests, or after changing the environment).

    Everything built from them (security config, password context, token manager) is rebuilt
    on next use; :func:`tigerseal.reset_defaults` resets every process-wide default.
    """
    SETTINGS.reset()
    KEY_SETTINGS.reset()
