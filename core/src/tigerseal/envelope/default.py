"""The process-wide default service, built from settings (the seed's ``get_encryption_service``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from tigerseal.envelope.cache import CachePolicy
from tigerseal.envelope.service import EncryptionService
from tigerseal.errors import ConfigError

__all__ = [
    "configured_provider_uris",
    "decrypt_stream",
    "encrypt_stream",
    "get_encryption_service",
    "reset_encryption_service",
]

log = logging.getLogger("tigerseal.envelope")
_service: EncryptionService | None = None
_lock = threading.Lock()


def configured_provider_uris() -> list[str]:
    """The key URIs the default service uses, in order (primary first).

    ``TIGERSEAL_KEY_PROVIDERS`` if set; else ``env://ENCRYPTION_MASTER_KEY`` if that variable is
    set; else, outside production, the development keyring file (``TIGERSEAL_KEYRING_PATH``,
    default ``.tigerseal/keyring.json``), created on first use.

    Raises:
        ConfigError: production without configured keys.
    """
    from tigerseal.config import get_settings

    s = get_settings()
    if s.key_providers.strip():
        return s.key_providers.split()
    if s.encryption_master_key is not None:
        return ["env://ENCRYPTION_MASTER_KEY"]
    if s.is_production:
        raise ConfigError(
            "no encryption key is configured and ENVIRONMENT=production: set "
            "TIGERSEAL_KEY_PROVIDERS (e.g. aws-kms://alias/app) or ENCRYPTION_MASTER_KEY (64 hex "
            "chars, `tigerseal keygen --print`); tigerseal does not create keys in production"
        )
    path = Path(s.keyring_path).expanduser().resolve()
    if not path.exists():
        from tigerseal.providers.file import create_keyring

        create_keyring(path, exist_ok=True)  # another process may create it at the same time
        log.warning(
            "created a development keyring at %s; set ENCRYPTION_MASTER_KEY or "
            "TIGERSEAL_KEY_PROVIDERS for real deployments",
            path,
        )
    return [f"file://{path}"]


def _build() -> EncryptionService:
    from tigerseal.config import get_settings
    from tigerseal.plugins import key_provider_from_uri

    s = get_settings()
    providers = [key_provider_from_uri(uri) for uri in configured_provider_uris()]
    cache = (
        CachePolicy(
            max_age=s.cache_max_age, max_messages=s.cache_max_messages, max_bytes=s.cache_max_bytes
        )
        if s.cache_enabled
        else None
    )
    return EncryptionService(providers, cache=cache)


def get_encryption_service() -> EncryptionService:
    """The shared :class:`EncryptionService` configured from the environment and ``.env``.

    Built once per process (thread-safe); call :func:`reset_encryption_service` after changing
    configuration.
    """
    global _service
    svc = _service
    if svc is None:
        with _lock:
            if _service is None:
                _service = _build()
            svc = _service
    return svc


def reset_encryption_service() -> None:
    """Close and forget the shared service (tests, or after a configuration change)."""
    global _service
    with _lock:
        svc, _service = _service, None
    if svc is not None:
        svc.close()


def encrypt_stream(src: BinaryIO, dst: BinaryIO, context: Mapping[str, str] | None = None) -> int:
    """Encrypt ``src`` to ``dst`` with the shared service (see ``EncryptionService``)."""
    return get_encryption_service().encrypt_stream(src, dst, context)


def decrypt_stream(src: BinaryIO, dst: BinaryIO, context: Mapping[str, str] | None = None) -> int:
    """Decrypt ``src`` to ``dst`` with the shared service (see ``EncryptionService``)."""
    return get_encryption_service().decrypt_stream(src, dst, context)
