"""The bare-code contender: tigerseal envelope steps written with ``cryptography`` directly.

What an application would write by hand to store a row-bound encrypted value without any
framework, following docs/format.md (single-shot message, key section with manifest) and
docs/providers/env-and-file.md (the ``file://`` wrap with AES-256-GCM-SIV). No caching, no
error translation, no policy: the floor a framework's per-row overhead is measured against.
Its messages are real tigerseal messages (the benchmark checks both ways).
"""

from __future__ import annotations

import hmac
import json
import secrets
import struct
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESGCMSIV

_MAGIC = b"TSL\x01\x01"  # magic, version 1, suite 1 (AES-256-GCM, HKDF-SHA-512, commitment)
_MARKER = b"TSLkeys\x01"
_DERIVE = b"tigerseal/v1/derive\x01"
_MANIFEST_AAD = b"tigerseal/v1/key-section"  # GMAC aad prefix (format.md 3.1)
_MANIFEST_NONCE = bytes(8) + b"\x02\x00\x00\x00"  # flag byte 02: never a frame's nonce
_WRAP_AAD = b"tigerseal/local-wrap/v2\x00"
_SIV = 1
_FINAL0 = bytes(8) + b"\x01\x00\x00\x00"  # nonce(seq=0, final=1)


def _u32(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


class BareEnvelope:
    """Encrypt/decrypt one value under a local KEK, the way format.md spells it.

    ``scheme`` is ``file`` (a keyring) or ``env`` (the key id is the variable name): both wrap
    the data key the same way (docs/providers/env-and-file.md).
    """

    def __init__(self, scheme: str, key_id: str, keks: dict[int, bytes], version: int) -> None:
        self.scheme = scheme
        self.keyring_id = key_id
        self.version = version
        self.keks = keks
        kid = self.keyring_id.encode()
        name = bytes([len(scheme)]) + scheme.encode()
        # The key-section entry's fixed part and the manifest layout depend on the keyring only.
        self._entry_head = name + struct.pack(">H", len(kid)) + kid
        self._layout = b"\x01" + name + struct.pack(">H", len(kid)) + kid

    def _wrap_aad(self, version: int, ctx_u32: bytes) -> bytes:
        return (
            _WRAP_AAD
            + bytes([_SIV])
            + _u32(self.scheme.encode())
            + _u32(self.keyring_id.encode())
            + struct.pack(">I", version)
            + ctx_u32
        )

    @staticmethod
    def _contexts(context: dict[str, str]) -> tuple[bytes, bytes]:
        pairs = sorted((k.encode(), v.encode()) for k, v in context.items())
        header = struct.pack(">H", len(pairs)) + b"".join(
            struct.pack(">H", len(k)) + k + struct.pack(">H", len(v)) + v for k, v in pairs
        )
        wrap = struct.pack(">I", len(pairs)) + b"".join(_u32(k) + _u32(v) for k, v in pairs)
        return header, wrap

    def encrypt(self, plaintext: bytes, context: dict[str, str]) -> bytes:
        ctx_h, ctx_w = self._contexts(context)
        dek = secrets.token_bytes(32)
        nonce = secrets.token_bytes(12)
        wrapped = AESGCMSIV(self.keks[self.version]).encrypt(
            nonce, dek, self._wrap_aad(self.version, ctx_w)
        )
        blob = bytes([_SIV]) + nonce + wrapped
        message_id = secrets.token_bytes(24) + _MARKER
        okm = hmac.digest(dek, _DERIVE + message_id + b"\x01", "sha512")
        key, commitment = okm[:32], okm[32:]
        aes = AESGCM(key)
        mac = aes.encrypt(_MANIFEST_NONCE, b"", _MANIFEST_AAD + self._layout)  # GMAC tag
        aad = _MAGIC + b"\x01" + bytes(4) + message_id + ctx_h + commitment
        section = (
            b"\x02"
            + self._entry_head
            + struct.pack(">IH", self.version, len(blob))
            + blob
            + b"\x05#keys\x00\x00"
            + struct.pack(">IH", 1, 16)
            + mac
        )
        return aad + section + aes.encrypt(_FINAL0, plaintext, aad)

    def decrypt(self, message: bytes, context: dict[str, str]) -> bytes:
        if message[:6] != _MAGIC + b"\x01":
            raise ValueError("not a single-shot tigerseal message")
        ctx_h, ctx_w = self._contexts(context)
        message_id = message[10:42]
        end = 42 + len(ctx_h)
        if message[42:end] != ctx_h:  # the stored context must be the expected one
            raise ValueError("context mismatch")
        commitment = message[end : end + 32]
        aad = message[: end + 32]
        pos = end + 32
        count = message[pos]
        pos += 1
        dek = None
        names: list[bytes] = []
        manifest = None
        for _ in range(count):
            n = message[pos]
            name = message[pos + 1 : pos + 1 + n]
            pos += 1 + n
            (klen,) = struct.unpack_from(">H", message, pos)
            kid = message[pos + 2 : pos + 2 + klen]
            pos += 2 + klen
            version, blen = struct.unpack_from(">IH", message, pos)
            pos += 6
            blob = message[pos : pos + blen]
            pos += blen
            if name == b"#keys":
                manifest = (version, blob)
                continue
            names.append(bytes([n]) + name + struct.pack(">H", klen) + kid)
            if dek is None and name == self.scheme.encode() and kid == self.keyring_id.encode():
                if blob[0] != _SIV:
                    raise ValueError("unexpected wrap suite")
                dek = AESGCMSIV(self.keks[version]).decrypt(
                    blob[1:13], blob[13:], self._wrap_aad(version, ctx_w)
                )
        if dek is None or manifest is None or manifest[0] != len(names):
            raise ValueError("no usable wrapped key, or the key section was modified")
        okm = hmac.digest(dek, _DERIVE + message_id + b"\x01", "sha512")
        if not hmac.compare_digest(okm[32:], commitment):
            raise ValueError("key commitment mismatch")
        aes = AESGCM(okm[:32])
        layout = bytes([len(names)]) + b"".join(names)
        tag = aes.encrypt(_MANIFEST_NONCE, b"", _MANIFEST_AAD + layout)
        if not hmac.compare_digest(tag, manifest[1]):
            raise ValueError("key section was modified")
        return aes.decrypt(_FINAL0, message[pos:], aad)


class BareFileEnvelope(BareEnvelope):
    """:class:`BareEnvelope` on a ``file://`` keyring."""

    def __init__(self, keyring: Path) -> None:
        doc = json.loads(keyring.read_text())
        keks = {k["version"]: bytes.fromhex(k["key"]) for k in doc["keys"]}
        super().__init__("file", doc["keyring_id"], keks, doc["current_version"])
