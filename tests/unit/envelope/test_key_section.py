"""Issue 11 item 18: the unauthenticated key section.

An attacker who can write stored messages could strip the recovery copy of the data key, or add
up to 15 junk copies (one provider call each). Now: unwrap attempts are bounded by the
configured keys, and new messages carry a key-section manifest (docs/format.md, section 3.1)
that decryption verifies and ``inspect`` reports on.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tigerseal.envelope import EncryptedData, EncryptionService
from tigerseal.envelope._format import (
    CONTENT_SINGLE,
    build_aad,
    derive,
    encode_context,
    encode_key_section,
    header_bytes,
    nonce,
)
from tigerseal.errors import DecryptionError
from tigerseal.spi import WrappedKey
from tigerseal.testing.fake import FakeKeyProvider, reset_fake_keys


@pytest.fixture
def pair() -> Iterator[tuple[FakeKeyProvider, FakeKeyProvider]]:
    n = "ks-" + secrets.token_hex(4)
    yield FakeKeyProvider(n + "-primary"), FakeKeyProvider(n + "-recovery")
    reset_fake_keys(n + "-primary")
    reset_fake_keys(n + "-recovery")


def _with_keys(ed: EncryptedData, keys: list[WrappedKey], manifest: bool = True) -> bytes:
    """``ed`` with its key section replaced (keeping its manifest entry if asked)."""
    data = bytes(ed)
    section = encode_key_section(tuple(keys))
    if manifest and ed.header.manifest is not None:
        section = (
            bytes([section[0] + 1]) + section[1:] + encode_key_section((ed.header.manifest,))[1:]
        )
    return ed.header.aad + section + data[ed.header.size :]


def _junk(like: WrappedKey) -> WrappedKey:
    return WrappedKey(like.provider, like.key_id, like.key_version, os.urandom(len(like.blob)))


def test_junk_copies_cost_at_most_one_unwrap_per_configured_key(
    svc: EncryptionService, provider: FakeKeyProvider
) -> None:
    ed = svc.encrypt(b"x")
    real = ed.wrapped_keys[0]
    for keys in ([_junk(real)] * 14 + [real], [real] + [_junk(real)] * 14):
        for manifest in (True, False):
            forged = _with_keys(ed, keys, manifest)
            before = provider.calls["unwrap"]
            with pytest.raises(DecryptionError):
                svc.decrypt(forged)
            assert provider.calls["unwrap"] - before <= 1


def test_stripped_recovery_copy_is_detected(
    pair: tuple[FakeKeyProvider, FakeKeyProvider],
) -> None:
    primary, recovery = pair
    svc = EncryptionService([primary, recovery])
    ed = svc.encrypt(b"payload", {"k": "v"})
    assert EncryptionService.inspect(ed)["key_section"]["problem"] is None
    stripped = _with_keys(ed, [ed.wrapped_keys[0]])
    info = EncryptionService.inspect(stripped)
    assert info["key_section"]["written"] == 2
    assert info["key_section"]["present"] == 1
    assert "removed" in info["key_section"]["problem"]
    with pytest.raises(DecryptionError, match="key section"):
        EncryptionService(primary).decrypt(stripped, {"k": "v"})
    # Stripping the manifest too does not pass for an old message: the message id says it had one.
    bare = _with_keys(ed, [ed.wrapped_keys[0]], manifest=False)
    assert "manifest" in EncryptionService.inspect(bare)["key_section"]["problem"]
    with pytest.raises(DecryptionError, match="key section"):
        EncryptionService(primary).decrypt(bare, {"k": "v"})
    # A count edited to match still fails: the manifest's MAC covers the layout.
    edited = bytearray(_with_keys(ed, [ed.wrapped_keys[0]]))
    m = ed.header.manifest
    assert m is not None
    idx = bytes(edited).rindex(m.blob) - 2 - 4
    edited[idx : idx + 4] = (1).to_bytes(4, "big")
    assert EncryptionService.inspect(bytes(edited))["key_section"]["problem"] is None
    with pytest.raises(DecryptionError, match="key section"):
        EncryptionService(primary).decrypt(bytes(edited), {"k": "v"})


def test_reordered_or_relabelled_copies_are_detected(
    pair: tuple[FakeKeyProvider, FakeKeyProvider],
) -> None:
    primary, recovery = pair
    svc = EncryptionService([primary, recovery])
    ed = svc.encrypt(b"payload")
    a, b = ed.wrapped_keys
    with pytest.raises(DecryptionError, match="key section"):
        svc.decrypt(_with_keys(ed, [b, a]))
    assert EncryptionService(recovery).decrypt(ed) == b"payload"


def test_manifest_survives_rewrap(pair: tuple[FakeKeyProvider, FakeKeyProvider]) -> None:
    primary, recovery = pair
    svc = EncryptionService([primary, recovery])
    ed = svc.encrypt(b"payload", {"k": "v"})
    primary.rotate()
    recovery.rotate()
    new = svc.rewrap(ed)
    assert [w.key_version for w in new.wrapped_keys] == [2, 2]
    assert new.header.manifest == ed.header.manifest
    assert EncryptionService.inspect(new)["key_section"]["problem"] is None
    assert EncryptionService(recovery).decrypt(new, {"k": "v"}) == b"payload"


def _legacy_message(provider: FakeKeyProvider, plaintext: bytes) -> bytes:
    """A v1 message as tigerseal wrote it before the manifest: random message id, no manifest."""
    dk = provider.generate_data_key({})
    message_id = os.urandom(32)
    key, commitment = derive(dk.plaintext, message_id)
    aad = build_aad(CONTENT_SINGLE, 0, message_id, encode_context({}), commitment)
    head = header_bytes(aad, encode_key_section((dk.wrapped,)))
    return head + AESGCM(key).encrypt(nonce(0, True), plaintext, aad)


def test_messages_without_a_manifest_still_decrypt(
    svc: EncryptionService, provider: FakeKeyProvider
) -> None:
    legacy = _legacy_message(provider, b"old")
    assert svc.decrypt(legacy) == b"old"
    info = EncryptionService.inspect(legacy)["key_section"]
    assert info["written"] is None
    assert info["problem"] is None
    provider.rotate()
    assert svc.decrypt(svc.rewrap(legacy)) == b"old"


def test_rewrap_of_a_tampered_key_section_costs_few_or_no_calls(
    svc: EncryptionService, provider: FakeKeyProvider
) -> None:
    # The unwrap bound holds for rewrap too: 14 junk copies under the configured key (count
    # edited to match, so only the MAC would tell) must not cost 15 provider calls, and a key
    # section whose count already shows tampering costs none.
    ed = svc.encrypt(b"x")
    real, m = ed.wrapped_keys[0], ed.header.manifest
    assert m is not None
    keys = (real, *tuple(_junk(real) for _ in range(14)))
    forged = EncryptedData(
        ed.header.aad
        + encode_key_section(keys, WrappedKey(m.provider, "", len(keys), m.blob))
        + bytes(ed)[ed.header.size :]
    )
    provider.rotate()
    before = sum(provider.calls.values())
    with contextlib.suppress(DecryptionError):
        svc.rewrap(forged)
    assert sum(provider.calls.values()) - before <= 2  # one rewrap (unwrap + wrap at most)
    stripped = EncryptedData(_with_keys(ed, [real, real], manifest=True))
    before = sum(provider.calls.values())
    with pytest.raises(DecryptionError, match="key section"):
        svc.rewrap(stripped)
    assert sum(provider.calls.values()) == before
