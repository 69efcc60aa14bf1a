"""tigerseal inside a host application: its own TIGERSEAL_ names, lenient seed fallbacks.

Issue 13.1: the host's generic ENVIRONMENT, DATABASE_URL, JWT_SECRET and the working
directory's .env must not stop a call that does not need them.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tigerseal.config import Settings, get_database_config, get_settings
from tigerseal.errors import ConfigError, DecryptionError

GOOD_KEY = "a3f1" + secrets.token_hex(30)
OTHER_KEY = "b7c2" + secrets.token_hex(30)


# -- names: TIGERSEAL_ first, the seed's name as a fallback -----------------------------------
def test_tigerseal_name_wins_over_the_seed_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("TIGERSEAL_ENVIRONMENT", "test")
    monkeypatch.setenv("PBKDF2_ITERATIONS", "100000")
    monkeypatch.setenv("TIGERSEAL_PBKDF2_ITERATIONS", "200000")
    s = Settings()
    assert (s.environment, s.pbkdf2_iterations) == ("test", 200_000)
    assert s.variable_for("environment") == "TIGERSEAL_ENVIRONMENT"


def test_seed_names_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", GOOD_KEY)
    monkeypatch.setenv("PASSWORD_HASH_ALGORITHM", "bcrypt")
    s = Settings()
    assert s.encryption_master_key is not None
    assert s.encryption_master_key.get_secret_value() == GOOD_KEY
    assert s.password_hash_algorithm == "bcrypt"
    assert s.variable_for("encryption_master_key") == "ENCRYPTION_MASTER_KEY"


def test_prefixed_master_key_selects_its_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from tigerseal.config import select_key_providers

    monkeypatch.setenv("TIGERSEAL_ENCRYPTION_MASTER_KEY", GOOD_KEY)
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", OTHER_KEY)
    selection = select_key_providers()
    assert selection.uris == ("env://TIGERSEAL_ENCRYPTION_MASTER_KEY",)


# -- ENVIRONMENT: TIGERSEAL_ strict, the host's lenient -----------------------------------------
def test_unknown_host_environment_does_not_stop_hash_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tigerseal.passwords import hash_password, verify_password

    monkeypatch.setenv("ENVIRONMENT", "uat")
    stored = hash_password("correct horse battery staple")
    assert verify_password("correct horse battery staple", stored)


@pytest.mark.parametrize(
    ("value", "meant"),
    [("uat", "staging"), ("qa", "staging"), ("preprod", "staging"), ("prodution", "production")],
)
def test_unknown_host_environment_rule(
    monkeypatch: pytest.MonkeyPatch, value: str, meant: str
) -> None:
    from tigerseal.config import current_environment, looks_like_deployment

    monkeypatch.setenv("ENVIRONMENT", value)
    if meant == "production":
        monkeypatch.setenv("ENCRYPTION_MASTER_KEY", GOOD_KEY)
        monkeypatch.setenv("JWT_SECRET", secrets.token_urlsafe(48))
    assert current_environment() == meant
    assert Settings().environment == meant
    assert looks_like_deployment()  # an unknown deployment: no development keyring, no fake://


def test_unknown_host_environment_refuses_the_development_keyring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tigerseal import get_encryption_service

    monkeypatch.setenv("ENVIRONMENT", "uat")
    with pytest.raises(ConfigError, match="required in staging"):
        get_encryption_service()


def test_tigerseal_environment_is_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIGERSEAL_ENVIRONMENT", "uat")
    with pytest.raises(ConfigError, match="TIGERSEAL_ENVIRONMENT: must be one of"):
        Settings()


# -- a host variable that is invalid for tigerseal fails only the calls that need it -------------
def test_malformed_database_url_does_not_break_encrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    from tigerseal import get_encryption_service

    monkeypatch.setenv("DATABASE_URL", "garbage")
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", GOOD_KEY)
    service = get_encryption_service()
    assert service.decrypt_to_string(service.encrypt("x")) == "x"
    get_settings()  # builds
    with pytest.raises(ConfigError) as info:
        get_database_config()
    message = str(info.value)
    assert "DATABASE_URL: is not a database URL" in message
    assert "TIGERSEAL_DATABASE_URL" in message  # says how to give tigerseal its own
    assert "garbage" not in message


def test_host_jwt_secret_fails_only_token_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    from tigerseal.passwords import hash_password
    from tigerseal.tokens import create_jwt_token

    monkeypatch.setenv("JWT_SECRET", "host-short")
    assert hash_password("correct horse battery staple").startswith("$argon2id$")
    with pytest.raises(ConfigError) as info:
        create_jwt_token("alice")
    assert "JWT_SECRET: must be at least 32 characters" in str(info.value)
    assert "host-short" not in str(info.value)


def test_prefixed_value_wins_over_an_invalid_host_value(monkeypatch: pytest.MonkeyPatch) -> None:
    from tigerseal.tokens import create_jwt_token, verify_jwt_token

    monkeypatch.setenv("JWT_SECRET", "host-short")
    monkeypatch.setenv("TIGERSEAL_JWT_SECRET", secrets.token_urlsafe(48))
    assert verify_jwt_token(create_jwt_token("alice")).sub == "alice"


def test_malformed_seed_master_key_is_an_error_not_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from tigerseal import get_encryption_service

    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", "abc123")
    Settings()  # the settings build ...
    with pytest.raises(ConfigError, match="ENCRYPTION_MASTER_KEY: must be exactly 64 hex"):
        get_encryption_service()  # ... but encryption never falls back to the dev keyring
    assert not Path(".tigerseal").exists()


def test_prefixed_invalid_value_is_refused_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIGERSEAL_DATABASE_URL", "garbage")
    with pytest.raises(ConfigError, match="TIGERSEAL_DATABASE_URL: is not a database URL"):
        Settings()


# -- .env: explicit only --------------------------------------------------------------------------
def test_dotenv_in_cwd_is_not_read(clean_env: Path) -> None:
    (clean_env / ".env").write_text(f"ENCRYPTION_MASTER_KEY={GOOD_KEY}\nENVIRONMENT=bogus\n")
    s = Settings()
    assert s.encryption_master_key is None
    assert s.environment == "development"


def test_env_file_by_setting_and_by_argument(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = clean_env / "app.env"
    path.write_text(f"TIGERSEAL_ENCRYPTION_MASTER_KEY={GOOD_KEY}\n")
    key = Settings(_env_file=path).encryption_master_key
    assert key is not None
    assert key.get_secret_value() == GOOD_KEY
    monkeypatch.setenv("TIGERSEAL_ENV_FILE", str(path))
    assert Settings().encryption_master_key is not None
    monkeypatch.setenv("TIGERSEAL_ENCRYPTION_MASTER_KEY", OTHER_KEY)  # the environment wins
    key = Settings().encryption_master_key
    assert key is not None
    assert key.get_secret_value() == OTHER_KEY


def test_named_env_file_that_is_missing_is_an_error(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIGERSEAL_ENV_FILE", str(clean_env / "missing.env"))
    with pytest.raises(ConfigError, match="does not exist"):
        Settings()


# -- explicit Settings everywhere --------------------------------------------------------------
def test_explicit_settings_are_used_instead_of_the_environment(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tigerseal import get_encryption_service, get_security_service
    from tigerseal.audit import get_auditor
    from tigerseal.passwords import get_password_context
    from tigerseal.ratelimit import get_rate_limiter
    from tigerseal.tokens import get_token_manager

    monkeypatch.setenv("TIGERSEAL_ENCRYPTION_MASTER_KEY", GOOD_KEY)
    mine = Settings(
        _environ={},
        encryption_master_key=OTHER_KEY,
        jwt_secret=secrets.token_urlsafe(48),
        password_hash_algorithm="bcrypt",
        default_rate_limit_hour=7,
        audit_sinks=f"file://{clean_env}/mine.jsonl",
        environment="test",
    )
    service = get_encryption_service(settings=mine)
    message = service.encrypt("x")
    assert service.decrypt_to_string(message) == "x"
    assert service is not get_encryption_service(settings=mine)  # not cached
    with pytest.raises(DecryptionError):  # the process default has the environment's key
        get_encryption_service().decrypt(message)
    assert get_password_context(settings=mine).default.name == "bcrypt"
    assert get_rate_limiter(settings=mine).default_policy.limit == 7
    manager = get_token_manager(settings=mine)
    assert manager.verify(manager.create("alice")).sub == "alice"
    auditor = get_auditor(settings=mine)
    auditor.log("authn_login_success", user_id="alice")
    auditor.close()
    assert (clean_env / "mine.jsonl").exists()
    security = get_security_service(settings=mine)
    assert security.hash_password("correct horse battery staple").startswith("$2b$")
    assert security.rate_limiter.default_policy.limit == 7


# -- logging ----------------------------------------------------------------------------------
def test_configure_logging_leaves_the_root_logger_alone() -> None:
    from tigerseal import configure_logging

    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    tigerseal_logger = logging.getLogger("tigerseal")
    stream = io.StringIO()
    handler = configure_logging("DEBUG", stream=stream)
    try:
        assert (list(root.handlers), root.level) == before
        assert handler in tigerseal_logger.handlers
        token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig"
        logging.getLogger("tigerseal.test").debug("token %s", token)
        assert "tigerseal.test: " in stream.getvalue()
        assert token not in stream.getvalue()
    finally:
        tigerseal_logger.removeHandler(handler)
        tigerseal_logger.setLevel(logging.NOTSET)


def test_configure_logging_root_when_asked() -> None:
    from tigerseal import configure_logging

    root = logging.getLogger()
    level = root.level
    handler = configure_logging("INFO", stream=io.StringIO(), root=True)
    try:
        assert handler in root.handlers
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


# -- a host application, in its own process ------------------------------------------------------
HOST_APP = textwrap.dedent(
    """
    import logging, sys
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="HOST %(message)s")
    from tigerseal import configure_logging, get_encryption_service
    from tigerseal.passwords import hash_password, verify_password

    stored = hash_password("correct horse battery staple")
    assert verify_password("correct horse battery staple", stored)
    service = get_encryption_service()
    assert service.decrypt_to_string(service.encrypt("card")) == "card"
    configure_logging("INFO")
    root = logging.getLogger()
    assert len(root.handlers) == 1 and root.level == logging.WARNING, root.handlers
    print("OK", *service.encrypt("x").key_versions)
    """
)


def test_host_app_with_generic_variables_and_a_garbage_dotenv(tmp_path: Path) -> None:
    app_dir = tmp_path / "host"
    app_dir.mkdir()
    (app_dir / ".env").write_text(
        "this is not a dotenv file\nENVIRONMENT=production\nPBKDF2_ITERATIONS=many\n"
        "TIGERSEAL_KEY_PROVIDERS=vault://transit/nowhere\n\x00\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIGERSEAL_")}
    for name in ("ENCRYPTION_MASTER_KEY", "PASSWORD_HASH_ALGORITHM", "PBKDF2_ITERATIONS"):
        env.pop(name, None)
    env.update(
        ENVIRONMENT="uat",
        DATABASE_URL="garbage",
        JWT_SECRET="the-host-app's-own-secret",
        TIGERSEAL_ENCRYPTION_MASTER_KEY=GOOD_KEY,
    )
    result = subprocess.run(
        [sys.executable, "-c", HOST_APP],
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "OK env:TIGERSEAL_ENCRYPTION_MASTER_KEY" in result.stdout
    # The one warning about ENVIRONMENT=uat reached the host's own root handler.
    assert "ENVIRONMENT=uat is not an environment tigerseal knows" in result.stdout
    assert sorted(p.name for p in app_dir.iterdir()) == [".env"]  # no keyring, no audit file


def test_every_setting_is_read_from_its_tigerseal_name() -> None:
    # One rule for every field, new ones included: the alias is TIGERSEAL_<FIELD>, which is
    # the name the resolver reads (a field with another alias would silently never be set).
    from tigerseal.config import variable_names

    for name, info in Settings.model_fields.items():
        assert info.validation_alias == variable_names(name)[0] == f"TIGERSEAL_{name.upper()}"
