"""Issue 11 item 14: a small message cannot make the reader allocate a lot or call a provider.

A framed message may declare 64 MiB frames. Before the fix, a 194-byte message declaring them
made the reader allocate two 64 MiB buffers (and unwrap its data key, a KMS call) before any
byte authenticated. Memory is measured with tracemalloc (allocations, not time).
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import tracemalloc
from collections.abc import Callable

import pytest
from tigerseal.envelope import EncryptionService
from tigerseal.envelope._format import MAX_FRAME_SIZE
from tigerseal.errors import DecryptionError
from tigerseal.testing.fake import FakeKeyProvider

LIMIT = 8 * 1024 * 1024  # well under one 64 MiB frame, well over what a small message needs


def _peak(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        with contextlib.suppress(DecryptionError):
            fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _big_frames(svc: EncryptionService, data: bytes) -> bytes:
    out = io.BytesIO()
    svc.encrypt_stream(io.BytesIO(data), out, frame_size=MAX_FRAME_SIZE)
    return out.getvalue()


def _stream(svc: EncryptionService, blob: bytes) -> bytes:
    out = io.BytesIO()
    svc.decrypt_stream(io.BytesIO(blob), out)
    return out.getvalue()


def test_small_message_with_64_mib_frames_decrypts_in_little_memory(
    svc: EncryptionService,
) -> None:
    blob = _big_frames(svc, b"tiny")
    assert len(blob) < 400
    assert svc.decrypt(blob) == b"tiny"
    assert _stream(svc, blob) == b"tiny"
    assert _peak(lambda: svc.decrypt(blob)) < LIMIT
    assert _peak(lambda: _stream(svc, blob)) < LIMIT


def _hostile(svc: EncryptionService) -> bytes:
    """A message that declares 64 MiB frames and a first frame of 64 MiB - 1 bytes, then ends."""
    blob = _big_frames(svc, b"tiny")
    size = len(blob) - (4 + 4 + 16)
    return blob[:size] + struct.pack(">I", MAX_FRAME_SIZE - 1) + bytes(10)


def test_hostile_frame_length_allocates_little_and_calls_no_provider(
    svc: EncryptionService, provider: FakeKeyProvider
) -> None:
    bad = _hostile(svc)
    assert len(bad) < 400
    before = provider.calls["unwrap"]
    for read in (svc.decrypt, lambda b: _stream(svc, b)):
        with pytest.raises(DecryptionError, match="truncated"):
            read(bad)
        assert _peak(lambda: read(bad)) < LIMIT  # noqa: B023
    assert provider.calls["unwrap"] == before


def test_hostile_frame_in_a_long_stream_allocates_by_data_received(
    svc: EncryptionService,
) -> None:
    # The header and first frame length arrive, then 100 KiB of a claimed 64 MiB frame.
    blob = _big_frames(svc, b"tiny")
    size = len(blob) - (4 + 4 + 16)
    bad = blob[:size] + struct.pack(">I", MAX_FRAME_SIZE) + bytes(100 * 1024)
    with pytest.raises(DecryptionError, match="truncated"):
        _stream(svc, bad)
    assert _peak(lambda: _stream(svc, bad)) < LIMIT


@pytest.mark.parametrize(
    "mangle",
    [
        lambda body: body[:10],  # single-shot body shorter than a tag
        lambda body: b"",
    ],
)
def test_short_single_shot_body_calls_no_provider(
    svc: EncryptionService, provider: FakeKeyProvider, mangle: Callable[[bytes], bytes]
) -> None:
    ed = svc.encrypt(b"value")
    data = bytes(ed)
    bad = data[: ed.header.size] + mangle(data[ed.header.size :])
    before = provider.calls["unwrap"]
    with pytest.raises(DecryptionError):
        svc.decrypt(bad)
    with pytest.raises(DecryptionError):
        _stream(svc, bad)
    assert provider.calls["unwrap"] == before


def test_framed_layout_errors_call_no_provider(
    svc: EncryptionService, provider: FakeKeyProvider
) -> None:
    out = io.BytesIO()
    svc.encrypt_stream(io.BytesIO(b"a" * 100), out, frame_size=16)
    blob = out.getvalue()
    before = provider.calls["unwrap"]
    for bad in (blob[:-1], blob + b"\x00", blob[:-30]):
        with pytest.raises(DecryptionError):
            svc.decrypt(bad)
        with pytest.raises(DecryptionError):
            _stream(svc, bad)
    assert provider.calls["unwrap"] == before


@pytest.mark.parametrize(
    ("frame_size", "length"),
    [
        (1000, 64 * 1024 - 300),  # the 64 KiB header read ends inside a frame
        (1000, 200_000),
        (65_000, 65_000 * 2),  # frames straddling the first read, empty final frame
        (3 * 1024 * 1024 + 7, 7 * 1024 * 1024),  # frames above the eager 1 MiB buffers grow
    ],
)
def test_framed_round_trips_across_buffer_boundaries(
    svc: EncryptionService, frame_size: int, length: int
) -> None:
    data = os.urandom(length)
    out = io.BytesIO()
    svc.encrypt_stream(io.BytesIO(data), out, frame_size=frame_size)
    assert _stream(svc, out.getvalue()) == data
    assert svc.decrypt(out.getvalue()) == data
    bad = bytearray(out.getvalue())
    bad[-20] ^= 1
    with pytest.raises(DecryptionError):
        _stream(svc, bytes(bad))
