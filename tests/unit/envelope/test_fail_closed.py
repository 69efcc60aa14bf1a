"""Fail closed: every tampering, truncation or malformation is a DecryptionError."""

from __future__ import annotations

import io
import secrets
import struct

import pytest
from tigerseal.envelope import EncryptedData, EncryptionService
from tigerseal.envelope._format import MAX_HEADER_SIZE
from tigerseal.errors import (
    DecryptionError,
    EncryptionError,
    TigerSealError,
    TrailingDataError,
)
from tigerseal.testing import FakeKeyProvider


def test_every_bit_flip_fails(svc: EncryptionService) -> None:
    ed = bytes(svc.encrypt(b"attack at dawn", {"k": "v"}))
    for i in range(len(ed)):
        for bit in range(8):
            tampered = bytearray(ed)
            tampered[i] ^= 1 << bit
            with pytest.raises(DecryptionError):
                svc.decrypt(bytes(tampered), {"k": "v"})


def test_every_truncation_and_extension_fails(svc: EncryptionService) -> None:
    ed = bytes(svc.encrypt(b"attack at dawn", {"k": "v"}))
    for n in range(len(ed)):
        with pytest.raises(DecryptionError):
            svc.decrypt(ed[:n], {"k": "v"})
    with pytest.raises(DecryptionError):
        svc.decrypt(ed + b"\x00", {"k": "v"})


@pytest.mark.parametrize(
    "value",
    [
        "",
        "ts1.",
        "ts1.!!!not-base64",
        "ts1.AAAA",
        "ts2.VFNM",
        "{",
        "[]",
        '{"message": 5}',
        '{"message": "nope"}',
        '{"format": "tigerseal/9", "message": "ts1.VFNM"}',
        b"\xff\xfe",
        b"TSL",
        b"TSL\x02\x01",
        b"TSL\x01\x09" + bytes(60),
    ],
)
def test_malformed_inputs(svc: EncryptionService, value: str | bytes) -> None:
    with pytest.raises(DecryptionError) as e:
        svc.decrypt(value)
    assert "tigerseal" in str(e.value) or "message" in str(e.value)


def test_not_bytes_or_str(svc: EncryptionService) -> None:
    with pytest.raises(DecryptionError, match="int"):
        EncryptedData.parse(5)  # type: ignore[arg-type]


def _header_prefix(n_keys_field: bytes, ctx: bytes = b"\x00\x00") -> bytes:
    return (
        b"TSL\x01\x01\x01" + b"\x00" * 4 + secrets.token_bytes(32) + ctx + bytes(32) + n_keys_field
    )


def test_header_claiming_a_million_wrapped_keys_is_rejected_at_once() -> None:
    # The count is one byte; the largest claim is 255 and anything over 16 is refused.
    with pytest.raises(DecryptionError, match="wrapped keys"):
        EncryptedData.parse(_header_prefix(b"\xff") + bytes(100))
    # 10^6 context pairs cannot be encoded either (u16); the largest claim fails fast.
    with pytest.raises(DecryptionError, match="pairs"):
        EncryptedData.parse(_header_prefix(b"\x01", ctx=b"\xff\xff") + bytes(100))


def test_oversized_header_is_rejected() -> None:
    # A context value declared 65,535 bytes long, repeated: the header would pass 64 KiB.
    pair = b"\x00\x01a" + b"\xff\xff" + b"v" * 0xFFFF
    data = b"TSL\x01\x01\x01" + b"\x00" * 4 + secrets.token_bytes(32) + b"\x00\x02" + pair * 2
    with pytest.raises(DecryptionError, match="larger than"):
        EncryptedData.parse(data)


def test_oversized_context_is_refused_at_encryption(svc: EncryptionService) -> None:
    from tigerseal.errors import EncryptionError

    with pytest.raises(EncryptionError, match="header"):
        svc.encrypt(b"x", {f"k{i}": "v" * 1000 for i in range(80)})
    assert MAX_HEADER_SIZE == 65_536


def test_unsorted_or_duplicate_context_is_rejected(svc: EncryptionService) -> None:
    ed = bytes(svc.encrypt(b"x", {"a": "1", "b": "2"}))
    # Swap the two pairs in place: same bytes, wrong order.
    start = 44
    p1 = ed[start : start + 2 + 1 + 2 + 1]
    p2 = ed[start + 6 : start + 12]
    swapped = ed[:start] + p2 + p1 + ed[start + 12 :]
    with pytest.raises(DecryptionError, match="unsorted"):
        EncryptedData.parse(swapped)


def test_errors_carry_no_secret(svc: EncryptionService) -> None:
    secret = "correct horse battery staple"
    ed = bytes(svc.encrypt(secret, {"user": "alice"}))
    tampered = bytearray(ed)
    tampered[-1] ^= 1
    for bad, ctx in ((bytes(tampered), {"user": "alice"}), (ed, {"user": "mallory"})):
        with pytest.raises(TigerSealError) as e:
            svc.decrypt(bad, ctx)
        text = str(e.value) + repr(e.value)
        assert secret not in text
        assert "alice" not in text
        assert "mallory" not in text


# -- streams ----------------------------------------------------------------------------------
FS = 64


def _framed(svc: EncryptionService, data: bytes) -> tuple[bytes, int, list[bytes]]:
    out = io.BytesIO()
    svc.encrypt_stream(io.BytesIO(data), out, {"f": "1"}, frame_size=FS)
    blob = out.getvalue()
    size = EncryptedData.parse(blob[:MAX_HEADER_SIZE] if len(blob) > 10 else blob).header.size
    frames, pos = [], size
    while pos < len(blob):
        (n,) = struct.unpack_from(">I", blob, pos)
        frames.append(blob[pos : pos + 4 + n + 16])
        pos += 4 + n + 16
    return blob[:size], size, frames


def _decrypt(svc: EncryptionService, blob: bytes) -> bytes:
    out = io.BytesIO()
    svc.decrypt_stream(io.BytesIO(blob), out, {"f": "1"})
    return out.getvalue()


@pytest.mark.parametrize("length", [0, 1, FS - 1, FS, FS + 1, 5 * FS, 5 * FS + 7])
def test_stream_round_trip_boundaries(svc: EncryptionService, length: int) -> None:
    data = secrets.token_bytes(length)
    head, _, frames = _framed(svc, data)
    assert len(frames) == length // FS + 1  # a multiple of FS ends with an empty final frame
    assert _decrypt(svc, head + b"".join(frames)) == data
    assert svc.decrypt(head + b"".join(frames), {"f": "1"}) == data


def test_stream_attacks(svc: EncryptionService) -> None:
    data = secrets.token_bytes(4 * FS + 10)
    head, _, f = _framed(svc, data)
    attacks = {
        "drop middle": f[:1] + f[2:],
        "drop final": f[:-1],
        "swap": [f[1], f[0], *f[2:]],
        "duplicate": [f[0], *f],
        "truncate final frame": [*f[:-1], f[-1][:-1]],
        "truncate inside frame": [*f[:2], f[2][:10]],
        "append garbage": [*f, b"\x00"],
        "append frame": [*f, f[-1]],
        "final moved early": [f[0], f[-1]],
    }
    for name, frames in attacks.items():
        with pytest.raises(DecryptionError):
            _decrypt(svc, head + b"".join(frames))
        with pytest.raises(DecryptionError):
            svc.decrypt(head + b"".join(frames), {"f": "1"})
        assert name


def test_stream_frame_length_above_frame_size(svc: EncryptionService) -> None:
    head, _, f = _framed(svc, b"x" * (2 * FS))
    bad = struct.pack(">I", FS + 1) + f[0][4:]
    with pytest.raises(DecryptionError, match="more than the frame size"):
        _decrypt(svc, head + bad + b"".join(f[1:]))


def test_stream_every_bit_flip_in_a_small_stream(svc: EncryptionService) -> None:
    head, _, f = _framed(svc, b"abcdefgh" * 10)
    blob = head + b"".join(f)
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x01
        with pytest.raises(DecryptionError):
            _decrypt(svc, bytes(tampered))


def test_stream_reads_pipes_with_short_reads(svc: EncryptionService) -> None:
    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def readinto(self, b: memoryview) -> int:  # type: ignore[override]
            n = min(len(b), 3, len(self.data))
            b[:n] = self.data[:n]
            self.data = self.data[n:]
            return n

    data = secrets.token_bytes(10 * FS + 5)
    out = io.BytesIO()
    svc.encrypt_stream(Trickle(data), out, {"f": "1"}, frame_size=FS)  # type: ignore[arg-type]
    back = io.BytesIO()
    svc.decrypt_stream(Trickle(out.getvalue()), back, {"f": "1"})  # type: ignore[arg-type]
    assert back.getvalue() == data


@pytest.mark.parametrize(
    ("data", "context"),
    [("a\ud800b", None), ("x", {"k": "\udc80"}), ("x", {"\udc80": "v"})],
    ids=["plaintext", "context-value", "context-key"],
)
def test_text_that_is_not_utf8_encodable_is_an_encryption_error(
    svc: EncryptionService, data: str, context: dict[str, str] | None
) -> None:
    # A lone surrogate (from surrogateescape-decoded input, or JSON "\udc80") cannot be encoded:
    # a tigerseal error that says so, not a UnicodeEncodeError carrying the plaintext.
    with pytest.raises(EncryptionError, match="surrogate") as e:
        svc.encrypt(data, context)
    assert e.value.__context__ is None or not isinstance(e.value.__context__, UnicodeError)


@pytest.mark.parametrize("size", [100, 200_000])  # within / beyond the 64 KiB read-ahead
def test_appended_data_is_a_trailing_data_error_and_truncation_is_not(
    provider: FakeKeyProvider, size: int
) -> None:
    """Callers (the CLI) tell "complete but extended" from "incomplete" by the error type."""
    svc = EncryptionService(provider, frame_size=48 * 1024)
    sealed = io.BytesIO()
    svc.encrypt_stream(io.BytesIO(secrets.token_bytes(size)), sealed, {})
    blob = sealed.getvalue()
    with pytest.raises(TrailingDataError, match="data follows the final frame"):
        svc.decrypt_stream(io.BytesIO(blob + b"\x00"), io.BytesIO(), {})
    with pytest.raises(DecryptionError) as info:
        svc.decrypt_stream(io.BytesIO(blob[:-1]), io.BytesIO(), {})
    assert not isinstance(info.value, TrailingDataError)
