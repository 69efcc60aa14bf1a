r"""Local key wrapping shared by the ``env``, ``file`` and ``fake`` providers.

Hazard: this module holds key-encryption keys in process memory. Use it through a provider;
it is not a public API.

Wire format of a wrapped data key (``WrappedKey.blob``, always 60 bytes)::

    nonce (12 random bytes) || AES-256-GCM-SIV(KEK[version], nonce, DEK, AAD) (32 + 16-byte tag)

AAD (never stored; rebuilt on unwrap from the ``WrappedKey`` fields and the caller's context)::

    b"tigerseal/local-wrap/v1\x00"
    || u32(len(scheme))  || scheme       (utf-8)
    || u32(len(key_id))  || key_id       (utf-8)
    || u32(key_version)
    || u32(n_pairs) || for each pair sorted by key: u32(len(k)) || k || u32(len(v)) || v

Every field is length-prefixed (big endian), so no two different contexts or identities share
an AAD (``{"a": "b=c"}`` and ``{"a=b": "c"}`` do not collide). Binding scheme, key id and
version means a blob cannot be replayed as if it came from another keyring or version.

Why AES-GCM-SIV: nonces are random, and GCM-SIV stays secure when a nonce repeats (it only
reveals that the same DEK was wrapped twice), so the 2^32-wraps-per-key limit of random-nonce
GCM does not bind a long-lived KEK. If the linked OpenSSL lacks AES-GCM-SIV, plain AES-GCM is
used; the blob layout is identical but the two are not interchangeable, so the suite is
recorded in :data:`SUITE` and keyrings written by one are read with the same.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm

from tigerseal._text import escape_control
from tigerseal.errors import (
    ConfigError,
    DecryptionError,
    KeyNotFound,
    KeyVersionRetired,
    NoMatchingKeyError,
)
from tigerseal.spi.keys import DEK_SIZE, Context, WrappedKey

__all__ = ["KEK_SIZE", "NONCE_SIZE", "SUITE", "WRAPPED_SIZE", "LocalKeyring", "encode_context"]

KEK_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
WRAPPED_SIZE = NONCE_SIZE + DEK_SIZE + TAG_SIZE
_LABEL = b"tigerseal/local-wrap/v1\x00"
_U32 = struct.Struct(">I")


def _cipher_class() -> tuple[str, Any]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV

        AESGCMSIV(bytes(KEK_SIZE))  # raises UnsupportedAlgorithm on OpenSSL < 3.2 / LibreSSL
    except (ImportError, UnsupportedAlgorithm):  # pragma: no cover - depends on OpenSSL build
        return "AES-256-GCM", AESGCM
    return "AES-256-GCM-SIV", AESGCMSIV


SUITE, _CIPHER = _cipher_class()


def _lp(data: bytes) -> bytes:
    return _U32.pack(len(data)) + data


def encode_context(context: Context) -> bytes:
    """Canonical, unambiguous encoding of an encryption context (sorted, length-prefixed)."""
    if not context:
        return _EMPTY_CONTEXT
    pack = _U32.pack
    parts = [pack(len(context))]
    try:
        for key, value in sorted(context.items()):
            k, v = key.encode(), value.encode()
            parts += (pack(len(k)), k, pack(len(v)), v)
    except (AttributeError, TypeError):  # a non-str key or value (bytes has no .encode)
        raise TypeError("encryption context keys and values must be str") from None
    return b"".join(parts)


_EMPTY_CONTEXT = b"\x00\x00\x00\x00"


class LocalKeyring:
    """Versioned KEKs of one local keyring, with a prebuilt cipher per version.

    Args:
        scheme: provider name bound into every wrap.
        key_id: public identifier of the keyring, bound into every wrap.
        keys: version -> 32-byte KEK.
        current: the version new wraps use.
        min_version: versions below this refuse to unwrap (0: none retired).
        binds_context: whether the context is part of the AAD.

    Thread-safe: the version table is replaced as a whole, never edited in place.
    """

    __slots__ = ("_lock", "_state", "binds_context", "key_id", "scheme")

    def __init__(
        self,
        scheme: str,
        key_id: str,
        keys: Mapping[int, bytes],
        *,
        current: int,
        min_version: int = 0,
        binds_context: bool = True,
    ) -> None:
        self.scheme = scheme
        self.key_id = key_id
        self.binds_context = binds_context
        self._lock = threading.Lock()
        self._state = self._build(keys, current, min_version)

    def _build(
        self, keys: Mapping[int, bytes], current: int, min_version: int
    ) -> tuple[dict[int, tuple[Any, bytes]], int, int]:
        if current not in keys:
            raise ConfigError(
                f"keyring {self.key_id!r}: current version {current} has no key; add it or "
                "set the current version to one that exists"
            )
        if min_version > current:
            raise ConfigError(
                f"keyring {self.key_id!r}: minimum decryption version {min_version} is above "
                f"the current version {current}; new messages could not be decrypted"
            )
        table: dict[int, tuple[Any, bytes]] = {}
        for version, key in keys.items():
            if not 0 < version < 2**32:
                raise ConfigError(
                    f"keyring {self.key_id!r}: key version {version} out of range (1..2^32-1)"
                )
            if not isinstance(key, bytes | bytearray) or len(key) != KEK_SIZE:
                raise ConfigError(
                    f"keyring {self.key_id!r}: key version {version} is not a 256-bit key "
                    "(expected 32 bytes / 64 hex characters)"
                )
            prefix = b"".join(
                (
                    _LABEL,
                    _lp(self.scheme.encode()),
                    _lp(self.key_id.encode()),
                    _U32.pack(version),
                )
            )
            table[version] = (_CIPHER(bytes(key)), prefix)
        return table, current, min_version

    # -- state -------------------------------------------------------------------------------
    @property
    def current(self) -> int:
        return self._state[1]

    @property
    def min_version(self) -> int:
        return self._state[2]

    @property
    def versions(self) -> list[int]:
        return sorted(self._state[0])

    def replace(self, keys: Mapping[int, bytes], *, current: int, min_version: int) -> None:
        """Swap in a new version table (after rotation, retirement or a reload)."""
        state = self._build(keys, current, min_version)
        with self._lock:
            self._state = state

    # -- wrapping ----------------------------------------------------------------------------
    def _aad(self, prefix: bytes, context: Context) -> bytes:
        if self.binds_context:
            return prefix + encode_context(context)
        return prefix

    def wrap(self, dek: bytes, context: Context) -> WrappedKey:
        """Wrap ``dek`` under the current version."""
        if len(dek) != DEK_SIZE:
            raise ValueError(f"a data key must be {DEK_SIZE} bytes, got {len(dek)}")
        table, current, _ = self._state
        cipher, prefix = table[current]
        nonce = os.urandom(NONCE_SIZE)
        blob = nonce + cipher.encrypt(nonce, dek, self._aad(prefix, context))
        return WrappedKey(self.scheme, self.key_id, current, blob)

    def unwrap(self, wrapped: WrappedKey, context: Context) -> bytes:
        """Unwrap a key wrapped by :meth:`wrap` (any version still in the keyring)."""
        if wrapped.provider != self.scheme or wrapped.key_id != self.key_id:
            raise NoMatchingKeyError(
                f"this data key was wrapped by {escape_control(wrapped.provider)}://"
                f"{escape_control(wrapped.key_id, limit=200)}, not by "
                f"{self.scheme}://{self.key_id}; configure the provider that wrapped it"
            )
        table, _, min_version = self._state
        version = wrapped.key_version
        if version < min_version:
            raise KeyVersionRetired(
                f"{self.scheme}://{self.key_id}: key version {version} is retired (minimum "
                f"decryption version is {min_version}); rewrap old messages before retiring, "
                "or lower the minimum version"
            )
        entry = table.get(version)
        if entry is None:
            raise KeyNotFound(
                f"{self.scheme}://{self.key_id}: key version {version} is not in the keyring "
                f"(versions present: {', '.join(map(str, sorted(table)))}); restore it or "
                "configure the keyring that has it"
            )
        blob = wrapped.blob
        if len(blob) != WRAPPED_SIZE:
            raise DecryptionError("wrapped data key is malformed")
        cipher, prefix = entry
        try:
            dek: bytes = cipher.decrypt(
                blob[:NONCE_SIZE], blob[NONCE_SIZE:], self._aad(prefix, context)
            )
        except InvalidTag as exc:
            raise DecryptionError(
                "wrapped data key is not authentic for this key and context"
            ) from exc
        return dek

    def __repr__(self) -> str:
        return f"<LocalKeyring {self.scheme}://{self.key_id} v{self.current}>"
