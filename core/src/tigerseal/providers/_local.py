r"""Local key wrapping shared by the ``env``, ``file`` and ``fake`` providers.

Hazard: this module holds key-encryption keys in process memory. Use it through a provider;
it is not a public API. ``docs/providers/env-and-file.md`` specifies the format byte by byte.

Wire format of a wrapped data key (``WrappedKey.blob``, 61 bytes)::

    suite (1 byte: 01 AES-256-GCM-SIV, 02 AES-256-GCM) || nonce (12 random bytes)
    || AEAD(KEK[version], nonce, DEK, AAD)  (32-byte ciphertext || 16-byte tag)

AAD (never stored; rebuilt on unwrap from the ``WrappedKey`` fields and the caller's context)::

    b"tigerseal/local-wrap/v2\x00" || suite (1 byte)
    || u32(len(scheme))  || scheme       (utf-8)
    || u32(len(key_id))  || key_id       (utf-8)
    || u32(key_version)
    || u32(n_pairs) || for each pair sorted by key: u32(len(k)) || k || u32(len(v)) || v

The KEK is the 32-byte key itself (the 64 hex characters of ``env://``, a keyring's ``key``),
used directly as the AEAD key. Every field is length-prefixed (big endian), so no two different
contexts or identities share an AAD (``{"a": "b=c"}`` and ``{"a=b": "c"}`` do not collide).
Binding scheme, key id and version means a blob cannot be replayed as if it came from another
keyring or version; binding the suite means a blob cannot be read under the other cipher.

Why AES-GCM-SIV: nonces are random, and GCM-SIV stays secure when a nonce repeats (it only
reveals that the same DEK was wrapped twice), so the 2^32-wraps-per-key limit of random-nonce
GCM does not bind a long-lived KEK. If the linked OpenSSL lacks AES-GCM-SIV, AES-GCM is used.
The blob records which, so a message wrapped on either kind of host unwraps on the other (a
GCM-SIV blob on a host without GCM-SIV fails with an error that says so).

Blobs written before the suite was recorded (60 bytes: ``nonce || ciphertext || tag``, label
``tigerseal/local-wrap/v1\x00`` and no suite byte in the AAD) still unwrap: the reader tries
each cipher the host has, GCM-SIV first.
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
from tigerseal.spi._provider import DEK_SIZE, Context, WrappedKey

__all__ = [
    "KEK_SIZE",
    "LEGACY_WRAPPED_SIZE",
    "NONCE_SIZE",
    "SUITE",
    "SUITE_IDS",
    "WRAPPED_SIZE",
    "LocalKeyring",
    "encode_context",
]

KEK_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
LEGACY_WRAPPED_SIZE = NONCE_SIZE + DEK_SIZE + TAG_SIZE
WRAPPED_SIZE = 1 + LEGACY_WRAPPED_SIZE
_LABEL = b"tigerseal/local-wrap/v2\x00"
_LEGACY_LABEL = b"tigerseal/local-wrap/v1\x00"
_U32 = struct.Struct(">I")

#: Suite byte of a wrapped key, by suite name.
SUITE_IDS = {"AES-256-GCM-SIV": 1, "AES-256-GCM": 2}
_SUITE_NAMES = {v: k for k, v in SUITE_IDS.items()}


def _available_ciphers() -> dict[int, Any]:
    """Suite id -> AEAD class for the ciphers this host's OpenSSL has, preferred first."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    ciphers: dict[int, Any] = {}
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV

        AESGCMSIV(bytes(KEK_SIZE))  # raises UnsupportedAlgorithm on OpenSSL < 3.2 / LibreSSL
        ciphers[1] = AESGCMSIV
    except (ImportError, UnsupportedAlgorithm):  # pragma: no cover - depends on OpenSSL build
        pass
    ciphers[2] = AESGCM
    return ciphers


_CIPHERS = _available_ciphers()
_SUITE_BYTES = {sid: bytes([sid]) for sid in SUITE_IDS.values()}
# Per KEK version: cipher per available suite, v2 AAD prefix per suite, legacy v1 AAD prefix.
_Entry = tuple[dict[int, Any], dict[int, bytes], bytes]
#: The suite new wraps use on this host.
SUITE = _SUITE_NAMES[next(iter(_CIPHERS))]
_CIPHER = _CIPHERS[SUITE_IDS[SUITE]]


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

    __slots__ = ("_lock", "_state", "_suite", "binds_context", "key_id", "scheme")

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
        self._suite = SUITE_IDS[SUITE]

    def _build(
        self, keys: Mapping[int, bytes], current: int, min_version: int
    ) -> tuple[dict[int, _Entry], int, int]:
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
        table: dict[int, _Entry] = {}
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
                (_lp(self.scheme.encode()), _lp(self.key_id.encode()), _U32.pack(version))
            )
            # One cipher object per suite this host has: blobs from hosts with the other cipher
            # unwrap too. Read at build time so tests can simulate another host.
            ciphers = {sid: cls(bytes(key)) for sid, cls in _CIPHERS.items()}
            labelled = {sid: _LABEL + _SUITE_BYTES[sid] + prefix for sid in _SUITE_BYTES}
            table[version] = (ciphers, labelled, _LEGACY_LABEL + prefix)
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
        ciphers, labelled, _ = table[current]
        suite = self._suite
        nonce = os.urandom(NONCE_SIZE)
        aad = self._aad(labelled[suite], context)
        blob = _SUITE_BYTES[suite] + nonce + ciphers[suite].encrypt(nonce, dek, aad)
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
        ciphers, labelled, legacy_prefix = entry
        if len(blob) == WRAPPED_SIZE:
            suite = blob[0]
            cipher = ciphers.get(suite)
            if cipher is None:
                raise _missing_suite(suite)
            aad = self._aad(labelled[suite], context)
            try:
                dek: bytes = cipher.decrypt(blob[1 : 1 + NONCE_SIZE], blob[1 + NONCE_SIZE :], aad)
            except InvalidTag:
                raise _not_authentic() from None
            return dek
        if len(blob) == LEGACY_WRAPPED_SIZE:
            # Written before the suite was recorded: try each cipher this host has.
            aad = self._aad(legacy_prefix, context)
            for cipher in ciphers.values():
                try:
                    legacy: bytes = cipher.decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], aad)
                except InvalidTag:
                    continue
                return legacy
            raise _not_authentic()
        raise DecryptionError(
            f"wrapped data key is malformed ({len(blob)} bytes, expected {WRAPPED_SIZE})"
        )

    def __repr__(self) -> str:
        return f"<LocalKeyring {self.scheme}://{self.key_id} v{self.current}>"


def _not_authentic() -> DecryptionError:
    return DecryptionError("wrapped data key is not authentic for this key and context")


def _missing_suite(suite: int) -> DecryptionError:
    name = _SUITE_NAMES.get(suite)
    if name is None:
        return DecryptionError(
            f"wrapped data key names unknown wrap suite {suite}; it was modified or written by "
            "a newer tigerseal: upgrade tigerseal"
        )
    return DecryptionError(
        f"this data key was wrapped with {name}, which the OpenSSL linked into this host's "
        "`cryptography` lacks (AES-GCM-SIV needs OpenSSL 3.2 or later, not LibreSSL); decrypt "
        "on a host that has it, or upgrade cryptography/OpenSSL"
    )
