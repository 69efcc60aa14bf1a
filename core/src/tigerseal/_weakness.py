"""Is a key or secret visibly not random? One check for every place a secret enters.

Production refuses keys and secrets that are public (printed in docs and templates), marked as
development values, or hand-made patterns. Used for master keys in every form (``env://`` any
variable and version, keyring files) and for JWT secrets. These are heuristics that only catch
what a person typed or copied; a key from :mod:`secrets` passes with overwhelming probability.
"""

from __future__ import annotations

import re

__all__ = ["jwt_secret_weakness", "key_weakness", "master_key_weakness", "secret_weakness"]

# Values that appear in the seed README, in tigerseal's docs and in common templates. A key
# equal to one of these is public knowledge, whatever it looks like.
_EXAMPLE_MASTER_KEYS = frozenset(
    {
        "0123456789abcdef" * 4,
        "fedcba9876543210" * 4,
        "deadbeef" * 8,
    }
)
_EXAMPLE_JWT_SECRETS = frozenset(
    {
        "your-jwt-secret-key-here-minimum-32-characters",
        "your-secret-key-here-minimum-32-characters",
        "change-me-to-a-long-random-secret-of-32-chars",
    }
)
# A secret that says what it is for: "dev-...", "test_...", "...-change-me", "your-...".
_DEV_MARKERS = re.compile(
    r"^(dev|devel|development|test|testing|example|sample|demo|local|insecure|dummy)[-_.:]"
    r"|change[-_]?me|replace[-_]?me|your[-_]|[-_]here\b|insecure|not[-_]?secret|placeholder"
    r"|example",
    re.IGNORECASE,
)


# -- checks ---------------------------------------------------------------------------------
def _periodic(data: bytes | str) -> bool:
    """Whether ``data`` is a short unit repeated (``abab...``, ``0000...``)."""
    n = len(data)
    return any(n % p == 0 and data == data[:p] * (n // p) for p in range(1, n // 2 + 1))


def master_key_weakness(hex_key: str) -> str | None:
    """Why a 64-hex master key must not be used in production, or ``None`` if it may be.

    Args:
        hex_key: the key as 64 hex characters (already validated).

    Returns:
        A short reason (never the key), or ``None``.
    """
    key = hex_key.lower()
    if key in _EXAMPLE_MASTER_KEYS:
        return "it is an example value printed in documentation"
    raw = bytes.fromhex(key)
    if _periodic(raw):
        return "it is a short pattern repeated"
    # 32 random bytes have ~28 distinct values; fewer than 16 happens with probability far
    # below 2^-100, so this only catches hand-made keys.
    if len(set(raw)) < 16:
        return "it has too few distinct bytes to be random"
    return None


def jwt_secret_weakness(secret: str) -> str | None:
    """Why a JWT secret must not be used in production, or ``None`` if it may be."""
    if secret in _EXAMPLE_JWT_SECRETS:
        return "it is an example value printed in documentation"
    if _DEV_MARKERS.search(secret):
        return "it is marked as a development or example secret"
    if _periodic(secret):
        return "it is a short pattern repeated"
    if len(set(secret)) < 10:
        return "it has too few distinct characters to be random"
    return None


def key_weakness(raw: bytes) -> str | None:
    """Why raw key bytes must not be used in production, or ``None`` if they may be.

    Returns:
        A short reason (never the key), or ``None``.
    """
    return master_key_weakness(raw.hex())


def secret_weakness(secret: str) -> str | None:
    """Why a text secret (JWT HMAC secret, pepper) must not be used in production, or ``None``."""
    return jwt_secret_weakness(secret)
