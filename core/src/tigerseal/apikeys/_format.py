r"""The API key format: ``<prefix>_<30 random base62 chars><6-char CRC32 checksum>``.

Example: ``tk_2MbFq8YQzv1w0JpX7cLrKd9sTgHn4eAuW5y3Ni``.

* ``prefix``: 1-16 lowercase letters or digits (``tk`` by default) telling readers and secret
  scanners what the key is for;
* 30 characters from ``secrets`` over 62 symbols: 178 bits of randomness (at least 160 are
  needed to rule out guessing);
* a 6-character base62 CRC32 of ``<prefix>_<random>``, as GitHub's tokens carry: a mistyped or
  truncated key fails :func:`parse_api_key` before any database lookup, and a scanner can tell
  a real key from a random string of the same shape without calling anyone.

Regular expression for secret scanners: ``\b[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{36}\b``.
"""

from __future__ import annotations

import re
import secrets
import zlib
from dataclasses import dataclass

from tigerseal.errors import TokenInvalidError

__all__ = [
    "ALPHABET",
    "API_KEY_PATTERN",
    "CHECKSUM_LENGTH",
    "RANDOM_LENGTH",
    "ParsedAPIKey",
    "is_api_key",
    "make_api_key",
    "mask_api_key",
    "parse_api_key",
]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 30  # 30 * log2(62) = 178.6 bits
CHECKSUM_LENGTH = 6  # 62**6 > 2**32
API_KEY_PATTERN = re.compile(r"^([a-z][a-z0-9]{0,15})_([0-9A-Za-z]{30})([0-9A-Za-z]{6})$")
_PREFIX = re.compile(r"^[a-z][a-z0-9]{0,15}$")


def _base62(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        out.append(ALPHABET[digit])
    return "".join(reversed(out))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


@dataclass(frozen=True, repr=False)
class ParsedAPIKey:
    """The parts of a well-formed key (``repr`` hides the random part)."""

    prefix: str
    random: str
    checksum: str

    def __repr__(self) -> str:
        return f"ParsedAPIKey(prefix={self.prefix!r}, checksum={self.checksum!r})"


def check_prefix(prefix: str) -> str:
    """Validate a key prefix.

    Raises:
        TokenInvalidError: not 1-16 lowercase letters or digits starting with a letter.
    """
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise TokenInvalidError(
            f"API key prefix {str(prefix)[:20]!r} must be 1-16 lowercase letters or digits "
            "starting with a letter (e.g. 'tk')"
        )
    return prefix


def make_api_key(prefix: str = "tk") -> str:
    """A new random key in the format above."""
    check_prefix(prefix)
    random = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    body = f"{prefix}_{random}"
    return body + _checksum(body)


def parse_api_key(key: str) -> ParsedAPIKey:
    """Split a key and check its checksum.

    Raises:
        TokenInvalidError: not in the format, or the checksum does not match (a typo).
    """
    if not isinstance(key, str):
        raise TokenInvalidError(f"an API key must be str, not {type(key).__name__}")
    m = API_KEY_PATTERN.match(key.strip())
    if not m:
        raise TokenInvalidError("this is not an API key (expected prefix_ + 36 characters)")
    prefix, random, checksum = m[1], m[2], m[3]
    if not secrets.compare_digest(_checksum(f"{prefix}_{random}"), checksum):
        raise TokenInvalidError("the API key's checksum does not match: it was mistyped or cut")
    return ParsedAPIKey(prefix, random, checksum)


def is_api_key(key: str) -> bool:
    """Whether ``key`` is well formed with a valid checksum (no lookup, no secret needed)."""
    try:
        parse_api_key(key)
    except TokenInvalidError:
        return False
    return True


def mask_api_key(key: str) -> str:
    """A display form that reveals nothing secret: ``tk_…Xy3N`` (last 4 are checksum)."""
    parsed = parse_api_key(key)
    return f"{parsed.prefix}_…{parsed.checksum[-4:]}"
