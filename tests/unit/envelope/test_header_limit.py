"""Issue 11 item 1: every writer checks the whole header (authenticated part and key section)."""

from __future__ import annotations

import io

import pytest
from tigerseal.envelope import EncryptedData, EncryptionService
from tigerseal.envelope._format import MAX_HEADER_SIZE
from tigerseal.errors import EncryptionError
from tigerseal.spi import Context, WrappedKey
from tigerseal.testing.fake import FakeKeyProvider

# The authenticated header is 76 bytes plus the context; one pair costs 4 + key + value bytes.
_FIXED = 76


def _context_for_aad(aad_size: int) -> dict[str, str]:
    """A one-pair context that makes the authenticated header exactly ``aad_size`` bytes."""
    return {"k": "v" * (aad_size - _FIXED - 5)}


def test_encrypt_refuses_a_header_whose_key_section_passes_the_limit(
    svc: EncryptionService,
) -> None:
    ctx = _context_for_aad(MAX_HEADER_SIZE - 20)  # the AAD fits, AAD + key section does not
    with pytest.raises(EncryptionError, match="65,536"):
        svc.encrypt(b"x", ctx)


def test_encrypt_stream_refuses_before_writing(svc: EncryptionService) -> None:
    ctx = _context_for_aad(MAX_HEADER_SIZE - 20)
    dst = io.BytesIO()
    with pytest.raises(EncryptionError, match="65,536"):
        svc.encrypt_stream(io.BytesIO(b"data"), dst, ctx, frame_size=16)
    assert dst.getvalue() == b""


def test_largest_header_that_fits_round_trips(
    svc: EncryptionService, provider: FakeKeyProvider
) -> None:
    probe = svc.encrypt(b"x")
    section = probe.header.size - len(probe.header.aad)
    ctx = _context_for_aad(MAX_HEADER_SIZE - section)
    ed = svc.encrypt(b"payload", ctx)
    assert ed.header.size == MAX_HEADER_SIZE
    assert svc.decrypt(bytes(ed), ctx) == b"payload"
    out = io.BytesIO()
    svc.encrypt_stream(io.BytesIO(b"payload"), out, ctx, frame_size=4)
    back = io.BytesIO()
    svc.decrypt_stream(io.BytesIO(out.getvalue()), back, ctx)
    assert back.getvalue() == b"payload"


def test_rewrap_refuses_a_header_that_would_pass_the_limit(
    svc: EncryptionService, provider: FakeKeyProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = svc.encrypt(b"x")
    section = probe.header.size - len(probe.header.aad)
    ctx = _context_for_aad(MAX_HEADER_SIZE - section - 10)
    ed = svc.encrypt(b"payload", ctx)
    provider.rotate()

    def longer(items: list[tuple[WrappedKey, Context]]) -> list[WrappedKey]:
        # A backend whose new wrapped keys are longer (a KMS ciphertext grows with its ARN).
        return [
            WrappedKey(w.provider, w.key_id, w.key_version + 1, w.blob + bytes(64))
            for w, _ in items
        ]

    monkeypatch.setattr(provider, "rewrap_many", longer)
    with pytest.raises(EncryptionError, match="65,536"):
        svc.rewrap_headers([ed.header])
    with pytest.raises(EncryptionError, match="65,536"):
        svc.rewrap(ed)
    assert svc.decrypt(EncryptedData.parse(bytes(ed)), ctx) == b"payload"
