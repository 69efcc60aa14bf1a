"""The local wrap shared by env/file/fake: format, AAD binding, canonical context encoding."""

from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV
from hypothesis import given, settings
from hypothesis import strategies as st
from tigerseal.errors import (
    ConfigError,
    DecryptionError,
    KeyNotFound,
    KeyVersionRetired,
    NoMatchingKeyError,
)
from tigerseal.providers._local import SUITE, WRAPPED_SIZE, LocalKeyring, encode_context
from tigerseal.spi import WrappedKey

KEK = secrets.token_bytes(32)
contexts = st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4)


def keyring(**kwargs: object) -> LocalKeyring:
    args: dict[str, object] = {"current": 1, **kwargs}
    return LocalKeyring("fake", "kid", {1: KEK}, **args)  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(contexts, contexts)
def test_context_encoding_is_injective(a: dict[str, str], b: dict[str, str]) -> None:
    assert (encode_context(a) == encode_context(b)) == (a == b)


def test_context_encoding_is_order_independent() -> None:
    assert encode_context({"a": "1", "b": "2"}) == encode_context({"b": "2", "a": "1"})
    assert encode_context({}) == b"\x00\x00\x00\x00"
    with pytest.raises(TypeError):
        encode_context({"a": 1})  # type: ignore[dict-item]


def test_blob_layout_matches_documentation() -> None:
    assert SUITE == "AES-256-GCM-SIV"
    ring = keyring()
    dek = secrets.token_bytes(32)
    wrapped = ring.wrap(dek, {"a": "b"})
    # docs/providers/env-and-file.md: suite byte (01 = AES-256-GCM-SIV), nonce, ciphertext, tag.
    assert len(wrapped.blob) == WRAPPED_SIZE == 61
    assert wrapped.blob[0] == 1
    nonce, body = wrapped.blob[1:13], wrapped.blob[13:]
    aad = (
        b"tigerseal/local-wrap/v2\x00"
        + b"\x01"
        + (4).to_bytes(4, "big")
        + b"fake"
        + (3).to_bytes(4, "big")
        + b"kid"
        + (1).to_bytes(4, "big")
        + encode_context({"a": "b"})
    )
    assert AESGCMSIV(KEK).decrypt(nonce, body, aad) == dek  # an independent decryption


@pytest.mark.parametrize(
    "other",
    [
        {"scheme": "env"},
        {"key_id": "kid2"},
    ],
)
def test_identity_is_bound(other: dict[str, str]) -> None:
    wrapped = keyring().wrap(b"k" * 32, {})
    args = {"scheme": "fake", "key_id": "kid", **other}
    impostor = LocalKeyring(args["scheme"], args["key_id"], {1: KEK}, current=1)
    relabelled = WrappedKey(args["scheme"], args["key_id"], 1, wrapped.blob)
    with pytest.raises(DecryptionError):
        impostor.unwrap(relabelled, {})
    with pytest.raises(NoMatchingKeyError):
        impostor.unwrap(wrapped, {})


def test_version_is_bound() -> None:
    ring = LocalKeyring("fake", "kid", {1: KEK, 2: KEK}, current=1)
    wrapped = ring.wrap(b"k" * 32, {})
    with pytest.raises(DecryptionError):
        ring.unwrap(WrappedKey("fake", "kid", 2, wrapped.blob), {})


def test_context_free_mode_ignores_context() -> None:
    ring = keyring(binds_context=False)
    assert ring.unwrap(ring.wrap(b"k" * 32, {"a": "1"}), {"b": "2"}) == b"k" * 32


def test_version_errors() -> None:
    ring = LocalKeyring("fake", "kid", {1: KEK, 2: secrets.token_bytes(32)}, current=2)
    old = WrappedKey("fake", "kid", 1, ring.wrap(b"k" * 32, {}).blob)
    ring.replace({1: KEK, 2: secrets.token_bytes(32)}, current=2, min_version=2)
    with pytest.raises(KeyVersionRetired, match="version 1 is retired"):
        ring.unwrap(old, {})
    with pytest.raises(KeyNotFound, match="version 7 is not in the keyring"):
        ring.unwrap(WrappedKey("fake", "kid", 7, old.blob), {})


@pytest.mark.parametrize(
    ("keys", "current", "min_version", "message"),
    [
        ({1: KEK}, 2, 0, "current version 2 has no key"),
        ({1: KEK}, 1, 2, "above the current version"),
        ({1: KEK[:16]}, 1, 0, "not a 256-bit key"),
        ({0: KEK}, 0, 0, "out of range"),
    ],
)
def test_bad_keyrings(keys: dict[int, bytes], current: int, min_version: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        LocalKeyring("fake", "kid", keys, current=current, min_version=min_version)
    assert KEK.hex() not in str(info.value)


def test_wrong_dek_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        keyring().wrap(b"short", {})


def test_repr_has_no_key() -> None:
    assert KEK.hex() not in repr(keyring())
