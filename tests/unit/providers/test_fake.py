"""The fake:// provider's test controls: shared keys, pinned versions, faults, call counts."""

from __future__ import annotations

import secrets

import pytest
from tigerseal.errors import ConfigError, DecryptionError, KeyVersionRetired, ProviderUnavailable
from tigerseal.plugins import key_provider_from_uri
from tigerseal.testing import FakeKeyProvider, reset_fake_keys
from tigerseal.testing.fake import from_uri


@pytest.fixture
def name() -> str:
    return f"t-{secrets.token_hex(4)}"


def test_same_name_shares_keys_other_name_does_not(name: str) -> None:
    one, two, stranger = FakeKeyProvider(name), FakeKeyProvider(name), FakeKeyProvider(name + "x")
    wrapped = one.wrap(b"k" * 32, {"a": "1"})
    assert two.unwrap(wrapped, {"a": "1"}) == b"k" * 32
    with pytest.raises(DecryptionError):
        stranger.unwrap(wrapped, {"a": "1"})


def test_rotation_is_shared_and_pins_lag(name: str) -> None:
    follower = FakeKeyProvider(name)
    pinned = from_uri(f"fake://{name}?version=1")
    new = FakeKeyProvider(name).rotate()
    assert new == 2
    assert follower.key_version == 2
    assert pinned.key_version == 1  # a host that has not picked up the rotation yet
    assert pinned.uri == f"fake://{name}?version=1"
    wrapped = follower.wrap(b"k" * 32, {})
    assert pinned.unwrap(wrapped, {}) == b"k" * 32


def test_version_query_creates_versions(name: str) -> None:
    provider = from_uri(f"fake://{name}?version=3")
    assert provider.key_version == 3
    assert FakeKeyProvider(name).key_version == 3


def test_retire_and_min_version_query(name: str) -> None:
    provider = FakeKeyProvider(name)
    old = provider.wrap(b"k" * 32, {})
    provider.rotate()
    strict = from_uri(f"fake://{name}?min_version=2")
    assert strict.calls == {}
    with pytest.raises(KeyVersionRetired):
        provider.unwrap(old, {})
    with pytest.raises(ConfigError):
        provider.retire_below(5)


def test_fail_next_counts_and_scopes(name: str) -> None:
    provider = FakeKeyProvider(name)
    provider.fail_next(ProviderUnavailable("KMS is down"), times=2)
    for _ in range(2):
        with pytest.raises(ProviderUnavailable, match="KMS is down"):
            provider.wrap(b"k" * 32, {})
    wrapped = provider.wrap(b"k" * 32, {})
    provider.fail_next(TimeoutError, operation="unwrap")
    assert provider.generate_data_key({}).wrapped.key_version == 1  # other ops unaffected
    with pytest.raises(TimeoutError):
        provider.unwrap(wrapped, {})
    assert provider.unwrap(wrapped, {}) == b"k" * 32
    assert provider.calls == {"wrap": 3, "generate": 1, "unwrap": 2}
    provider.fail_next(ProviderUnavailable("down"))
    provider.clear_faults()
    assert provider.unwrap_many([(wrapped, {})]) == [b"k" * 32]
    assert provider.calls["unwrap_many"] == 1
    assert provider.calls["unwrap"] == 2  # batches count once, under their own name
    with pytest.raises(ValueError, match="times"):
        provider.fail_next(ProviderUnavailable("x"), times=0)


def test_health_check_reports_injected_fault(name: str) -> None:
    provider = FakeKeyProvider(name)
    provider.fail_next(ProviderUnavailable("sealed"), operation="health_check")
    status = provider.health_check()
    assert not status.ok
    assert "sealed" in status.detail
    assert provider.health_check().ok


def test_close_makes_it_unavailable(name: str) -> None:
    provider = FakeKeyProvider(name)
    with provider:
        pass
    with pytest.raises(ProviderUnavailable, match="closed"):
        provider.wrap(b"k" * 32, {})


def test_latency_option(name: str) -> None:
    provider = from_uri(f"fake://{name}?latency_ms=5")
    assert provider.latency == 0.005
    assert from_uri(f"fake://{name}", latency=0.25).latency == 0.25


@pytest.mark.parametrize(
    "uri",
    [
        "fake://bad name",
        "fake://x?version=0",
        "fake://x?version=two",
        "fake://x?binds_context=maybe",
        "fake://x?nope=1",
        "fake://x?latency_ms=-5",
        "env://x",
    ],
)
def test_bad_uris(uri: str) -> None:
    with pytest.raises(ConfigError):
        from_uri(uri)


def test_unknown_keyword_option() -> None:
    with pytest.raises(ConfigError, match="colour"):
        from_uri("fake://x", colour="red")


def test_not_built_in_opt_in_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """fake:// keeps keys in memory: a fresh registry must not know it (issue 11 item 7)."""
    from tigerseal.errors import UnknownProviderError
    from tigerseal.plugins import PluginRegistry, set_registry
    from tigerseal.testing import register_fake_provider, unregister_fake_provider

    registry = PluginRegistry()
    previous = set_registry(registry)
    try:
        with pytest.raises(UnknownProviderError, match="register_fake_provider"):
            key_provider_from_uri("fake://not-registered")
        assert "fake" not in registry.builtin_specs("register_key_providers")
        assert register_fake_provider() is True
        assert register_fake_provider() is False  # idempotent
        assert isinstance(key_provider_from_uri("fake://now-registered"), FakeKeyProvider)
        unregister_fake_provider()
        with pytest.raises(UnknownProviderError):
            key_provider_from_uri("fake://not-registered")
    finally:
        set_registry(previous)


def test_refused_in_production(
    monkeypatch: pytest.MonkeyPatch, fake_provider_registered: None
) -> None:
    from tigerseal.config import reset_settings

    monkeypatch.setenv("ENVIRONMENT", "production")
    reset_settings()
    try:
        with pytest.raises(ConfigError, match="never use it in production"):
            key_provider_from_uri("fake://prod")
    finally:
        monkeypatch.delenv("ENVIRONMENT")
        reset_settings()


def test_registered_by_fixture_and_default_name(name: str, fake_provider_registered: None) -> None:
    provider = key_provider_from_uri(f"fake://{name}?binds_context=0")
    assert isinstance(provider, FakeKeyProvider)
    assert not provider.binds_context
    assert provider.uri == f"fake://{name}?binds_context=0"
    assert from_uri("fake://").key_id == "default"


def test_reset_fake_keys(name: str) -> None:
    wrapped = FakeKeyProvider(name).wrap(b"k" * 32, {})
    reset_fake_keys(name)
    with pytest.raises(DecryptionError):
        FakeKeyProvider(name).unwrap(wrapped, {})


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_from_uri_refused_where_it_looks_like_a_deployment(
    monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    """The same rule as the development keyring: staging is a deployment too."""
    from tigerseal.config import reset_settings

    monkeypatch.setenv("ENVIRONMENT", environment)
    reset_settings()
    try:
        with pytest.raises(ConfigError, match="never use it in production or staging"):
            from_uri("fake://deployed")
    finally:
        monkeypatch.delenv("ENVIRONMENT")
        reset_settings()
