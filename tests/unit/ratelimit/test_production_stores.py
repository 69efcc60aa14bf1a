"""memory:// stores in production need an explicit single-process opt-in (issue 12, item 12)."""

from __future__ import annotations

import secrets

import pytest
from tigerseal.config import reset_settings
from tigerseal.errors import ConfigError
from tigerseal.plugins import rate_limit_storage_from_uri, revocation_store_from_uri
from tigerseal.ratelimit import MemoryRateLimitStorage, RateLimiter, verify_rate_limit
from tigerseal.tokens._revocation import MemoryRevocationStore


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", secrets.token_hex(32))
    monkeypatch.setenv("JWT_SECRET", secrets.token_urlsafe(48))
    # The package's fake:// key is refused in production (issue 11 item 7): use the env key.
    monkeypatch.delenv("TIGERSEAL_KEY_PROVIDERS", raising=False)
    monkeypatch.delenv("TIGERSEAL_SINGLE_PROCESS", raising=False)
    monkeypatch.delenv("TIGERSEAL_REVOCATION_STORE", raising=False)
    reset_settings()


def test_the_implicit_memory_rate_limit_storage_is_refused(production: None) -> None:
    with pytest.raises(ConfigError) as info:
        RateLimiter()
    message = str(info.value)
    assert "TIGERSEAL_RATE_LIMIT_STORAGE=redis://" in message
    assert "TIGERSEAL_SINGLE_PROCESS=true" in message
    assert "worker" in message
    with pytest.raises(ConfigError, match="TIGERSEAL_RATE_LIMIT_STORAGE"):
        verify_rate_limit("api_key_12345", 10, 60)


def test_an_explicit_memory_uri_is_refused_too(
    production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIGERSEAL_RATE_LIMIT_STORAGE", "memory://?max_keys=10")
    reset_settings()
    with pytest.raises(ConfigError, match="TIGERSEAL_SINGLE_PROCESS"):
        RateLimiter()
    with pytest.raises(ConfigError, match="TIGERSEAL_SINGLE_PROCESS"):
        rate_limit_storage_from_uri("memory://")


def test_the_memory_revocation_store_is_refused(production: None) -> None:
    with pytest.raises(ConfigError) as info:
        revocation_store_from_uri("memory://")
    message = str(info.value)
    assert "TIGERSEAL_REVOCATION_STORE=redis://" in message
    assert "TIGERSEAL_SINGLE_PROCESS=true" in message
    assert "refresh token" in message
    from tigerseal.tokens._default import get_token_manager, set_token_manager

    set_token_manager(None)
    try:
        with pytest.raises(ConfigError, match="TIGERSEAL_REVOCATION_STORE"):
            get_token_manager()
    finally:
        set_token_manager(None)


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_single_process_opt_in_allows_both(
    production: None, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TIGERSEAL_SINGLE_PROCESS", value)
    reset_settings()
    assert isinstance(RateLimiter().storage, MemoryRateLimitStorage)
    assert verify_rate_limit("api_key_12345", 1, 60)
    assert not verify_rate_limit("api_key_12345", 1, 60)
    assert isinstance(revocation_store_from_uri("memory://"), MemoryRevocationStore)


def test_a_bad_opt_in_value_is_a_config_error(
    production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIGERSEAL_SINGLE_PROCESS", "maybe")
    reset_settings()
    with pytest.raises(ConfigError, match="TIGERSEAL_SINGLE_PROCESS"):
        RateLimiter()


def test_code_that_builds_a_memory_store_itself_has_chosen_it(production: None) -> None:
    # An application constructing the class in code has made the choice explicitly.
    limiter = RateLimiter(MemoryRateLimitStorage())
    assert limiter.hit("k", 1, 60)
    assert MemoryRevocationStore().mark_used("jti", 2e9)


def test_outside_production_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    for environment in ("development", "test", "staging"):
        monkeypatch.setenv("ENVIRONMENT", environment)
        reset_settings()
        assert isinstance(RateLimiter().storage, MemoryRateLimitStorage)
        assert isinstance(revocation_store_from_uri("memory://"), MemoryRevocationStore)


def test_doctor_reports_memory_stores_in_production(
    production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from click.testing import CliRunner
    from tigerseal.cli import cli

    result = CliRunner().invoke(cli, ["doctor", "--json"])
    report = json.loads(result.stdout)
    failed = {c["name"]: c["detail"] for c in report["checks"] if not c["ok"]}
    assert "TIGERSEAL_RATE_LIMIT_STORAGE=redis://" in failed["TIGERSEAL_RATE_LIMIT_STORAGE"]
    assert "TIGERSEAL_SINGLE_PROCESS=true" in failed["TIGERSEAL_REVOCATION_STORE"]
    assert result.exit_code == 1
    monkeypatch.setenv("TIGERSEAL_SINGLE_PROCESS", "true")
    reset_settings()
    report = json.loads(CliRunner().invoke(cli, ["doctor", "--json"]).stdout)
    names = {c["name"] for c in report["checks"] if not c["ok"]}
    assert not names & {"TIGERSEAL_RATE_LIMIT_STORAGE", "TIGERSEAL_REVOCATION_STORE"}
