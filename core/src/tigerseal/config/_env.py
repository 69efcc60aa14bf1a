"""Where each setting is read from: the one resolution rule (no pydantic import).

Every setting ``field`` is read from ``TIGERSEAL_<FIELD>``; the seed's settings also from the
seed's name (``ENCRYPTION_MASTER_KEY``, ``JWT_SECRET``, ``ENVIRONMENT``, ``DATABASE_URL`` ...)
when the ``TIGERSEAL_`` one is unset. The ``TIGERSEAL_`` name always wins. Names are matched
case-insensitively (as pydantic-settings did). The process environment wins over the dotenv
file, which is read only when named: ``TIGERSEAL_ENV_FILE`` or ``Settings(_env_file=...)``.

:class:`~tigerseal.config.Settings` and the fast path that selects key providers without
building it (:func:`tigerseal.config.select_key_providers` on a cold start) both call
:func:`lookup`, so the two cannot disagree.

The environment has its own rule (:func:`environment_from`): ``TIGERSEAL_ENVIRONMENT`` is
strict, while a value of the host's generic ``ENVIRONMENT`` that tigerseal does not know
(``uat``, ``qa``, ``preprod``) means "some deployment": ``staging`` rules apply (no development
keyring, no ``fake://``), or ``production`` when it is a near miss of that word (``prodution``:
a typo must not relax the production checks).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from tigerseal._defaults import ProcessDefault
from tigerseal.config._constants import (
    _ENVIRONMENTS,
    DEFAULT_KEYRING_PATH,
    master_key_problem,
    parse_aio_threads,
    parse_bool,
)
from tigerseal.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from tigerseal.config._settings import Settings

__all__ = [
    "ENV_FILE_VARIABLE",
    "KEY_SETTINGS",
    "PREFIX",
    "SEED_NAMES",
    "SETTINGS",
    "KeySettings",
    "configured_env_file",
    "environment_from",
    "lookup",
    "read_env_file",
    "settings_environ",
    "variable_names",
]

PREFIX = "TIGERSEAL_"
#: Names the dotenv file tigerseal reads (none unless set): ``TIGERSEAL_ENV_FILE=.env``.
ENV_FILE_VARIABLE = "TIGERSEAL_ENV_FILE"

#: field -> the seed's variable name, read when ``TIGERSEAL_<FIELD>`` is unset.
SEED_NAMES: dict[str, str] = {
    "environment": "ENVIRONMENT",
    "encryption_master_key": "ENCRYPTION_MASTER_KEY",
    "jwt_secret": "JWT_SECRET",
    "database_url": "DATABASE_URL",
    "pbkdf2_iterations": "PBKDF2_ITERATIONS",
    "password_hash_algorithm": "PASSWORD_HASH_ALGORITHM",
    "jwt_access_token_expire": "JWT_ACCESS_TOKEN_EXPIRE",
    "default_rate_limit_hour": "DEFAULT_RATE_LIMIT_HOUR",
    "jwt_algorithm": "JWT_ALGORITHM",
    "jwt_refresh_token_expire": "JWT_REFRESH_TOKEN_EXPIRE",
    "jwt_issuer": "JWT_ISSUER",
    "jwt_audience": "JWT_AUDIENCE",
    "jwt_leeway": "JWT_LEEWAY",
    "database_ssl_mode": "DATABASE_SSL_MODE",
    "database_pool_size": "DATABASE_POOL_SIZE",
}


def variable(field: str) -> str:
    """The ``TIGERSEAL_`` variable of a setting (``key_providers``: ``TIGERSEAL_KEY_PROVIDERS``)."""
    return PREFIX + field.upper()


def variable_names(field: str) -> tuple[str, ...]:
    """Every variable a setting is read from, in priority order."""
    seed = SEED_NAMES.get(field)
    return (variable(field), seed) if seed else (variable(field),)


def lookup(field: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``(variable, value)`` for a setting, or ``None`` when no variable of it is set.

    Args:
        field: the setting (``Settings`` field name).
        environ: upper-cased names -> values (:func:`settings_environ`).
    """
    for name in variable_names(field):
        value = environ.get(name)
        if value is not None:
            return name, value
    return None


def aio_threads(field: str) -> int | None:
    """A tigerseal.aio pool size setting (``aio_io_threads``/``aio_hash_threads``); ``None``: unset.

    The process-wide :class:`~tigerseal.config.Settings` when built (explicit ones included),
    else the same variables read by the same rule without building them: the pools are created
    on the event loop, where importing pydantic and validating every setting would hold up
    every request.

    Raises:
        ConfigError: the variable is not a whole number from 1 to 256.
    """
    built = SETTINGS.peek()
    if built is not None:
        value: int | None = getattr(built, field)
        return value
    found = lookup(field, settings_environ())
    if found is None or not found[1].strip():
        return None
    name, raw = found
    try:
        return parse_aio_threads(raw)
    except ValueError as exc:
        raise ConfigError(f"invalid configuration: {name}: {exc}") from None


def configured_env_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """The dotenv file named by ``TIGERSEAL_ENV_FILE`` (``None``: no file is read)."""
    env = os.environ if environ is None else environ
    name = env.get(ENV_FILE_VARIABLE, "").strip()
    if not name:
        return None
    from pathlib import Path  # not on the cold path: pathlib imports urllib and ipaddress

    return Path(name).expanduser()


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``NAME=value`` pairs of a dotenv file (python-dotenv's syntax).

    Raises:
        ConfigError: the file was named but cannot be read.
    """
    from pathlib import Path

    target = Path(path)
    if not target.is_file():
        raise ConfigError(
            f"the settings file {target} does not exist (named by {ENV_FILE_VARIABLE} or "
            "_env_file=); create it with `tigerseal env-template`, or unset the variable"
        )
    from dotenv import dotenv_values  # python-dotenv, installed with pydantic-settings

    try:
        values = dotenv_values(target, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the settings file {target}: {exc}") from None
    return {k: v for k, v in values.items() if v is not None}


def settings_environ(
    environ: Mapping[str, str] | None = None, env_file: str | os.PathLike[str] | None = None
) -> dict[str, str]:
    """Upper-cased variable names -> values: the dotenv file overlaid by the environment.

    Args:
        environ: the process environment (default ``os.environ``).
        env_file: the dotenv file; default the one ``TIGERSEAL_ENV_FILE`` names, if any.
    """
    env = os.environ if environ is None else environ
    path = configured_env_file(env) if env_file is None else _path(env_file)
    merged: dict[str, str] = {}
    if path is not None:
        merged.update((k.upper(), v) for k, v in read_env_file(path).items())
    merged.update((k.upper(), v) for k, v in env.items())
    return merged


def _path(name: str | os.PathLike[str]) -> Path:
    from pathlib import Path

    return Path(name)


def environment_from(environ: Mapping[str, str]) -> tuple[str, str | None]:
    """The normalised environment and the variable it came from (the documented rule).

    Returns:
        ``(environment, variable)``; ``("development", None)`` when neither is set.

    Raises:
        ConfigError: ``TIGERSEAL_ENVIRONMENT`` is set to an unknown value (it is tigerseal's
            own variable: a mistake there is refused, never guessed).
    """
    found = lookup("environment", environ)
    if found is None:
        return "development", None
    name, raw = found
    text = raw.strip().lower()
    known = _ENVIRONMENTS.get(text)
    if known is not None:
        return known, name
    if name == variable("environment"):
        raise ConfigError(
            f"invalid configuration: {name}: must be one of development, test, staging, "
            f"production (dev, prod accepted); fix the spelling of {name}"
        ) from None
    if not text:
        return "development", name
    meant = unknown_host_environment(text)
    if text not in _WARNED:
        _WARNED.add(text)
        from tigerseal._text import escape_control

        logging.getLogger("tigerseal.config").warning(
            "%s=%s is not an environment tigerseal knows: %s rules apply (see "
            "docs/configuration.md); set TIGERSEAL_ENVIRONMENT to development, test, staging "
            "or production to choose",
            name,
            escape_control(raw, limit=40),
            meant,
        )
    return meant, name


_WARNED: set[str] = set()


def unknown_host_environment(text: str) -> str:
    """What an unknown value of the host's ``ENVIRONMENT`` means (``uat`` -> ``staging``).

    A deployment tigerseal does not know, so ``staging`` rules; ``production`` for a near miss
    of that word (a typo must not relax the production checks).
    """
    import difflib

    if difflib.get_close_matches(text, ["production"], n=1, cutoff=0.8):
        return "production"
    return "staging"


# -- the process-wide settings, and the few the envelope path needs --------------------------
def _build_settings() -> Settings:
    from tigerseal.config._settings import Settings

    return Settings()


#: The process-wide :class:`~tigerseal.config.Settings` (``get_settings()``).
SETTINGS: ProcessDefault[Settings] = ProcessDefault("settings", _build_settings)

#: The variables :class:`KeySettings` covers; any other setting of the key path being set
#: (the data-key cache) means the full settings are built instead.
_KEY_FIELDS = ("environment", "key_providers", "encryption_master_key", "keyring_path",
               "allow_dev_keyring")  # fmt: skip
_FULL_FIELDS = ("cache_enabled", "cache_max_age", "cache_max_messages", "cache_max_bytes")


class _Secret:
    """A secret's text that never shows in repr (pydantic's SecretStr without pydantic)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "_Secret('**********')"


class KeySettings:
    """The settings that select key providers, read without building :class:`Settings`.

    A cold process that only encrypts needs five settings; validating the other thirty (and
    importing pydantic to do it) would triple its start-up time. They are read with the same
    rule (:func:`lookup`, :func:`environment_from`) and checked with the same functions as in
    :class:`~tigerseal.config.Settings`. :attr:`sufficient` is false, and the full settings
    are built instead, in production (every production rule runs before the first key is
    used) and when a data-key cache setting is set.
    """

    cache_enabled = False
    problems: Mapping[str, str] = {}

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = settings_environ(environ)
        self.environment, _ = environment_from(env)
        self._sources: dict[str, str] = {}
        values: dict[str, str] = {}
        for field in _KEY_FIELDS[1:]:
            found = lookup(field, env)
            if found is not None:
                self._sources[field], values[field] = found
        self.key_providers = values.get("key_providers", "")
        self.keyring_path = values.get("keyring_path", DEFAULT_KEYRING_PATH)
        raw = values.get("allow_dev_keyring")
        try:
            self.allow_dev_keyring = True if raw is None else parse_bool(raw)
        except ValueError as exc:
            raise ConfigError(
                f"invalid configuration: {self.variable_for('allow_dev_keyring')}: {exc}"
            ) from None
        self.encryption_master_key: _Secret | None = None
        self._problems: dict[str, str] = {}
        key = values.get("encryption_master_key", "").strip()
        if key:
            problem = master_key_problem(key)
            if problem:
                self._problems["encryption_master_key"] = (
                    f"{self.variable_for('encryption_master_key')}: {problem}"
                )
            else:
                self.encryption_master_key = _Secret(key.lower())
        self.sufficient = self.environment != "production" and not any(
            lookup(f, env) for f in _FULL_FIELDS
        )

    @property
    def is_production(self) -> bool:
        """Whether strict production rules apply."""
        return self.environment == "production"

    def variable_for(self, field: str) -> str:
        """The variable a setting was read from (its ``TIGERSEAL_`` name when not set)."""
        return self._sources.get(field, variable(field))

    def require(self, *fields: str) -> None:
        """Raise for an invalid master key (as :meth:`Settings.require` does)."""
        found = [self._problems[f] for f in fields if f in self._problems]
        if found:
            raise ConfigError("invalid configuration: " + "; ".join(found))


#: The process-wide :class:`KeySettings` (reset with the settings).
KEY_SETTINGS: ProcessDefault[KeySettings] = ProcessDefault("key settings", KeySettings)
