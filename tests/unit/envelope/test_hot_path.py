"""The 1 KiB hot path (issue 15.1): less work per message, the same bytes and checks.

The shortcuts each replace a general computation with a cheaper one that must give the same
bytes: one ``hmac.digest`` for the single-block HKDF-Expand, a precomputed HMAC key schedule
for cached data keys, the manifest layout sliced from the parsed header, the key section
encoded once per data key. Each is checked here against the general form; the security tests
(tampering, context binding, manifest, rotation/retirement) run unchanged elsewhere.
"""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives.hashes import SHA512
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from hypothesis import given, settings
from hypothesis import strategies as st
from tigerseal.envelope import CachePolicy, EncryptedData, EncryptionService
from tigerseal.envelope._format import (
    derive,
    encode_key_section,
    key_deriver,
    key_section_layout,
    key_section_parts,
    parse_header,
)
from tigerseal.spi import WrappedKey
from tigerseal.testing.fake import FakeKeyProvider

_INFO = b"tigerseal/v1/derive\x01"

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789+-.", min_size=1, max_size=12)
key_ids = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
wrapped_keys = st.lists(
    st.builds(
        WrappedKey,
        names,
        key_ids,
        st.integers(0, 2**32 - 1),
        st.binary(min_size=1, max_size=80),
    ),
    min_size=1,
    max_size=15,
).map(tuple)


@settings(max_examples=60, deadline=None)
@given(dek=st.binary(min_size=32, max_size=32), message_id=st.binary(min_size=32, max_size=32))
def test_derive_is_hkdf_expand(dek: bytes, message_id: bytes) -> None:
    """One HMAC block is HKDF-Expand-SHA512 with L = 64 (docs/format.md section 4)."""
    okm = HKDFExpand(SHA512(), 64, _INFO + message_id).derive(dek)
    assert derive(dek, message_id) == (okm[:32], okm[32:])
    assert key_deriver(dek)(message_id) == okm


def test_key_deriver_is_reusable() -> None:
    dek = secrets.token_bytes(32)
    okm = key_deriver(dek)
    ids = [secrets.token_bytes(32) for _ in range(5)]
    assert [okm(i) for i in ids] == [b"".join(derive(dek, i)) for i in ids]


@settings(max_examples=60, deadline=None)
@given(wrapped=wrapped_keys)
def test_key_section_parts_match_the_general_encoders(wrapped: tuple[WrappedKey, ...]) -> None:
    section, head, layout = key_section_parts(wrapped)
    assert section == encode_key_section(wrapped)
    manifest = WrappedKey("#keys", "", len(wrapped), bytes(16))
    assert head + bytes(16) == encode_key_section(wrapped, manifest)
    assert layout == key_section_layout(wrapped)


@settings(max_examples=60, deadline=None)
@given(wrapped=wrapped_keys)
def test_parsed_layout_is_the_manifest_layout(wrapped: tuple[WrappedKey, ...]) -> None:
    """The MAC input sliced from the header bytes equals the one rebuilt from its keys."""
    _, head, _ = key_section_parts(wrapped)
    raw = b"TSL\x01\x01\x01" + bytes(4) + bytes(32) + b"\x00\x00" + bytes(32) + head + bytes(16)
    header = parse_header(raw)
    assert header.wrapped_keys == wrapped
    assert header.layout == key_section_layout(wrapped)


def test_encrypted_data_header_is_the_parsed_header() -> None:
    svc = EncryptionService(FakeKeyProvider("hot-" + secrets.token_hex(4)))
    ed = svc.encrypt(b"x" * 100, {"a": "1", "b": "2"})
    assert ed.header == parse_header(bytes(ed))
    assert ed.context == {"a": "1", "b": "2"}
    assert EncryptedData.parse(bytes(ed)) == ed


class _CountingProvider(FakeKeyProvider):
    """Counts ``owns`` calls: the per-message cost of the cache's old version checks."""

    owns_calls = 0

    def owns(self, wrapped: WrappedKey) -> bool:
        type(self).owns_calls += 1
        return super().owns(wrapped)


def test_cache_hit_checks_versions_without_walking_wrapped_keys() -> None:
    """A cached data key is checked against one stored version snapshot per hit, not by
    asking each provider whether it owns each wrapped key (before: 2 ``owns`` calls per
    encrypt and 1 per decrypt with one provider)."""
    p = _CountingProvider("hot-" + secrets.token_hex(4))
    svc = EncryptionService(p, cache=CachePolicy())
    first = svc.encrypt(b"v")
    assert svc.decrypt(bytes(first)) == b"v"
    _CountingProvider.owns_calls = 0
    for _ in range(10):
        svc.encrypt(b"v")
    assert _CountingProvider.owns_calls == 0
    assert svc.metrics["generate"] == 1
    # Rotation still takes effect on the next message.
    p.rotate()
    after = svc.encrypt(b"w")
    assert after.key_version == p.key_version != first.key_version
    assert svc.metrics["generate"] == 2


def test_cache_put_refuses_a_key_a_rotation_overtook() -> None:
    """A data key wrapped just before a rotation is not cached as if current."""
    p = FakeKeyProvider("hot-" + secrets.token_hex(4))
    svc = EncryptionService(p, cache=CachePolicy())
    assert svc.cache is not None
    dk = p.generate_data_key({})
    p.rotate()
    svc.cache.put(b"\x00\x00", dk.plaintext, (dk.wrapped,), b"", 1, svc.providers)
    assert svc.cache.take(b"\x00\x00", 1, svc.providers) is None


contexts = st.dictionaries(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
    max_size=6,
)


@settings(max_examples=100, deadline=None)
@given(context=contexts)
def test_context_fast_path_is_the_checked_encoding(context: dict[str, str]) -> None:
    """Sorting str keys sorts their UTF-8 bytes: the fast encoder writes the canonical form."""
    from tigerseal.envelope._format import _encode_context_checked, encode_context

    assert encode_context(context) == (_encode_context_checked(context) if context else b"\0\0")
