"""An independent reader written from docs/format.md and docs/providers/env-and-file.md alone.

It uses only ``struct``, ``hmac``, ``base64`` and ``cryptography`` primitives: nothing from
tigerseal except to produce the messages it reads. It unwraps ``env``/``file`` data keys
itself, so a gap in the wrap's specification shows up here. ``test_published_vectors.py`` runs
it over ``docs/vectors/``.
"""

from __future__ import annotations

import base64
import hmac
import io
import os
import secrets
import struct

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESGCMSIV
from tigerseal.envelope import EncryptionService
from tigerseal.providers.env import EnvKeyProvider

#: (provider, key id, version) -> KEK
Keks = dict[tuple[str, str, int], bytes]
MARKER = b"TSLkeys\x01"


class Invalid(Exception):
    """The message is not a valid tigerseal message for these keys and context."""


#: Every way the reader refuses a message (its own checks and the primitives').
REFUSALS = (Invalid, InvalidTag, ValueError, struct.error, IndexError)


def decode_text(text: str) -> bytes:
    """format.md section 6: "ts1." + canonical unpadded base64url."""
    if not text.startswith("ts1."):
        raise Invalid("not the text form")
    body = text[4:]
    if len(body) % 4 == 1 or not all(c.isascii() and (c.isalnum() or c in "-_") for c in body):
        raise Invalid("not base64url")
    data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode() != body:
        raise Invalid("not the canonical spelling")
    return data


def _aad_fields(provider: str, key_id: str, version: int, context: dict[str, str]) -> bytes:
    def lp(b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + b

    ctx = struct.pack(">I", len(context))
    for k, v in sorted((k.encode(), v.encode()) for k, v in context.items()):
        ctx += lp(k) + lp(v)
    return lp(provider.encode()) + lp(key_id.encode()) + struct.pack(">I", version) + ctx


def local_unwrap(
    kek: bytes, provider: str, key_id: str, version: int, blob: bytes, context: dict[str, str]
) -> bytes:
    """docs/providers/env-and-file.md, "How a data key is wrapped"."""
    fields = _aad_fields(provider, key_id, version, context)
    if len(blob) == 61:
        cipher = {1: AESGCMSIV, 2: AESGCM}.get(blob[0])
        if cipher is None:
            raise Invalid("unknown wrap suite")
        aad = b"tigerseal/local-wrap/v2\x00" + blob[:1] + fields
        try:
            return cipher(kek).decrypt(blob[1:13], blob[13:], aad)
        except InvalidTag:
            raise Invalid("wrapped key not authentic") from None
    if len(blob) == 60:  # written before the suite byte
        aad = b"tigerseal/local-wrap/v1\x00" + fields
        for old in (AESGCMSIV, AESGCM):
            try:
                return old(kek).decrypt(blob[:12], blob[12:], aad)
            except InvalidTag:
                continue
        raise Invalid("wrapped key not authentic")
    raise Invalid("malformed wrapped key")


def read_message(data: bytes, keks: Keks, expected_context: dict[str, str]) -> bytes:
    """Decrypt a binary message, or raise (Invalid, or an error of the primitives)."""
    if data[:5] != b"TSL\x01\x01":
        raise Invalid("magic, version or suite")
    content_type, frame_size = struct.unpack_from(">BI", data, 5)
    if not (content_type == 1 and frame_size == 0) and not (
        content_type == 2 and 1 <= frame_size <= 64 * 1024 * 1024
    ):
        raise Invalid("content type / frame size")
    message_id = data[10:42]
    (count,) = struct.unpack_from(">H", data, 42)
    pos, context, previous = 44, {}, b""
    for _ in range(count):
        (n,) = struct.unpack_from(">H", data, pos)
        k = data[pos + 2 : pos + 2 + n]
        pos += 2 + n
        (n,) = struct.unpack_from(">H", data, pos)
        v = data[pos + 2 : pos + 2 + n]
        pos += 2 + n
        if not k or k <= previous:
            raise Invalid("context keys unsorted")
        previous = k
        context[k.decode()] = v.decode()
    commitment = data[pos : pos + 32]
    pos += 32
    aad = data[:pos]
    if len(aad) > 65536 or len(commitment) != 32:
        raise Invalid("header")
    if context != expected_context:
        raise Invalid("context mismatch")
    n_keys = data[pos]
    pos += 1
    if not 1 <= n_keys <= 16:
        raise Invalid("key count")
    keys = []
    for _ in range(n_keys):
        n = data[pos]
        provider = data[pos + 1 : pos + 1 + n].decode("ascii")
        pos += 1 + n
        (n,) = struct.unpack_from(">H", data, pos)
        key_id = data[pos + 2 : pos + 2 + n].decode()
        pos += 2 + n
        version, n = struct.unpack_from(">IH", data, pos)
        keys.append((provider, key_id, version, data[pos + 6 : pos + 6 + n]))
        pos += 6 + n
    if pos > 65536 or pos > len(data):
        raise Invalid("header")
    manifest = keys.pop() if keys[-1][0] == "#keys" else None
    # format.md 3.1: a marked message must carry a manifest whose count matches.
    if (manifest is not None or message_id.endswith(MARKER)) and (
        manifest is None or manifest[2] != len(keys) or manifest[1] or len(manifest[3]) != 16
    ):
        raise Invalid("key section modified")
    dek = None
    for provider, key_id, version, blob in keys:
        kek = keks.get((provider, key_id, version))
        if kek is not None:
            dek = local_unwrap(kek, provider, key_id, version, blob, context)
            break
    if dek is None:
        raise Invalid("no key")
    okm = hmac.digest(dek, b"tigerseal/v1/derive" + b"\x01" + message_id + b"\x01", "sha512")
    key, expected = okm[:32], okm[32:]
    if not hmac.compare_digest(expected, commitment):
        raise Invalid("commitment")
    aes = AESGCM(key)
    if manifest is not None:
        layout = bytes([len(keys)])
        for provider, key_id, _, _ in keys:
            p, k = provider.encode(), key_id.encode()
            layout += bytes([len(p)]) + p + struct.pack(">H", len(k)) + k
        gmac = aes.encrypt(
            bytes(8) + b"\x02\x00\x00\x00", b"", b"tigerseal/v1/key-section" + layout
        )
        if not hmac.compare_digest(gmac, manifest[3]):
            raise Invalid("key section modified")

    def nonce(seq: int, final: bool) -> bytes:
        return seq.to_bytes(8, "big") + bytes([int(final)]) + b"\x00\x00\x00"

    if content_type == 1:
        return aes.decrypt(nonce(0, True), data[pos:], aad)
    out, seq = b"", 0
    while True:
        if pos + 4 > len(data):
            raise Invalid("truncated")
        (n,) = struct.unpack_from(">I", data, pos)
        if n > frame_size or pos + 4 + n + 16 > len(data):
            raise Invalid("frame length")
        final = n < frame_size
        out += aes.decrypt(nonce(seq, final), data[pos + 4 : pos + 4 + n + 16], aad)
        pos += 4 + n + 16
        seq += 1
        if final:
            if pos != len(data):
                raise Invalid("extended")
            return out


KEK = bytes.fromhex("3f" * 8 + "a1" * 8 + "5e" * 8 + "c7" * 8)


@pytest.fixture
def env_svc() -> tuple[EncryptionService, Keks]:
    svc = EncryptionService(EnvKeyProvider("SPEC_KEK", environ={"SPEC_KEK": KEK.hex()}))
    return svc, {("env", "SPEC_KEK", 1): KEK}


def test_independent_reader_single_shot(env_svc: tuple[EncryptionService, Keks]) -> None:
    svc, keks = env_svc
    ctx = {"tenant": "t1", "a": "b"}
    ed = svc.encrypt("héllo wörld", ctx)
    assert read_message(bytes(ed), keks, ctx).decode() == "héllo wörld"
    assert read_message(decode_text(str(ed)), keks, ctx).decode() == "héllo wörld"


def test_independent_reader_framed(env_svc: tuple[EncryptionService, Keks]) -> None:
    svc, keks = env_svc
    data = secrets.token_bytes(1000)
    out = io.BytesIO()
    svc.encrypt_stream(io.BytesIO(data), out, {"file": "x"}, frame_size=100)
    assert read_message(out.getvalue(), keks, {"file": "x"}) == data


def test_independent_reader_rejects_a_tampered_wrap(
    env_svc: tuple[EncryptionService, Keks],
) -> None:
    svc, _ = env_svc
    ed = svc.encrypt(b"x")
    with pytest.raises(Invalid):
        read_message(bytes(ed), {("env", "SPEC_KEK", 1): os.urandom(32)}, {})
