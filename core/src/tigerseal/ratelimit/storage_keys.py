r"""How rate-limit keys are stored: internal keys apart from user keys, long keys hashed.

Two rules every storage and the limiter follow:

* **Namespaces.** The limiter keeps its own state (progressive-penalty strikes) in the same
  storage as the limits it enforces. Internal keys start with the control character ``\x1f``
  followed by a letter naming what they hold (``\x1fs`` + key: strikes); a user key that itself
  starts with ``\x1f`` is stored as ``\x1fu`` + key. The mapping is one-to-one, so no user key,
  whatever its bytes, reaches another key's internal state, and every ordinary key is stored
  unchanged.
* **Length.** A key longer than :data:`MAX_KEY_LENGTH` characters is stored as its SHA-256
  (:func:`long_key_digest`), so memory per key is bounded whatever a client sends.

Keys are ``str``: a ``bytes`` key could spell a long key's digest and share its limit, so
storages refuse anything else (:func:`bad_key`).
"""

from __future__ import annotations

import hashlib

from tigerseal.errors import ConfigError

__all__ = [
    "MAX_KEY_LENGTH",
    "bad_key",
    "login_failures_key",
    "long_key_digest",
    "strikes_key",
    "user_key",
]

#: Keys longer than this (in characters) are stored as their SHA-256 digest.
MAX_KEY_LENGTH = 256

_INTERNAL = "\x1f"


def user_key(key: str) -> str:
    r"""The storage key of the user key ``key`` (itself, unless it starts with ``\x1f``)."""
    if key.startswith(_INTERNAL):
        return "\x1fu" + key
    return key


def strikes_key(key: str) -> str:
    """The storage key counting the progressive-penalty strikes of the user key ``key``."""
    return "\x1fs" + key


def login_failures_key(kind: str, value: str) -> str:
    r"""The storage key counting failed sign-ins of a user (``kind="u"``) or address (``"i"``).

    Internal (``\x1fl`` prefix), so no rate-limit key an application chooses can reach it.
    """
    return "\x1fl" + kind + ":" + value


def long_key_digest(key: str) -> bytes:
    """SHA-256 of ``key`` (UTF-8; lone surrogates kept), the stored form of a long key."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def bad_key(key: object) -> ConfigError:
    """The error for a rate-limit key that is not a non-empty ``str`` (names the type only)."""
    kind = "an empty string" if key == "" else f"a {type(key).__name__}"
    return ConfigError(
        f"a rate-limit key must be a non-empty string (e.g. an API key id), got {kind}"
    )
