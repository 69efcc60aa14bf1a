"""get_encryption_service(): which keys it picks from configuration."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from tigerseal.config import reset_settings
from tigerseal.envelope import (
    configured_provider_uris,
    get_encryption_service,
    reset_encryption_service,
)
from tigerseal.errors import ConfigError

VARS = (
    "TIGERSEAL_KEY_PROVIDERS",
    "ENCRYPTION_MASTER_KEY",
    "ENVIRONMENT",
    "TIGERSEAL_KEYRING_PATH",
    "TIGERSEAL_CACHE_ENABLED",
    "TIGERSEAL_ALLOW_DEV_KEYRING",
    "JWT_SECRET",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for v in VARS:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env, keyring in a temp dir
    reset_settings()
    reset_encryption_service()
    yield
    reset_settings()
    reset_encryption_service()


def test_development_default_creates_a_private_keyring(tmp_path: Path) -> None:
    svc = get_encryption_service()
    keyring = tmp_path / ".tigerseal" / "keyring.json"
    assert keyring.exists()
    assert keyring.stat().st_mode & 0o077 == 0
    assert svc.decrypt_to_string(svc.encrypt("x")) == "x"
    assert get_encryption_service() is svc
    # A second process (here: a reset) reuses the same keyring and reads old messages.
    ed = svc.encrypt("kept")
    reset_encryption_service()
    assert get_encryption_service().decrypt_to_string(ed) == "kept"


def test_master_key_variable_selects_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", secrets.token_hex(32))
    assert configured_provider_uris() == ["env://ENCRYPTION_MASTER_KEY"]
    svc = get_encryption_service()
    assert svc.providers[0].scheme == "env"
    assert svc.decrypt(svc.encrypt(b"abc")) == b"abc"


def test_explicit_providers_win(
    monkeypatch: pytest.MonkeyPatch, fake_provider_registered: None
) -> None:
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", secrets.token_hex(32))
    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", "fake://a-default-test  fake://b-default-test")
    monkeypatch.setenv("TIGERSEAL_CACHE_ENABLED", "true")
    svc = get_encryption_service()
    assert [p.scheme for p in svc.providers] == ["fake", "fake"]
    assert svc.cache is not None
    assert len(svc.encrypt(b"x").wrapped_keys) == 2


def test_production_never_creates_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(ConfigError, match="TIGERSEAL_KEY_PROVIDERS"):
        get_encryption_service()
    assert not (tmp_path / ".tigerseal").exists()


def test_unknown_scheme_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", "gcp-kms://projects/x")
    with pytest.raises(ConfigError) as e:
        get_encryption_service()
    assert "gcp-kms" in str(e.value)
    assert "env" in str(e.value)


# -- one rule for "which providers are configured" (service, doctor, rotate) -----------------
@pytest.mark.parametrize(
    "env",
    [
        {},
        {"ENCRYPTION_MASTER_KEY": "k"},
        {"ENCRYPTION_MASTER_KEY": "k", "TIGERSEAL_KEY_PROVIDERS": "env://OTHER file:///x/k.json"},
        {"TIGERSEAL_KEYRING_PATH": "elsewhere/ring.json"},
    ],
)
def test_service_doctor_and_rotate_agree(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    from tigerseal.cli._admin import configured_key_provider_uris
    from tigerseal.cli._keygen import _configured_primary
    from tigerseal.config import get_settings, select_key_providers

    for k, v in env.items():
        monkeypatch.setenv(k, secrets.token_hex(32) if v == "k" else v)
    uris = list(select_key_providers().uris)
    assert configured_provider_uris() == uris
    assert configured_key_provider_uris(get_settings()) == uris
    assert _configured_primary() == uris[0]


def test_dev_keyring_warns_once_naming_the_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tigerseal.envelope import _default as default

    monkeypatch.setattr(default, "_dev_keyring_warned", False)
    with caplog.at_level("WARNING", logger="tigerseal.envelope"):
        svc = get_encryption_service()
        reset_encryption_service()
        get_encryption_service()
        configured_provider_uris()
    assert svc.providers[0].scheme == "file"
    warnings = [r for r in caplog.records if "development keyring" in r.getMessage()]
    assert len(warnings) == 1
    assert str(tmp_path / ".tigerseal" / "keyring.json") in warnings[0].getMessage()
    assert "TIGERSEAL_ALLOW_DEV_KEYRING=false" in warnings[0].getMessage()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ENVIRONMENT", "staging"), ("ENVIRONMENT", "production"),
     ("TIGERSEAL_ALLOW_DEV_KEYRING", "false")],
)  # fmt: skip
def test_dev_keyring_refused_where_it_looks_like_a_deployment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    if value == "production":
        monkeypatch.setenv("JWT_SECRET", secrets.token_urlsafe(48))
    with pytest.raises(ConfigError, match="ENCRYPTION_MASTER_KEY") as e:
        get_encryption_service()
    assert value in str(e.value)
    assert not (tmp_path / ".tigerseal").exists()
    # An existing keyring file is refused as well: the fallback itself is off.
    monkeypatch.setenv("TIGERSEAL_KEYRING_PATH", str(tmp_path / "ring.json"))
    from tigerseal.providers.file import create_keyring

    create_keyring(tmp_path / "ring.json")
    reset_settings()
    with pytest.raises(ConfigError):
        configured_provider_uris()


def test_explicit_dev_keyring_opt_out_keeps_configured_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TIGERSEAL_ALLOW_DEV_KEYRING", "false")
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", secrets.token_hex(32))
    assert configured_provider_uris() == ["env://ENCRYPTION_MASTER_KEY"]


@pytest.mark.parametrize("environment", ["development", "test", "staging", "production", "prod"])
def test_fake_provider_follows_the_dev_keyring_deployment_rule(
    monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    """fake:// and the development keyring are refused in exactly the same environments."""
    from tigerseal.config import select_key_providers

    monkeypatch.setenv("ENVIRONMENT", environment)
    if environment.startswith("prod"):
        monkeypatch.setenv("JWT_SECRET", secrets.token_urlsafe(48))
    reset_settings()
    dev_keyring_refused = False
    try:
        select_key_providers()  # nothing configured: the development keyring or a refusal
    except ConfigError:
        dev_keyring_refused = True
    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", "env://X fake://deployed")
    reset_settings()
    if dev_keyring_refused:
        with pytest.raises(ConfigError, match="fake://") as e:
            select_key_providers()
        assert "never use it in production or staging" in str(e.value)
    else:
        assert select_key_providers().uris == ("env://X", "fake://deployed")
    assert dev_keyring_refused == (environment in ("staging", "production", "prod"))


def test_explicit_settings_master_key_not_in_the_environment() -> None:
    """get_encryption_service(settings) with a master key only in the settings (a framework's
    config: Django's settings.TIGERSEAL, Flask's app.config): the environment has none."""
    from tigerseal.config import Settings

    key = secrets.token_hex(32)
    service = get_encryption_service(Settings(encryption_master_key=key))
    message = service.encrypt("from explicit settings", {"a": "b"})
    again = get_encryption_service(Settings(encryption_master_key=key))
    assert again.decrypt_to_string(message, {"a": "b"}) == "from explicit settings"
