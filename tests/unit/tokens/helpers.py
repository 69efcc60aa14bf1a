"""Small helpers shared by the token tests."""

from __future__ import annotations

import base64
import json
from typing import Any

from tigerseal.tokens import JWTKey, KeySet, MemoryRevocationStore, TokenManager

NOW = 1_800_000_000.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS with arbitrary parts (for attack tests)."""
    h = b64(json.dumps(header, separators=(",", ":")).encode())
    p = b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{h}.{p}.{b64(signature)}"


def manager(algorithm: str = "HS256", **kwargs: Any) -> TokenManager:
    kwargs.setdefault("issuer", "tigerseal-test")
    kwargs.setdefault("revocation", MemoryRevocationStore())
    kwargs.setdefault("clock", lambda: NOW)
    return TokenManager(KeySet([JWTKey.generate(algorithm)]), **kwargs)
