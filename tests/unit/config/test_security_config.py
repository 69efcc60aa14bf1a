"""get_security_config(): the seed's attribute names, and a generated JWT secret in dev."""

from __future__ import annotations

import logging
import secrets

import pytest
from tigerseal import get_security_config
from tigerseal.config import SecurityConfig, reset_settings


def test_seed_example_prints_true_facts(capsys: pytest.CaptureFixture[str]) -> None:
    config = get_security_config()
    print(f"PBKDF2 iterations: {config.pbkdf2_iterations}")
    print(f"Password algorithm: {config.password_hash_algorithm}")
    print(f"JWT expiration: {config.jwt_access_token_expire}")
    out = capsys.readouterr().out
    assert "PBKDF2 iterations: 600000" in out
    assert "Password algorithm: argon2" in out
    assert "JWT expiration: 3600" in out


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "R" + secrets.token_urlsafe(40)
    monkeypatch.setenv("JWT_SECRET", secret)
    monkeypatch.setenv("PASSWORD_HASH_ALGORITHM", "scrypt")
    config = get_security_config()
    assert config.jwt_secret.get_secret_value() == secret
    assert not config.jwt_secret_generated
    assert config.password_hash_algorithm == "scrypt"
    assert secret not in repr(config)


def test_missing_jwt_secret_is_generated_once_per_process_in_development(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="tigerseal.config"):
        first = get_security_config()
    assert first.jwt_secret_generated
    assert len(first.jwt_secret.get_secret_value()) >= 32
    assert get_security_config() is first
    assert "JWT_SECRET is not set" in caplog.text
    assert first.jwt_secret.get_secret_value() not in caplog.text
    reset_settings()
    assert (
        get_security_config().jwt_secret.get_secret_value() != first.jwt_secret.get_secret_value()
    )


def test_is_frozen() -> None:
    config = get_security_config()
    with pytest.raises(ValueError, match="frozen"):
        config.pbkdf2_iterations = 1  # type: ignore[misc]
    assert isinstance(config, SecurityConfig)
