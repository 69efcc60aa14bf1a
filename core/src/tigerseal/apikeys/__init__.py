"""API keys: ``prefix_`` + 178 random bits + CRC32 checksum; only a hash is stored.

::

    from tigerseal.apikeys import APIKeyRecord, verify_api_key

    api_key, record = APIKeyRecord.create("tk", scopes=["read"], expires_in=90 * 86400)
    # give api_key to its owner once; store record.to_dict()
    record.check(api_key, required_scopes=["read"])
"""

from __future__ import annotations

from tigerseal.apikeys._api_keys import (
    APIKeyRecord,
    api_key_id,
    generate_api_key,
    hash_api_key,
    verify_api_key,
)
from tigerseal.apikeys._format import (
    API_KEY_PATTERN,
    ParsedAPIKey,
    is_api_key,
    mask_api_key,
    parse_api_key,
)

__all__ = [
    "API_KEY_PATTERN",
    "APIKeyRecord",
    "ParsedAPIKey",
    "api_key_id",
    "generate_api_key",
    "hash_api_key",
    "is_api_key",
    "mask_api_key",
    "parse_api_key",
    "verify_api_key",
]
