"""Envelope encryption: format v1 (``docs/format.md``), the service, streams and the cache."""

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
