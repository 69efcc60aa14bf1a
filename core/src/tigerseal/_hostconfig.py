"""tigerseal settings given by a host framework (Django's ``settings.TIGERSEAL``, Flask's config).

One rule for every framework integration: a mapping of setting names to values becomes a
:class:`~tigerseal.config.Settings` object. A name is accepted in any of the forms the
environment uses (``JWT_SECRET``, ``TIGERSEAL_KEY_PROVIDERS``), without the ``TIGERSEAL_``
prefix (``KEY_PROVIDERS``), or as the field name (``key_providers``), case-insensitively. Names
the integration itself owns (``TRUSTED_PROXIES`` ...) are returned separately; any other name is
an error naming it, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tigerseal._text import escape_control
from tigerseal.errors import ConfigError

if TYPE_CHECKING:
    from tigerseal.config import Settings
    from tigerseal.envelope import EncryptionService
    from tigerseal.passwords import PasswordContext
    from tigerseal.ratelimit import RateLimiter
    from tigerseal.tokens import TokenManager

__all__ = ["WEB_OPTIONS", "HostServices", "settings_from_mapping", "settings_names"]

#: The framework integrations' own settings and their defaults (Django's ``settings.TIGERSEAL``,
#: Flask's ``app.config["TIGERSEAL_..."]``); an integration may add its own on top.
WEB_OPTIONS: dict[str, Any] = {
    # Addresses or networks of reverse proxies whose X-Forwarded-For is believed ("unix" for a
    # proxy on a Unix socket).
    "TRUSTED_PROXIES": (),
    # A limit on every request per client: (requests, window seconds); None: off.
    "RATE_LIMIT": None,
    # Paths the app-wide limit leaves alone (a list of /paths, prefix match).
    "RATE_LIMIT_EXEMPT": (),
    # Realm of WWW-Authenticate challenges.
    "REALM": "api",
    # Sign-in lockout: failures per user name / per address, and their window.
    "LOGIN_MAX_FAILURES_PER_USER": 5,
    "LOGIN_MAX_FAILURES_PER_IP": 20,
    "LOGIN_LOCKOUT_SECONDS": 900.0,
}

_PREFIX = "TIGERSEAL_"


def settings_names() -> dict[str, str]:
    """Every accepted spelling (upper case) of every setting -> the Settings field name."""
    from tigerseal.config import Settings

    names: dict[str, str] = {}
    for field, info in Settings.model_fields.items():
        spellings = {field.upper()}
        alias = info.validation_alias
        choices: Iterable[Any] = getattr(alias, "choices", None) or ([alias] if alias else [])
        for choice in choices:
            if isinstance(choice, str):
                spellings.add(choice.upper())
        for spelling in list(spellings):
            if spelling.startswith(_PREFIX):
                spellings.add(spelling.removeprefix(_PREFIX))
        for spelling in spellings:
            names.setdefault(spelling, field)
    return names


def settings_from_mapping(
    values: Mapping[str, Any],
    *,
    source: str,
    own_keys: Iterable[str] = (),
) -> tuple[Settings | None, dict[str, Any]]:
    """Build :class:`~tigerseal.config.Settings` from a host framework's mapping.

    Values given here take precedence over the environment; settings not given keep their
    environment value or default.

    Args:
        values: setting name -> value (see the module docstring for accepted names).
        source: where the mapping comes from, for error messages (``settings.TIGERSEAL``).
        own_keys: upper-case names the integration handles itself; returned, not validated.

    Returns:
        The settings (``None`` if no tigerseal setting was given: use the process-wide
        defaults) and ``{name: value}`` of the integration's own keys that were given.

    Raises:
        ConfigError: an unknown name (with the closest known one), or an invalid value.
    """
    from tigerseal.config import Settings

    own = {k.upper() for k in own_keys}
    names = settings_names()
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for raw_key, value in values.items():
        key = str(raw_key).upper()
        if key in own:
            extra[key] = value
            continue
        field = names.get(key)
        if field is None:
            known = sorted({*own, *(n for n in names if not n.startswith(_PREFIX))})
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{source} has an unknown setting {escape_control(repr(raw_key), limit=80)}"
                f"{hint} (known: {', '.join(known)})"
            )
        fields[field] = value
    if not fields:
        return None, extra
    # Build by alias: that is what Settings validates (field names may not be accepted).
    by_alias: dict[str, Any] = {}
    for field, value in fields.items():
        alias = Settings.model_fields[field].validation_alias
        choices = getattr(alias, "choices", None)
        if choices:
            alias = choices[0]
        by_alias[alias if isinstance(alias, str) else field] = value
    return Settings(**by_alias), extra


class HostServices:
    """The tigerseal services of one host application, built lazily from its settings.

    With ``settings=None`` every service is the process-wide default
    (:func:`~tigerseal.passwords.get_password_context`, ...), so an application that configures
    tigerseal through the environment shares them with plain library calls.

    Args:
        settings: the application's settings (from :func:`settings_from_mapping`), or ``None``.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings
        self._built: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _get(self, name: str, build: Any) -> Any:
        found = self._built.get(name)
        if found is None:
            # Built once even under concurrent first requests: two limiters on memory://
            # would split one quota in two.
            with self._lock:
                found = self._built.get(name)
                if found is None:
                    found = self._built[name] = build()
        return found

    @property
    def passwords(self) -> PasswordContext:
        """Password hashing (scheme, cost, pepper)."""
        built = self._built.get("passwords")
        if built is not None:  # every request asks: no import, no closure
            return built  # type: ignore[no-any-return]
        from tigerseal.passwords import get_password_context

        settings = self.settings
        if settings is None:
            return get_password_context()
        return self._get("passwords", lambda: get_password_context(settings))  # type: ignore[no-any-return]

    @property
    def tokens(self) -> TokenManager:
        """JWT issuing and verification."""
        built = self._built.get("tokens")
        if built is not None:
            return built  # type: ignore[no-any-return]
        from tigerseal.tokens import get_token_manager

        settings = self.settings
        if settings is None:
            return get_token_manager()
        return self._get("tokens", lambda: get_token_manager(settings))  # type: ignore[no-any-return]

    @property
    def limiter(self) -> RateLimiter:
        """The rate limiter."""
        built = self._built.get("limiter")
        if built is not None:
            return built  # type: ignore[no-any-return]
        from tigerseal.ratelimit import get_rate_limiter

        settings = self.settings
        if settings is None:
            return get_rate_limiter()
        return self._get("limiter", lambda: get_rate_limiter(settings))  # type: ignore[no-any-return]

    @property
    def encryption(self) -> EncryptionService:
        """Envelope encryption (key providers from the settings)."""
        built = self._built.get("encryption")
        if built is not None:
            return built  # type: ignore[no-any-return]
        from tigerseal.envelope import get_encryption_service

        settings = self.settings
        if settings is None:
            return get_encryption_service()
        return self._get("encryption", lambda: get_encryption_service(settings))  # type: ignore[no-any-return]

    def close(self) -> None:
        """Release what was built here (rate-limit storage, key-provider connections)."""
        limiter = self._built.pop("limiter", None)
        if limiter is not None:
            limiter.storage.close()
        encryption = self._built.pop("encryption", None)
        if encryption is not None:
            encryption.close()
        self._built.clear()
