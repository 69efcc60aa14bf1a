"""API keys: format, checksum, hashing, verification, records."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tigerseal import APIKeyRecord, generate_api_key, verify_api_key
from tigerseal.apikeys import (
    API_KEY_PATTERN,
    api_key_id,
    hash_api_key,
    is_api_key,
    mask_api_key,
    parse_api_key,
)
from tigerseal.apikeys._format import ALPHABET, RANDOM_LENGTH
from tigerseal.errors import (
    InsufficientScopeError,
    TokenError,
    TokenExpiredError,
    TokenInvalidError,
)
from tigerseal.passwords import PepperKeyring

SCANNER_REGEX = re.compile(r"\b[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{36}\b")


def test_seed_example() -> None:
    api_key, key_hash = generate_api_key("tk")  # tk_xxxxx format
    assert api_key.startswith("tk_")
    assert verify_api_key(api_key, key_hash)
    assert key_hash == hashlib.sha256(api_key.encode()).hexdigest()


def test_format_and_entropy() -> None:
    key, _ = generate_api_key("svc2")
    assert API_KEY_PATTERN.match(key)
    assert SCANNER_REGEX.fullmatch(key)
    parsed = parse_api_key(key)
    assert parsed.prefix == "svc2"
    assert len(parsed.random) == RANDOM_LENGTH
    assert RANDOM_LENGTH * 5.95 >= 160  # log2(62) > 5.95: at least 160 random bits
    assert parsed.random not in repr(parsed)


def test_keys_are_unique_and_use_the_whole_alphabet() -> None:
    keys = [generate_api_key()[0] for _ in range(2000)]
    assert len(set(keys)) == 2000
    chars = set("".join(parse_api_key(k).random for k in keys))
    assert chars == set(ALPHABET)


def test_every_single_character_typo_fails_before_lookup() -> None:
    key, key_hash = generate_api_key()
    for i in range(len(key)):
        for replacement in ("0", "Z", "a", "_", "-"):
            typo = key[:i] + replacement + key[i + 1 :]
            if typo == key:
                continue
            assert not is_api_key(typo), (i, replacement)
            assert not verify_api_key(typo, key_hash)


def test_transpositions_and_truncation_fail() -> None:
    key, _ = generate_api_key()
    body = key[3:]
    swapped = [key[:3] + body[:i] + body[i + 1] + body[i] + body[i + 2 :] for i in range(35)]
    assert not any(is_api_key(s) for s in swapped if s != key)
    assert not is_api_key(key[:-1])
    assert not is_api_key(key + "x")


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_random_strings_are_not_keys(text: str) -> None:
    assert not is_api_key(text)
    assert not verify_api_key(text, "0" * 64)


def test_bad_prefixes() -> None:
    for prefix in ("", "TK", "1tk", "t-k", "a" * 17, "tk_"):
        with pytest.raises(TokenInvalidError, match="prefix"):
            generate_api_key(prefix)


def test_verify_is_strict_about_the_stored_hash() -> None:
    key, key_hash = generate_api_key()
    _other, other_hash = generate_api_key()
    assert not verify_api_key(key, other_hash)
    with pytest.raises(TokenError, match="malformed"):
        verify_api_key(key, "not-a-hash")
    assert verify_api_key(f"  {key}\n", key_hash)  # copy-paste whitespace


def test_peppered_hashes() -> None:
    pepper = PepperKeyring.generate("k1")
    key, key_hash = generate_api_key("tk", pepper=pepper)
    assert key_hash.startswith("hmac-sha256$k1$")
    assert verify_api_key(key, key_hash, pepper=pepper)
    assert key_hash == hash_api_key(key, pepper=pepper)  # deterministic: usable as a lookup key
    with pytest.raises(TokenError, match="pepper 'k1'"):
        verify_api_key(key, key_hash)
    with pytest.raises(TokenError, match="pepper 'k1'"):
        verify_api_key(key, key_hash, pepper=PepperKeyring.generate("k2"))


def test_key_id_and_mask_reveal_nothing() -> None:
    key, key_hash = generate_api_key()
    key_id = api_key_id(key)
    assert re.fullmatch(r"tk_[0-9a-f]{12}", key_id)
    assert key_id == api_key_id(key)
    assert key_id[3:] not in key_hash
    masked = mask_api_key(key)
    assert masked == f"tk_…{key[-4:]}"
    assert parse_api_key(key).random not in masked


def test_record_lifecycle() -> None:
    key, record = APIKeyRecord.create(
        "tk", scopes=["read", "trade"], expires_in=3600, name="bot", now=1000.0
    )
    assert record.key_id == api_key_id(key)
    assert record.expires_at == 4600.0
    assert record.check(key, required_scopes=["read"], now=2000.0) is record
    assert record.verify(key, now=2000.0)
    assert not record.verify(key, now=5000.0)
    with pytest.raises(TokenExpiredError):
        record.check(key, now=4600.0)
    with pytest.raises(InsufficientScopeError, match="admin"):
        record.check(key, required_scopes=["admin"], now=2000.0)
    other, _ = APIKeyRecord.create("tk")
    with pytest.raises(TokenInvalidError):
        record.check(other, now=2000.0)


def test_record_serialisation_and_repr() -> None:
    key, record = APIKeyRecord.create("tk", scopes=["read"], metadata={"owner": "u1"})
    again = APIKeyRecord.from_dict(record.to_dict())
    assert again == record
    assert again.matches(key)
    assert key not in repr(record)
    assert record.key_hash not in repr(record)
    assert record.with_scopes(["x"]).scopes == ("x",)


def test_record_without_expiry_and_bad_expiry() -> None:
    _key, record = APIKeyRecord.create()
    assert not record.is_expired(now=1e12)
    with pytest.raises(TokenError, match="positive"):
        APIKeyRecord.create(expires_in=0)
