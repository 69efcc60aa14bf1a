"""The process-wide default service, built from settings (the seed's ``get_encryption_service``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, BinaryIO

from tigerseal._defaults import ProcessDefault
from tigerseal.config._env import KeySettings

if TYPE_CHECKING:
    from pathlib import Path

    from tigerseal.config import Settings
    from tigerseal.envelope._service import EncryptionService
    from tigerseal.spi import KeyProvider

__all__ = [
    "configured_provider_uris",
    "decrypt_stream",
    "encrypt_stream",
    "get_encryption_service",
    "reset_encryption_service",
]

log = logging.getLogger("tigerseal.envelope")
_lock_warned = threading.Lock()


def configured_provider_uris(settings: Settings | None = None) -> list[str]:
    """The key URIs the default service uses, in order (primary first).

    The choice is :func:`tigerseal.config.select_key_providers` (the one rule ``tigerseal
    doctor`` and ``tigerseal rotate`` use too). When it falls back to the development keyring,
    the keyring is created if missing, and a warning naming its path is logged once per
    process: that keyring lives on local disk and a container loses it at the next deploy.

    Args:
        settings: the settings to read; default the process-wide ones.

    Raises:
        ConfigError: nothing is configured where the development keyring is refused
            (staging, production, ``TIGERSEAL_ALLOW_DEV_KEYRING=false``).
    """
    from tigerseal.config._providers import select_key_providers

    selection = select_key_providers(settings)
    path = selection.dev_keyring
    if path is not None:
        created = False
        if not path.exists():
            from tigerseal.providers.file import create_keyring

            create_keyring(path, exist_ok=True)  # another process may create it at the same time
            created = True
        _warn_dev_keyring(path, created)
    return list(selection.uris)


_dev_keyring_warned = False


def _warn_dev_keyring(path: Path, created: bool) -> None:
    """Log, once per process, that the zero-configuration development keyring is in use."""
    global _dev_keyring_warned
    with _lock_warned:
        if _dev_keyring_warned:
            return
        _dev_keyring_warned = True
    # A logging warning, not warnings.warn: Python hides repeated warnings.warn by default and
    # test suites running with -W error would turn this into a crash of every dev setup.
    log.warning(
        "%s the development keyring %s: no encryption key is configured (TIGERSEAL_KEY_PROVIDERS "
        "and ENCRYPTION_MASTER_KEY are unset). Its keys exist only in that file; a container "
        "loses it at the next deploy, and every message encrypted under it. Set "
        "ENCRYPTION_MASTER_KEY or TIGERSEAL_KEY_PROVIDERS for anything but local development "
        "(TIGERSEAL_ALLOW_DEV_KEYRING=false refuses this fallback)",
        "created and using" if created else "using",
        path,
    )


def _build(settings: Settings | None = None) -> EncryptionService:
    from tigerseal.config._providers import key_settings
    from tigerseal.envelope._cache import CachePolicy
    from tigerseal.envelope._service import EncryptionService
    from tigerseal.plugins import key_provider_from_uri

    s = key_settings() if settings is None else settings
    key = s.encryption_master_key
    if settings is not None and key is not None and not s.key_providers.split():
        # Explicit settings may hold a master key the environment does not: the env://
        # provider reads that value (and the environment's other versions of the variable).
        # The URI-built provider is never made here: it would read the environment and fail.
        from tigerseal.providers.env import EnvKeyProvider, read_environment

        name = s.variable_for("encryption_master_key")
        environ = {**read_environment(), name: key.get_secret_value()}
        providers: list[KeyProvider] = [EnvKeyProvider(name, environ=environ)]
    else:
        providers = [key_provider_from_uri(uri) for uri in configured_provider_uris(settings)]
    cache = None
    if s.cache_enabled and not isinstance(s, KeySettings):  # KeySettings: never a cache
        cache = CachePolicy(
            max_age=s.cache_max_age, max_messages=s.cache_max_messages, max_bytes=s.cache_max_bytes
        )
    return EncryptionService(providers, cache=cache)


def _close(service: EncryptionService) -> None:
    service.close()


_SERVICE: ProcessDefault[EncryptionService] = ProcessDefault(
    "encryption service", _build, close=_close
)


def get_encryption_service(settings: Settings | None = None) -> EncryptionService:
    """The shared :class:`EncryptionService` configured from the environment.

    Built once per process (thread-safe); call :func:`reset_encryption_service` (or
    :func:`tigerseal.reset_defaults`) after changing configuration.

    Args:
        settings: build a new service from these settings instead (not shared, not cached:
            keep it, and ``close()`` it when done).
    """
    if settings is not None:
        return _build(settings)
    return _SERVICE.get()


def reset_encryption_service() -> None:
    """Close and forget the shared service (tests, or after a configuration change)."""
    _SERVICE.reset()


def encrypt_stream(src: BinaryIO, dst: BinaryIO, context: Mapping[str, str] | None = None) -> int:
    """Encrypt ``src`` to ``dst`` with the shared service (see ``EncryptionService``)."""
    return get_encryption_service().encrypt_stream(src, dst, context)


def decrypt_stream(src: BinaryIO, dst: BinaryIO, context: Mapping[str, str] | None = None) -> int:
    """Decrypt ``src`` to ``dst`` with the shared service (see ``EncryptionService``)."""
    return get_encryption_service().decrypt_stream(src, dst, context)
