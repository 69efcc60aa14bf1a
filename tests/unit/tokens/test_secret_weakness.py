"""Issue 12 item 16: visibly non-random JWT secrets are refused in production."""

from __future__ import annotations

import base64
import random
import secrets
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tigerseal._weakness import jwt_secret_weakness, secret_weakness
from tigerseal.config import Settings
from tigerseal.errors import ConfigError

WEAK = [
    string.ascii_lowercase + string.ascii_uppercase,  # the alphabet in order
    string.ascii_letters + string.digits,
    "0123456789" * 2 + "abcdefghijklmnopqrstuvwxyz",
    "01234567890123456789012345678901234",
    "zyxwvutsrqponmlkjihgfedcba9876543210",
    "qwertyuiopasdfghjklzxcvbnm1234567890",  # keyboard rows
    "QWERTYUIOP{}ASDFGHJKL:ZXCVBNM<>?!@#$%^&*()",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.",  # keyboard columns
    "Password123!" * 3,
    "Password123!Password123!Password123?",
    "P@ssw0rd!P@ssw0rd!P@ssw0rd!P@ssw0rd!",
    "dragonmonkeysunshinefootballletmein!",
    "correcthorsebatterystaplecorrecthorsebatterystaple",
    "trustno1trustno1trustno1trustno1x",
    "abcdefghij0123456789abcdefghij0123456789",
]


@pytest.mark.parametrize("secret", WEAK)
def test_patterned_secrets_are_weak(secret: str) -> None:
    assert len(secret) >= 32
    why = jwt_secret_weakness(secret)
    assert why is not None
    assert secret not in why  # the reason never shows the secret
    assert secret_weakness(secret) == why


# Sequences a person types that are not runs of one walk: interleaved, stepped, doubled,
# separated or counted. Each is no more random than the alphabet in order.
SEQUENCE_VARIANTS = [
    "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8",
    "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f",
    "acegikmoqsuwybdfhjlnprtvxz0246813579",
    "a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-r-s",
    "aabbccddeeffgghhiijjkkllmmnnooppqqrr",
    "AaBbCcDdEeFfGgHhIiJjKkLlMmNnOoPpQqRr",
    "aZbYcXdWeVfUgThSiRjQkPlOmNnMoLpKqJ",
    "11223344556677889900aabbccddeeffgghh",
    "10111213141516171819202122232425262728",
    "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16",
]


@pytest.mark.parametrize("secret", SEQUENCE_VARIANTS)
def test_interleaved_and_stepped_sequences_are_weak(secret: str) -> None:
    assert len(secret) >= 32
    assert jwt_secret_weakness(secret) is not None


# jwt.io's debugger pre-fills HS256 with the first one (copied into many .env files); the
# others say they are placeholders in words the first markers missed.
PUBLIC_OR_MARKED = [
    "a-string-secret-at-least-256-bits-long",
    "JWT_SECRET_KEY_CHANGE_THIS_IN_PRODUCTION",
    "k8Hq2LmZ-change-this-before-deploying-x7",
    "secret-key-change-in-production!!",
]


@pytest.mark.parametrize("secret", PUBLIC_OR_MARKED)
def test_public_examples_and_placeholder_wording_are_weak(secret: str) -> None:
    assert len(secret) >= 32
    assert jwt_secret_weakness(secret) is not None


@pytest.mark.parametrize("secret", WEAK)
def test_production_refuses_them(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", secrets.token_hex(32))
    monkeypatch.setenv("JWT_SECRET", secret)
    with pytest.raises(ConfigError, match="JWT_SECRET is refused in production"):
        Settings()


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2**64), st.integers(min_value=24, max_value=96))
def test_random_urlsafe_secrets_pass(seed: int, nbytes: int) -> None:
    # What secrets.token_urlsafe(nbytes) returns (32+ characters), from a seeded generator so
    # hypothesis can replay a failure.
    raw = random.Random(seed).randbytes(nbytes)
    secret = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert len(secret) >= 32
    assert jwt_secret_weakness(secret) is None
    assert jwt_secret_weakness(raw.hex()) is None


def test_csprng_secrets_pass() -> None:
    for _ in range(200):
        assert jwt_secret_weakness(secrets.token_urlsafe(32)) is None
        assert jwt_secret_weakness(secrets.token_hex(32)) is None


def test_random_secret_with_a_short_word_passes() -> None:
    # A prefix that names the service does not make a long random secret weak.
    assert jwt_secret_weakness("billing-" + secrets.token_urlsafe(32)) is None
