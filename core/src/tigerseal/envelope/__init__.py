"""Envelope encryption: format v1 (``docs/format.md``), the service, streams and the cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tigerseal._lazy import lazy_exports

if TYPE_CHECKING:
    from tigerseal.envelope._cache import CachePolicy, DataKeyCache
    from tigerseal.envelope._default import (
        configured_provider_uris,
        decrypt_stream,
        encrypt_stream,
        get_encryption_service,
        reset_encryption_service,
    )
    from tigerseal.envelope._message import EncryptedData
    from tigerseal.envelope._service import EncryptionService

__all__ = [
    "CachePolicy",
    "DataKeyCache",
    "EncryptedData",
    "EncryptionService",
    "configured_provider_uris",
    "decrypt_stream",
    "encrypt_stream",
    "get_encryption_service",
    "reset_encryption_service",
]

# Lazy (cold start): importing get_encryption_service does not load the format, the service or
# cryptography; the first call does.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CachePolicy": "tigerseal.envelope._cache",
        "DataKeyCache": "tigerseal.envelope._cache",
        "configured_provider_uris": "tigerseal.envelope._default",
        "decrypt_stream": "tigerseal.envelope._default",
        "encrypt_stream": "tigerseal.envelope._default",
        "get_encryption_service": "tigerseal.envelope._default",
        "reset_encryption_service": "tigerseal.envelope._default",
        "EncryptedData": "tigerseal.envelope._message",
        "EncryptionService": "tigerseal.envelope._service",
    },
)
