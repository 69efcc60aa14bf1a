"""Settings: the seed's variables with their defaults, validation messages, .env loading.

Validation at build time applies to tigerseal's own ``TIGERSEAL_`` names; the seed's
unprefixed names are lenient fallbacks (see test_host_namespace.py).
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from tigerseal.config import DEFAULT_PBKDF2_ITERATIONS, Settings, get_settings, reset_settings
from tigerseal.errors import ConfigError

GOOD_KEY = "a3f1" + secrets.token_hex(30)


def test_seed_variables_have_their_defaults() -> None:
    s = Settings()
    assert s.environment == "development"
    assert s.encryption_master_key is None
    assert s.jwt_secret is None
    assert s.pbkdf2_iterations == DEFAULT_PBKDF2_ITERATIONS == 600_000
    assert s.password_hash_algorithm == "argon2"
    assert s.jwt_access_token_expire == 3600
    assert s.default_rate_limit_hour == 1000
    assert not s.is_production


def test_environment_variables_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PBKDF2_ITERATIONS", "100000")
    monkeypatch.setenv("PASSWORD_HASH_ALGORITHM", "bcrypt")
    monkeypatch.setenv("JWT_ACCESS_TOKEN_EXPIRE", "900")
    monkeypatch.setenv("TIGERSEAL_REVOCATION_STORE", "memory://")
    s = Settings()
    assert (s.pbkdf2_iterations, s.password_hash_algorithm, s.jwt_access_token_expire) == (
        100_000,
        "bcrypt",
        900,
    )


def test_dotenv_file_is_read_when_named(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".env").write_text(
        f"ENCRYPTION_MASTER_KEY={GOOD_KEY}\nJWT_SECRET={'s' * 10}{secrets.token_urlsafe(30)}\n"
    )
    monkeypatch.setenv("TIGERSEAL_ENV_FILE", str(clean_env / ".env"))
    s = get_settings()
    assert s.encryption_master_key is not None
    assert s.encryption_master_key.get_secret_value() == GOOD_KEY


def test_settings_are_cached_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    assert get_settings() is first
    monkeypatch.setenv("DEFAULT_RATE_LIMIT_HOUR", "5")
    assert get_settings().default_rate_limit_hour == 1000
    reset_settings()
    assert get_settings().default_rate_limit_hour == 5


def test_secrets_never_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "Zq" + secrets.token_urlsafe(40)
    monkeypatch.setenv("JWT_SECRET", secret)
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", GOOD_KEY)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:hunter2pass@db:5432/x")
    text = repr(Settings()) + str(Settings())
    assert secret not in text
    assert GOOD_KEY not in text
    assert "hunter2pass" not in text


@pytest.mark.parametrize(
    ("variable", "value", "fragments"),
    [
        ("ENCRYPTION_MASTER_KEY", "abc123", ["ENCRYPTION_MASTER_KEY", "64 hex", "token_hex"]),
        ("ENCRYPTION_MASTER_KEY", "z" * 64, ["ENCRYPTION_MASTER_KEY", "non-hex"]),
        ("JWT_SECRET", "short-secret", ["JWT_SECRET", "at least 32", "token_urlsafe"]),
        ("PASSWORD_HASH_ALGORITHM", "argn2", ["PASSWORD_HASH_ALGORITHM", "Did you mean 'argon2'"]),
        ("PASSWORD_HASH_ALGORITHM", "md5", ["PASSWORD_HASH_ALGORITHM", "argon2, bcrypt"]),
        ("JWT_ALGORITHM", "none", ["JWT_ALGORITHM", "never accepted"]),
        ("JWT_ALGORITHM", "HS1024", ["JWT_ALGORITHM", "unknown JWT algorithm"]),
        ("DATABASE_URL", "not a url", ["DATABASE_URL", "postgresql://USER:PASSWORD@HOST"]),
        ("DATABASE_URL", "postgresql://u:p@h:99999/db", ["DATABASE_URL", "port"]),
        ("DATABASE_URL", "postgresql://u:p@h/db?sslmode=maybe", ["DATABASE_URL", "sslmode"]),
        ("ENVIRONMENT", "prodution", ["ENVIRONMENT", "development, test, staging, production"]),
        ("PBKDF2_ITERATIONS", "1000", ["PBKDF2_ITERATIONS", "at least 10000"]),
        ("DATABASE_SSL_MODE", "sometimes", ["DATABASE_SSL_MODE", "verify-full"]),
        ("TIGERSEAL_API_KEY_PREFIX", "Bad_Prefix", ["TIGERSEAL_API_KEY_PREFIX", "lowercase"]),
        ("JWT_LEEWAY", "3600", ["JWT_LEEWAY", "between 0 and 300"]),
        ("JWT_ACCESS_TOKEN_EXPIRE", "0", ["JWT_ACCESS_TOKEN_EXPIRE", "positive"]),
    ],
)
def test_invalid_values_name_the_variable_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, fragments: list[str]
) -> None:
    variable = variable if variable.startswith("TIGERSEAL_") else "TIGERSEAL_" + variable
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        Settings()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message
    assert variable in message
    if variable.endswith(("ENCRYPTION_MASTER_KEY", "JWT_SECRET", "DATABASE_URL")):
        assert value not in message  # secrets (and URLs with passwords) are never echoed
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_errors_are_config_errors_and_value_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIGERSEAL_JWT_SECRET", "x")
    with pytest.raises(ValueError, match="JWT_SECRET"):
        get_settings()


def test_several_errors_are_reported_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIGERSEAL_JWT_SECRET", "x")
    monkeypatch.setenv("TIGERSEAL_ENCRYPTION_MASTER_KEY", "y")
    with pytest.raises(ConfigError) as info:
        Settings()
    assert "JWT_SECRET" in str(info.value)
    assert "ENCRYPTION_MASTER_KEY" in str(info.value)


@pytest.mark.parametrize(("alias", "name"), [("argon2id", "argon2"), ("PBKDF2", "pbkdf2-sha256")])
def test_hasher_aliases_normalise(monkeypatch: pytest.MonkeyPatch, alias: str, name: str) -> None:
    monkeypatch.setenv("PASSWORD_HASH_ALGORITHM", alias)
    assert Settings().password_hash_algorithm == name


def test_environment_spellings_normalise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "Dev")
    assert Settings().environment == "development"


def test_jwt_algorithm_case_is_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_ALGORITHM", "eddsa")
    assert Settings().jwt_algorithm == "EdDSA"


def test_master_key_is_normalised_to_lowercase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", GOOD_KEY.upper())
    key = Settings().encryption_master_key
    assert key is not None
    assert key.get_secret_value() == GOOD_KEY
