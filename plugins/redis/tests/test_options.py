"""URI parsing, registration and key naming: no Redis server needed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tigerseal.errors import ConfigError
from tigerseal.plugins import PluginRegistry, rate_limit_storage_from_uri, set_registry
from tigerseal_redis._options import parse_uri, redact
from tigerseal_redis._scripts import SCRIPTS
from tigerseal_redis.revocation import RedisRevocationStore
from tigerseal_redis.storage import RedisRateLimitStorage, hash_tag


def test_tigerseal_options_are_removed_before_redis_py_sees_the_url() -> None:
    opts = parse_uri(
        "redis://:s3cret@10.0.0.5:6380/2?on_outage=fail_open&retry_interval=0.25"
        "&key_prefix=app:&socket_timeout=0.1",
        default_on_outage="local",
    )
    assert opts.on_outage == "fail_open"
    assert opts.retry_interval == 0.25
    assert opts.key_prefix == "app:"
    assert "on_outage" not in opts.url
    assert "socket_timeout=0.1" in opts.url
    assert opts.display == "redis://10.0.0.5:6380/2"
    assert "s3cret" not in repr(opts)


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("redis://h?on_outage=explode", "unknown outage policy"),
        ("redis://h?retry_interval=soon", "retry_interval must be a duration"),
        ("redis://h?retry_interval=-1", "retry_interval must be a duration"),
        ("redis://h?cluster=maybe", "cluster must be 1 or 0"),
        ("redis://h?on_outage=local&on_outage=local", "given twice"),
        ("redis://h?key_prefix=a{b", "braces"),
        ("memcached://h", "expected a URI starting redis://"),
        ("redis+sentinel://h:26379/svc?cluster=1", "cannot be combined"),
    ],
)
def test_bad_uris_are_config_errors_that_say_what_to_do(uri: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_uri(uri, default_on_outage="local")


def test_unknown_keyword_option_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"'on_outrage'\. Did you mean 'on_outage'"):
        parse_uri("redis://h", default_on_outage="local", on_outrage="local")


def test_policy_precedence_uri_or_option_then_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TIGERSEAL_REDIS_ON_OUTAGE", "fail-open")
    assert parse_uri("redis://h", default_on_outage="local").on_outage == "fail_open"
    assert parse_uri("redis://h", default_on_outage="local", on_outage="local").on_outage == "local"
    # The one precedence rule: URI and keyword must agree (was: the URI won silently).
    assert (
        parse_uri(
            "redis://h?on_outage=fail-closed", default_on_outage="local", on_outage="fail_closed"
        )
    ).on_outage == "fail_closed"
    with pytest.raises(ConfigError, match="'on_outage' is given both in the URI and in code"):
        parse_uri("redis://h?on_outage=fail_closed", default_on_outage="local", on_outage="local")
    monkeypatch.setenv("TIGERSEAL_REDIS_ON_OUTAGE", "sometimes")
    with pytest.raises(ConfigError, match="TIGERSEAL_REDIS_ON_OUTAGE"):
        parse_uri("redis://h", default_on_outage="local")


def test_redact_hides_the_password() -> None:
    assert redact("redis://user:pw@host:1/0") == "redis://user:***@host:1/0"
    assert redact("redis://host:1/0") == "redis://host:1/0"


def test_hash_tag_keeps_every_key_of_a_limit_on_one_slot() -> None:
    from redis.crc import key_slot

    for key in ["api_key_1", "a}b", "}x", "{x}", "%7B", "ü"]:
        tag = hash_tag(key)
        slots = {key_slot(f"p:{tag}:{alg}".encode()) for alg in SCRIPTS}
        assert len(slots) == 1, key
    # injective: escaping cannot make two keys collide
    assert hash_tag("{") != hash_tag("%7B")
    with pytest.raises(ConfigError):
        hash_tag("")


@pytest.fixture
def registry() -> object:
    previous = set_registry(PluginRegistry())
    yield
    set_registry(previous)


@pytest.mark.usefixtures("registry")
@pytest.mark.parametrize(
    "uri",
    [
        "redis://127.0.0.1:1/0?on_outage=fail_closed",
        "rediss://127.0.0.1:1/0?on_outage=fail_closed",
        "redis+sentinel://127.0.0.1:1/mymaster/0?on_outage=fail_closed",
    ],
)
def test_schemes_resolve_through_the_entry_point(uri: str) -> None:
    storage = rate_limit_storage_from_uri(uri)
    assert isinstance(storage, RedisRateLimitStorage)
    assert "127.0.0.1" in repr(storage)
    storage.close()


@pytest.mark.usefixtures("registry")
def test_revocation_store_resolves_and_defaults_to_fail_closed() -> None:
    from tigerseal.plugins import revocation_store_from_uri

    store = revocation_store_from_uri("redis://127.0.0.1:1/0")
    assert isinstance(store, RedisRevocationStore)
    assert store.on_outage == "fail_closed"
    store.close()


def test_rate_limit_storage_defaults_to_local(registry: object) -> None:
    storage = rate_limit_storage_from_uri("redis://127.0.0.1:1/0")
    assert storage.on_outage == "local"  # type: ignore[attr-defined]


def test_sentinel_uri_needs_a_service_name() -> None:
    from tigerseal_redis._options import build_client

    with pytest.raises(ConfigError, match="names no service"):
        build_client(parse_uri("redis+sentinel://127.0.0.1:26379", default_on_outage="local"))


# Every code point, lone surrogates ("\udcff", from surrogateescape-decoded requests) included.
_ANY = st.text(st.characters(exclude_categories=()), min_size=1, max_size=40)


@given(_ANY, _ANY)
def test_hash_tag_is_injective_and_always_sendable(a: str, b: str) -> None:
    assert (hash_tag(a) == hash_tag(b)) == (a == b)
    for key in (a, b, a + "\udcff", "%u" + b):
        tag = hash_tag(key).encode()  # a lone surrogate raised UnicodeEncodeError here
        assert tag.count(b"{") == 1
        assert tag.count(b"}") == 1
    assert hash_tag("\udcff") != hash_tag("%uDCFF")
