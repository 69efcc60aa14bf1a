"""Each scheme: round trip, parameters, malformed input, bcrypt's 72-byte limit."""

from __future__ import annotations

import base64
import hashlib

import bcrypt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tigerseal.errors import ConfigError, PasswordError
from tigerseal.passwords import (
    Argon2Hasher,
    BcryptHasher,
    Pbkdf2Sha256Hasher,
    ScryptHasher,
)
from tigerseal.spi import PasswordHasher

from tests.unit.passwords.conftest import cheap_hashers, make_context

SCHEMES = ["argon2", "bcrypt", "scrypt", "pbkdf2-sha256"]
PREFIXES = {
    "argon2": "$argon2id$v=19$m=1024,t=1,p=1$",
    "bcrypt": "$2b$04$",
    "scrypt": "$scrypt$ln=4,r=8,p=1$",
    "pbkdf2-sha256": "$pbkdf2-sha256$1000$",
}


@pytest.mark.parametrize("name", SCHEMES)
def test_round_trip_and_format(name: str) -> None:
    hasher: PasswordHasher = cheap_hashers()[name]  # type: ignore[assignment]
    stored = hasher.hash("correct horse battery staple")
    assert stored.startswith(PREFIXES[name])
    assert hasher.identify(stored)
    assert hasher.verify("correct horse battery staple", stored)
    assert not hasher.verify("correct horse battery stapl", stored)
    assert not hasher.needs_update(stored)
    assert hasher.hash("same") != hasher.hash("same")  # salted


@pytest.mark.parametrize("name", SCHEMES)
def test_unicode_passwords(name: str) -> None:
    hasher: PasswordHasher = cheap_hashers()[name]  # type: ignore[assignment]
    stored = hasher.hash("pässwörd-日本語-🔑")
    assert hasher.verify("pässwörd-日本語-🔑", stored)
    assert not hasher.verify("passwörd-日本語-🔑", stored)


@pytest.mark.parametrize("name", SCHEMES)
def test_empty_and_huge_passwords_are_refused(name: str) -> None:
    hasher: PasswordHasher = cheap_hashers()[name]  # type: ignore[assignment]
    with pytest.raises(PasswordError, match="empty"):
        hasher.hash("")
    with pytest.raises(PasswordError, match="4096"):
        hasher.hash("x" * 4097)
    stored = hasher.hash("ok-password")
    assert not hasher.verify("", stored)
    assert not hasher.verify("x" * 5000, stored)


@pytest.mark.parametrize("name", SCHEMES)
def test_nul_characters_are_refused(name: str) -> None:
    # C bcrypt stops at NUL and HMAC pads keys with zeros ("pw" == "pw\0" under PBKDF2).
    hasher: PasswordHasher = cheap_hashers()[name]  # type: ignore[assignment]
    with pytest.raises(PasswordError, match="NUL"):
        hasher.hash("abc\x00def")
    assert not hasher.verify("pw\x00", hasher.hash("pw-long-enough"))


@pytest.mark.parametrize("name", SCHEMES)
def test_non_str_password_is_a_type_error(name: str) -> None:
    hasher: PasswordHasher = cheap_hashers()[name]  # type: ignore[assignment]
    with pytest.raises(TypeError):
        hasher.hash(b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("argon2", "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$AAAA"),
        ("argon2", "$argon2id$garbage"),
        ("bcrypt", "$2b$12$tooShort"),
        ("bcrypt", "$2x$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq"),
        (
            "bcrypt",
            "$bcrypt-sha256$v=3,t=2b,r=5$5Hg1DKFqPE8C2aflZ5vVoe$12BjNE0p7axMg55.Y/mHsYiVuFBDQyu",
        ),
        (
            "scrypt",
            "$scrypt$ln=10,r=1$wvif8/4fg1Cq9V7L2dv73w$bJcLia1lyfQ1X2x0xflehwVXPzWIUQWWdnlGwfVzBeQ",
        ),
        (
            "scrypt",
            "$scrypt$ln=30,r=8,p=1$wvif8/4fg1Cq9V7L2dv73w$bJcLia1lyfQ1X2x0xflehwVXPzWIUQWWdnlGwfVzBeQ",
        ),
        ("pbkdf2-sha256", "$pbkdf2-sha256$01212$4vjV83LKPjQzk31VI4E0Vw$hsYF68OiOUPdDZ1Fg"),
        (
            "pbkdf2-sha256",
            "$pbkdf2-sha256$99999999999$4vjV83LKPjQzk31VI4E0Vw$hsYF68OiOUPdDZ1Fg.fJPeq1h/gXXY7acBp9/6c.tmQ",
        ),
    ],
)
def test_malformed_hashes_raise_password_error(name: str, stored: str) -> None:
    ctx = make_context()
    with pytest.raises(PasswordError) as info:
        ctx.verify("password", stored)
    assert stored not in str(info.value)
    assert "password" not in str(info.value).replace("reset the password", "")


def test_unknown_format_raises() -> None:
    with pytest.raises(PasswordError, match="no recognised format"):
        make_context().verify("pw", "$1$md5crypt$abcdefghijklmnopqrstuv")
    with pytest.raises(PasswordError):
        make_context().verify("pw", "plaintext-password")


def test_scrypt_parameters_from_a_hash_are_bounded() -> None:
    # A planted hash asking for 2^22 * 128 * 64 bytes must not be computed.
    stored = "$scrypt$ln=22,r=64,p=1$c2FsdA$" + "A" * 43
    with pytest.raises(PasswordError):
        make_context().verify("x", stored)


class TestBcryptNeverTruncates:
    LONG = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor"

    def test_long_password_is_prehashed_in_passlib_format(self) -> None:
        h = BcryptHasher(rounds=4)
        assert len(self.LONG.encode()) > 72
        stored = h.hash(self.LONG)
        assert stored.startswith("$bcrypt-sha256$v=2,t=2b,r=4$")
        assert h.verify(self.LONG, stored)
        # Differs only after byte 72: plain bcrypt would accept it; we must not.
        assert not h.verify(self.LONG[:72] + "X" * 20, stored)
        assert not h.verify(self.LONG[:72], stored)

    def test_71_bytes_stays_plain_bcrypt(self) -> None:
        # 72 bytes and more use bcrypt-sha256 (issue 12 item 15: a plain hash of exactly 72
        # bytes also matches any extension of the password).
        stored = BcryptHasher(rounds=4).hash("a" * 71)
        assert stored.startswith("$2b$04$")
        assert bcrypt.checkpw(b"a" * 71, stored.encode())

    def test_multibyte_characters_count_as_bytes(self) -> None:
        password = "é" * 37  # 74 bytes
        stored = BcryptHasher(rounds=4).hash(password)
        assert stored.startswith("$bcrypt-sha256$")
        assert BcryptHasher(rounds=4).verify(password, stored)

    def test_legacy_truncated_hash_does_not_verify_a_long_password(self) -> None:
        # Another implementation hashed the first 72 bytes of LONG; accepting LONG would mean
        # accepting every password that shares those 72 bytes (issue 12 item 15).
        legacy = bcrypt.hashpw(self.LONG.encode()[:72], bcrypt.gensalt(4)).decode()
        ctx = make_context("bcrypt")
        assert ctx.verify_and_update(self.LONG, legacy) == (False, None)
        assert not ctx.verify(self.LONG[:72] + "zz", legacy)
        assert ctx.verify(self.LONG[:72], legacy)  # exactly what was hashed


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),
            Argon2Hasher(time_cost=2, memory_cost=1024, parallelism=1),
        ),
        (BcryptHasher(rounds=4), BcryptHasher(rounds=5)),
        (ScryptHasher(ln=4), ScryptHasher(ln=5)),
        (Pbkdf2Sha256Hasher(iterations=1000), Pbkdf2Sha256Hasher(iterations=2000)),
    ],
)
def test_weaker_parameters_need_update(old: PasswordHasher, new: PasswordHasher) -> None:
    stored = old.hash("pw-123456")
    assert new.needs_update(stored)
    assert not old.needs_update(stored)
    assert new.verify("pw-123456", stored)


def test_default_parameters_follow_the_standards() -> None:
    a = Argon2Hasher()
    assert (a.parameters.time_cost, a.parameters.memory_cost, a.parameters.parallelism) == (
        3,
        65536,
        4,
    )
    assert BcryptHasher().rounds == 12
    assert (ScryptHasher().ln, ScryptHasher().r, ScryptHasher().p) == (17, 8, 1)
    assert Pbkdf2Sha256Hasher().iterations == 600_000


def test_invalid_constructor_parameters() -> None:
    with pytest.raises(ValueError, match="rounds"):
        BcryptHasher(rounds=3)
    with pytest.raises(ValueError, match="1 GiB"):
        ScryptHasher(ln=22, r=32)


@settings(max_examples=40, deadline=None)
@given(
    st.text(
        st.characters(exclude_characters="\x00", exclude_categories=["Cs"]),
        min_size=1,
        max_size=100,
    )
)
def test_any_text_round_trips(password: str) -> None:
    for hasher in (Pbkdf2Sha256Hasher(iterations=1), BcryptHasher(rounds=4)):
        stored = hasher.hash(password)
        assert hasher.verify(password, stored)
        assert not hasher.verify(password + "\u0000", stored)


@pytest.mark.parametrize("password", ["\ud800", "abc\udfff", "\udc80pw"])
def test_lone_surrogates_are_refused_not_crashing(password: str) -> None:
    # json.loads('"\\ud800"') yields such a str: a request body must not cause a 500.
    from tigerseal import get_security_service

    service = get_security_service()
    stored = service.hash_password("correct horse battery staple")
    assert service.verify_password(password, stored) is False
    assert service.verify_and_update(password, stored) == (False, None)
    with pytest.raises(PasswordError, match="surrogate"):
        service.hash_password(password)


def test_a_trailing_newline_makes_a_stored_hash_malformed() -> None:
    """A stored hash has one spelling: ``$`` in a format regex matched before a final newline."""
    from tigerseal.passwords import PepperKeyring

    django_salt = "seasalt"
    django_digest = base64.b64encode(
        hashlib.pbkdf2_hmac("sha256", b"pw-1234", django_salt.encode(), 1000)
    ).decode()
    bcrypt_hasher = cheap_hashers()["bcrypt"]
    assert isinstance(bcrypt_hasher, PasswordHasher)
    valid = [
        (name, hasher.hash("pw-1234"))  # type: ignore[attr-defined]
        for name, hasher in cheap_hashers().items()
    ] + [
        ("pbkdf2-sha256", f"pbkdf2_sha256$1000${django_salt}${django_digest}"),
        ("bcrypt", bcrypt_hasher.hash("pw-1234" * 12)),  # bcrypt-sha256 v2 (over 72 bytes)
    ]
    ctx = make_context(pepper=PepperKeyring.generate("p1"))
    valid.append(("peppered", ctx.hash("pw-1234")))
    for name, stored in valid:
        password = "pw-1234" * 12 if stored.startswith("$bcrypt-sha256$") else "pw-1234"
        assert ctx.verify(password, stored), name
        for spelling in (stored + "\n", stored + "\r\n"):
            with pytest.raises(PasswordError, match="malformed"):
                ctx.verify(password, spelling)
            # The format-regex schemes; argon2's parsing is argon2-cffi's (verify refuses).
            scheme = ctx.identify(spelling)
            if name not in ("peppered", "argon2") and scheme is not None:
                with pytest.raises(PasswordError, match="malformed"):
                    scheme.needs_update(spelling)
    with pytest.raises(ConfigError, match="pepper id"):
        PepperKeyring.generate("p1\n")
