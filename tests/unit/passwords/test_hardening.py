"""Issue 12, items 14-15: planted hashes cannot stall a login; bcrypt never truncates."""

from __future__ import annotations

from typing import Any

import argon2
import bcrypt
import pytest
from tigerseal.errors import PasswordError
from tigerseal.passwords import (
    Argon2Hasher,
    BcryptHasher,
    PasswordContext,
    Pbkdf2Sha256Hasher,
    ScryptHasher,
)
from tigerseal.passwords import _bcrypt_hasher as bcrypt_hasher
from tigerseal.passwords import _pbkdf2_hasher as pbkdf2_hasher
from tigerseal.passwords import _scrypt_hasher as scrypt_hasher

from tests.unit.passwords.conftest import make_context


def _never(*_: Any, **__: Any) -> Any:
    raise AssertionError("the hash function was called for an out-of-bound hash")


@pytest.fixture
def no_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every underlying hash function fails the test if it is reached."""
    monkeypatch.setattr(argon2.PasswordHasher, "verify", _never)
    monkeypatch.setattr(argon2.low_level, "verify_secret", _never)
    monkeypatch.setattr(bcrypt_hasher.bcrypt, "checkpw", _never)
    monkeypatch.setattr(pbkdf2_hasher.hashlib, "pbkdf2_hmac", _never)
    monkeypatch.setattr(scrypt_hasher.hashlib, "scrypt", _never)


SALT = "c29tZXNhbHRzb21lc2FsdA"  # 16 bytes, base64
TAG = "A" * 43  # 32 bytes, base64
PLANTED = {
    "argon2 t=2^32-1": f"$argon2id$v=19$m=65536,t=4294967295,p=4${SALT}${TAG}",
    "argon2 m=2 GiB": f"$argon2id$v=19$m=2097152,t=3,p=4${SALT}${TAG}",
    "argon2 p=255": f"$argon2id$v=19$m=65536,t=3,p=255${SALT}${TAG}",
    "argon2 t*m": f"$argon2id$v=19$m=262144,t=12,p=4${SALT}${TAG}",
    "bcrypt cost 31": "$2b$31$" + "a" * 53,
    "bcrypt cost 15": "$2b$15$" + "a" * 53,
    "bcrypt-sha256 cost 31": "$bcrypt-sha256$v=2,t=2b,r=31$" + "a" * 22 + "$" + "a" * 31,
    "pbkdf2 10M": "$pbkdf2-sha256$10000000$c2FsdA$" + "A" * 43,
    "pbkdf2 2.4M+1": "$pbkdf2-sha256$2400001$c2FsdA$" + "A" * 43,
    "django pbkdf2 10M": "pbkdf2_sha256$10000000$salt$" + "A" * 43 + "=",
    "scrypt ln=20": f"$scrypt$ln=20,r=8,p=1${SALT}${TAG}",
    "scrypt p=64": f"$scrypt$ln=17,r=8,p=64${SALT}${TAG}",
    # Tiny N, huge r*p: N*r*p is within 4x, but scrypt's PBKDF2 stages hash 128*r*p bytes
    # twice, which costs ~6 N-units per r*p (measured) and made this ~5-6x a default login.
    "scrypt ln=1 r=p=999": f"$scrypt$ln=1,r=999,p=999${SALT}${TAG}",
}


@pytest.mark.usefixtures("no_hashing")
@pytest.mark.parametrize("stored", PLANTED.values(), ids=PLANTED.keys())
def test_out_of_bound_hashes_are_refused_without_hashing(stored: str) -> None:
    # Default-cost hashers: the bounds follow the configured (or default) cost.
    ctx = PasswordContext("argon2")
    with pytest.raises(PasswordError, match=r"cost|limit"):
        ctx.verify("password", stored)
    with pytest.raises(PasswordError, match=r"cost|limit"):
        ctx.verify_and_update("password", stored)


# Planted hashes within the cost bounds that the underlying library cannot take: a login must
# get a PasswordError (the stored hash is bad), not a UnicodeEncodeError or ValueError.
UNUSABLE = {
    "argon2 non-ASCII salt": f"$argon2id$v=19$m=65536,t=3,p=4$s\u00e0lt${TAG}",
    "argon2 fullwidth digits": f"$argon2id$v=19$m=\uff18,t=1,p=1${SALT}${TAG}",
    "scrypt N >= 2^(16r)": f"$scrypt$ln=16,r=1,p=1${SALT}${TAG}",
    "scrypt ln=22 r=1": f"$scrypt$ln=22,r=1,p=1${SALT}${TAG}",
}


@pytest.mark.parametrize("stored", UNUSABLE.values(), ids=UNUSABLE.keys())
def test_unusable_planted_hashes_are_password_errors(stored: str) -> None:
    ctx = PasswordContext("argon2")
    with pytest.raises(PasswordError, match="malformed"):
        ctx.verify("password", stored)
    with pytest.raises(PasswordError, match="malformed"):
        ctx.verify_and_update("password", stored)


def test_bounds_follow_a_higher_configured_cost() -> None:
    # 4x the configured cost when it is above the default: a hash at 2x verifies.
    strong = BcryptHasher(rounds=13)
    stored = BcryptHasher(rounds=4).hash("pw")
    assert strong.verify("pw", stored)
    assert strong.max_rounds == 15
    assert BcryptHasher(rounds=4).max_rounds == 14  # never below 4x the default


def test_default_cost_hashes_verify_under_cheap_hashers() -> None:
    # A deployment that lowers its cost still verifies the hashes it wrote before.
    for hasher in (
        Argon2Hasher(),
        ScryptHasher(),
    ):
        stored = hasher.hash("pw")
        assert make_context().verify("pw", stored)
        assert make_context().verify_and_update("pw", stored)[0]
    stored = Pbkdf2Sha256Hasher().hash("pw")
    assert make_context().verify("pw", stored)


# -- item 15: bcrypt and 72 bytes ----------------------------------------------------------------
def test_exactly_72_bytes_uses_bcrypt_sha256() -> None:
    h = BcryptHasher(rounds=4)
    password = "a" * 72
    stored = h.hash(password)
    assert stored.startswith("$bcrypt-sha256$v=2,t=2b,r=4$")
    assert h.verify(password, stored)
    assert not h.verify(password + "suffix", stored)


def test_plain_bcrypt_never_accepts_a_truncated_match() -> None:
    # A $2b$ hash of exactly 72 bytes (any older tigerseal or another implementation).
    password = "b" * 72
    stored = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    ctx = make_context("bcrypt")
    assert ctx.verify(password, stored)
    for longer in (password + "X", password + "attacker-chosen-suffix"):
        assert not ctx.verify(longer, stored)
        assert ctx.verify_and_update(longer, stored) == (False, None)
    # The right password moves the hash to the form that cannot be extended.
    ok, new = ctx.verify_and_update(password, stored)
    assert ok
    assert new is not None
    assert new.startswith("$bcrypt-sha256$")
    assert not ctx.verify(password + "X", new)


def test_foreign_bcrypt_hashes_of_short_passwords_still_verify() -> None:
    for password in ("a", "correct horse battery staple", "é" * 35):
        stored = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
        assert BcryptHasher(rounds=4).verify(password, stored)
        assert not BcryptHasher(rounds=4).verify(password + "x", stored)
