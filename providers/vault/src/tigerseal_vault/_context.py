"""How an encryption context is sent to Vault: one canonical byte string per context.

Transit takes opaque bytes (``associated_data`` for AEAD keys, ``context`` for derived keys),
so a str -> str map needs one unambiguous encoding: UTF-8 JSON with sorted keys and no
whitespace. JSON quoting keeps ``{"a": "b=c"}`` apart from ``{"a=b": "c"}``, and anyone can
rebuild the bytes with ``jq -cS`` when debugging a ``bao write transit/decrypt/...`` by hand.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping

__all__ = ["b64", "canonical_context", "select_fields"]


def canonical_context(context: Mapping[str, str]) -> bytes:
    """Encode ``context`` as sorted, compact UTF-8 JSON.

    Raises:
        TypeError: a key or value is not a ``str``.
    """
    for key, value in context.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("encryption context keys and values must be str")
    return json.dumps(
        dict(context), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def select_fields(context: Mapping[str, str], fields: Iterable[str]) -> dict[str, str]:
    """The named fields of ``context``; a missing field raises ``KeyError`` naming it."""
    return {name: context[name] for name in fields}


def b64(data: bytes) -> str:
    """Standard base64, as the Vault API expects."""
    return base64.b64encode(data).decode("ascii")
