"""An independent reader written from docs/format.md alone decrypts tigerseal's messages.

It uses only ``struct``, ``hashlib``/``hmac`` and ``cryptography``; nothing from
``tigerseal.envelope`` except to produce the messages.
"""

from __future__ import annotations

import hmac
import io
import secrets
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tigerseal.envelope import EncryptionService
from tigerseal.spi.keys import WrappedKey
from tigerseal.testing.fake import FakeKeyProvider


def read_message(data: bytes, unwrap: object) -> tuple[dict[str, str], bytes]:
    assert data[:3] == b"TSL"
    assert data[3] == 1
    assert data[4] == 1
    content_type, frame_size = struct.unpack_from(">BI", data, 5)
    message_id = data[10:42]
    (count,) = struct.unpack_from(">H", data, 42)
    pos, context = 44, {}
    for _ in range(count):
        (n,) = struct.unpack_from(">H", data, pos)
        k = data[pos + 2 : pos + 2 + n].decode()
        pos += 2 + n
        (n,) = struct.unpack_from(">H", data, pos)
        context[k] = data[pos + 2 : pos + 2 + n].decode()
        pos += 2 + n
    commitment = data[pos : pos + 32]
    pos += 32
    aad = data[:pos]
    n_keys = data[pos]
    pos += 1
    keys = []
    for _ in range(n_keys):
        n = data[pos]
        provider = data[pos + 1 : pos + 1 + n].decode("ascii")
        pos += 1 + n
        (n,) = struct.unpack_from(">H", data, pos)
        key_id = data[pos + 2 : pos + 2 + n].decode()
        pos += 2 + n
        version, n = struct.unpack_from(">IH", data, pos)
        keys.append(WrappedKey(provider, key_id, version, data[pos + 6 : pos + 6 + n]))
        pos += 6 + n
    dek = unwrap(keys[0], context)  # type: ignore[operator]
    okm = hmac.digest(dek, b"tigerseal/v1/derive" + b"\x01" + message_id + b"\x01", "sha512")
    key, expected = okm[:32], okm[32:]
    assert hmac.compare_digest(expected, commitment)
    aes = AESGCM(key)

    def nonce(seq: int, final: bool) -> bytes:
        return seq.to_bytes(8, "big") + bytes([int(final)]) + b"\x00\x00\x00"

    if content_type == 1:
        return context, aes.decrypt(nonce(0, True), data[pos:], aad)
    out, seq = b"", 0
    while True:
        (n,) = struct.unpack_from(">I", data, pos)
        final = n < frame_size
        out += aes.decrypt(nonce(seq, final), data[pos + 4 : pos + 4 + n + 16], aad)
        pos += 4 + n + 16
        seq += 1
        if final:
            assert pos == len(data)
            return context, out


def test_independent_reader_single_shot() -> None:
    p = FakeKeyProvider("spec-" + secrets.token_hex(4))
    svc = EncryptionService(p)
    ed = svc.encrypt("héllo wörld", {"tenant": "t1", "a": "b"})
    context, plaintext = read_message(bytes(ed), p.unwrap)
    assert context == {"tenant": "t1", "a": "b"}
    assert plaintext.decode() == "héllo wörld"


def test_independent_reader_framed() -> None:
    p = FakeKeyProvider("spec-" + secrets.token_hex(4))
    svc = EncryptionService(p)
    data = secrets.token_bytes(1000)
    out = io.BytesIO()
    svc.encrypt_stream(io.BytesIO(data), out, {"file": "x"}, frame_size=100)
    assert read_message(out.getvalue(), p.unwrap) == ({"file": "x"}, data)
