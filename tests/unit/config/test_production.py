"""ENVIRONMENT=production refuses missing, example, development and patterned keys."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tigerseal.config import Settings, jwt_secret_weakness, master_key_weakness
from tigerseal.errors import ConfigError

SEED_MASTER_KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
SEED_JWT_SECRET = "your-jwt-secret-key-here-minimum-32-characters"


def fresh_key() -> str:
    return secrets.token_hex(32)


def fresh_secret() -> str:
    return "Q" + secrets.token_urlsafe(48)


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", fresh_key())
    monkeypatch.setenv("JWT_SECRET", fresh_secret())
    return monkeypatch


def test_fresh_keys_are_accepted(production: pytest.MonkeyPatch) -> None:
    assert Settings().is_production


def test_missing_keys_are_refused_never_generated(production: pytest.MonkeyPatch) -> None:
    production.delenv("ENCRYPTION_MASTER_KEY")
    production.delenv("JWT_SECRET")
    with pytest.raises(ConfigError) as info:
        Settings()
    msg = str(info.value)
    assert "ENCRYPTION_MASTER_KEY is required in production" in msg
    assert "TIGERSEAL_KEY_PROVIDERS" in msg
    assert "JWT_SECRET is required in production" in msg


def test_key_providers_replace_the_master_key(production: pytest.MonkeyPatch) -> None:
    production.delenv("ENCRYPTION_MASTER_KEY")
    production.setenv("TIGERSEAL_KEY_PROVIDERS", "vault://transit/tiger")
    assert Settings().is_production


def test_seed_example_values_are_refused(production: pytest.MonkeyPatch) -> None:
    production.setenv("ENCRYPTION_MASTER_KEY", SEED_MASTER_KEY)
    production.setenv("JWT_SECRET", SEED_JWT_SECRET)
    with pytest.raises(ConfigError) as info:
        Settings()
    msg = str(info.value)
    assert msg.count("example value printed in documentation") == 2
    assert SEED_MASTER_KEY not in msg
    assert SEED_JWT_SECRET not in msg


def test_seed_example_values_are_fine_in_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", SEED_MASTER_KEY)
    monkeypatch.setenv("JWT_SECRET", SEED_JWT_SECRET)
    assert not Settings().is_production


@pytest.mark.parametrize(
    "key",
    [
        "00" * 32,
        "ff" * 32,
        "ab" * 32,
        "deadbeef" * 8,
        "0123456789abcdef" * 4,
        "00112233" * 8,
        "01" * 16 + "02" * 16,  # two values only
    ],
)
def test_patterned_master_keys_are_refused(production: pytest.MonkeyPatch, key: str) -> None:
    production.setenv("ENCRYPTION_MASTER_KEY", key)
    with pytest.raises(ConfigError, match="ENCRYPTION_MASTER_KEY is refused in production"):
        Settings()


@pytest.mark.parametrize(
    "secret",
    [
        "dev-" + secrets.token_urlsafe(32),
        "test_" + secrets.token_urlsafe(32),
        secrets.token_urlsafe(32) + "-change-me",
        "insecure-" + secrets.token_urlsafe(32),
        "your-own-" + secrets.token_urlsafe(32),
        "example" + secrets.token_urlsafe(32),
        "a" * 40,
        "abc" * 12,
        "abcdefg" * 6,
    ],
)
def test_development_and_patterned_jwt_secrets_are_refused(
    production: pytest.MonkeyPatch, secret: str
) -> None:
    production.setenv("JWT_SECRET", secret)
    with pytest.raises(ConfigError, match="JWT_SECRET is refused in production"):
        Settings()


def test_asymmetric_algorithm_needs_a_key_file_in_production(
    production: pytest.MonkeyPatch,
) -> None:
    production.setenv("JWT_ALGORITHM", "EdDSA")
    with pytest.raises(ConfigError, match="TIGERSEAL_JWT_KEYS_FILE"):
        Settings()
    production.setenv("TIGERSEAL_JWT_KEYS_FILE", "/etc/tigerseal/jwt.json")
    assert Settings().jwt_algorithm == "EdDSA"


def test_staging_is_not_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "staging")
    assert not Settings().is_production


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_random_master_keys_pass(raw: bytes) -> None:
    # Hypothesis also generates low-entropy inputs; a real CSPRNG key must always pass.
    if len(set(raw)) >= 16 and raw != raw[:16] * 2:
        assert master_key_weakness(raw.hex()) is None


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=10**6))
def test_csprng_keys_and_secrets_always_pass(seed: int) -> None:
    assert master_key_weakness(secrets.token_hex(32)) is None
    assert jwt_secret_weakness(secrets.token_hex(32)) is None
