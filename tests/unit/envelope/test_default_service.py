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


def test_explicit_providers_win(monkeypatch: pytest.MonkeyPatch) -> None:
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
