"""``settings.TIGERSEAL``: tigerseal's settings, and this integration's own, from Django settings.

::

    TIGERSEAL = {
        "JWT_SECRET": env("JWT_SECRET"),            # any tigerseal setting, with or without
        "KEY_PROVIDERS": "env://APP_MASTER_KEY",    # the TIGERSEAL_ prefix
        "TRUSTED_PROXIES": ["10.0.0.0/8"],          # this integration's own settings
    }

Without ``TIGERSEAL`` the process-wide defaults (from the environment) are used. The services
are built on first use and rebuilt when the setting changes (``override_settings`` in tests).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from tigerseal._hostconfig import WEB_OPTIONS, HostServices, settings_from_mapping
from tigerseal.errors import ConfigError
from tigerseal.web import LoginGuard, TrustedProxies, bearer_challenge, exempt_prefixes

__all__ = [
    "OWN_KEYS",
    "get_blind_index",
    "get_exempt_prefixes",
    "get_login_guard",
    "get_option",
    "get_services",
    "get_trusted_proxies",
    "reset",
]

#: Settings of this integration (not tigerseal's Settings fields), with their defaults.
OWN_KEYS: dict[str, Any] = {
    **WEB_OPTIONS,  # proxies, RateLimitMiddleware's limit and exempt paths, realm, lockout
    # Blind-index root keys: name -> envelope (tigerseal_django.fields.generate_blind_index_key).
    "BLIND_INDEX_KEYS": {},
}

_lock = threading.Lock()
_state: tuple[HostServices, dict[str, Any]] | None = None


def _load() -> tuple[HostServices, dict[str, Any]]:
    global _state
    state = _state
    if state is None:
        with _lock:
            if _state is None:
                raw = getattr(django_settings, "TIGERSEAL", None)
                if raw is None:
                    _state = HostServices(None), dict(OWN_KEYS)
                else:
                    if not isinstance(raw, Mapping):
                        raise ImproperlyConfigured(
                            f"settings.TIGERSEAL must be a dict, not {type(raw).__name__}"
                        )
                    try:
                        settings, own = settings_from_mapping(
                            raw, source="settings.TIGERSEAL", own_keys=OWN_KEYS
                        )
                    except ConfigError as exc:
                        raise ImproperlyConfigured(str(exc)) from None
                    try:
                        # A realm no WWW-Authenticate can carry: said now, not as a 500 on
                        # every unauthenticated request.
                        bearer_challenge(realm=own.get("REALM", OWN_KEYS["REALM"]))
                    except (ConfigError, TypeError) as exc:
                        raise ImproperlyConfigured(f"settings.TIGERSEAL['REALM']: {exc}") from None
                    _state = HostServices(settings), {**OWN_KEYS, **own}
            state = _state
    return state


def get_services() -> HostServices:
    """The tigerseal services configured by ``settings.TIGERSEAL`` (built on first use)."""
    return _load()[0]


def get_option(name: str) -> Any:
    """One of this integration's own settings (:data:`OWN_KEYS`)."""
    return _load()[1][name]


_blind_indexes: dict[tuple[str, Any, int], Any] = {}
_built: dict[str, Any] = {}


def get_trusted_proxies() -> TrustedProxies:
    """``TRUSTED_PROXIES`` as a :class:`~tigerseal.web.TrustedProxies` (checked once)."""
    found = _built.get("proxies")
    if found is None:
        try:
            found = _built["proxies"] = TrustedProxies(get_option("TRUSTED_PROXIES"))
        except ConfigError as exc:
            raise ImproperlyConfigured(f"settings.TIGERSEAL['TRUSTED_PROXIES']: {exc}") from None
    return found  # type: ignore[no-any-return]


def get_exempt_prefixes() -> tuple[str, ...]:
    """``RATE_LIMIT_EXEMPT`` as checked path prefixes (checked once)."""
    found = _built.get("exempt")
    if found is None:
        try:
            found = _built["exempt"] = exempt_prefixes(
                get_option("RATE_LIMIT_EXEMPT"), setting="settings.TIGERSEAL['RATE_LIMIT_EXEMPT']"
            )
        except ConfigError as exc:
            raise ImproperlyConfigured(str(exc)) from None
    return found  # type: ignore[no-any-return]


def get_login_guard() -> LoginGuard:
    """The sign-in lockout (``LOGIN_*`` options), counting in the rate limiter's storage."""
    found = _built.get("guard")
    if found is None:
        services = get_services()
        found = _built["guard"] = LoginGuard(
            max_failures_per_user=get_option("LOGIN_MAX_FAILURES_PER_USER"),
            max_failures_per_ip=get_option("LOGIN_MAX_FAILURES_PER_IP"),
            lockout_seconds=float(get_option("LOGIN_LOCKOUT_SECONDS")),
            storage=services.limiter.storage,
        )
    return found  # type: ignore[no-any-return]


def get_blind_index(name: str, *, normalize: Any = None, bits: int = 128) -> Any:
    """The blind index ``name`` of ``TIGERSEAL["BLIND_INDEX_KEYS"]`` (decrypted once).

    Raises:
        ImproperlyConfigured: no key of that name is configured.
        MissingDependencyError: tigerseal-sql (which computes blind indexes) is not installed.
    """
    cache_key = (name, normalize, bits)
    found = _blind_indexes.get(cache_key)
    if found is not None:
        return found
    envelope = get_option("BLIND_INDEX_KEYS").get(name)
    if envelope is None:
        raise ImproperlyConfigured(
            f"no blind-index key {name!r} in settings.TIGERSEAL['BLIND_INDEX_KEYS']; create one "
            "with: python -c 'import django; django.setup(); from tigerseal_django.fields import "
            f"generate_blind_index_key as g; print(g({name!r}))' (with DJANGO_SETTINGS_MODULE "
            "set) and store the printed envelope there"
        )
    try:
        from tigerseal_sql import BlindIndex
    except ImportError:
        from tigerseal.errors import MissingDependencyError

        raise MissingDependencyError(
            "blind indexes are computed by tigerseal-sql: pip install tigerseal-sql"
        ) from None
    found = BlindIndex.from_envelope(
        get_services().encryption, envelope, name=name, normalize=normalize, bits=bits
    )
    _blind_indexes[cache_key] = found
    return found


def reset() -> None:
    """Forget the services; the next use rebuilds them from ``settings.TIGERSEAL``."""
    global _state
    with _lock:
        state, _state = _state, None
        _blind_indexes.clear()
        _built.clear()
    if state is not None:
        state[0].close()


def _on_setting_changed(*, setting: str, **_: Any) -> None:
    if setting == "TIGERSEAL":
        reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="tigerseal_django.conf")
