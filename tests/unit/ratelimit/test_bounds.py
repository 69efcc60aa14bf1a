"""Bounded memory storage and namespaced internal keys (issue 12, items 17 and 18)."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tigerseal.errors import ConfigError
from tigerseal.plugins import rate_limit_storage_from_uri
from tigerseal.ratelimit import MemoryRateLimitStorage, ProgressivePenalty, RateLimiter
from tigerseal.ratelimit.storage_keys import MAX_KEY_LENGTH, long_key_digest, strikes_key, user_key
from tigerseal.spi.services import RATE_LIMIT_ALGORITHMS, RateLimitPolicy

from tests.unit.ratelimit.conftest import Clock

ALGORITHMS = list(RATE_LIMIT_ALGORITHMS)


# -- item 18: internal keys cannot be reached from a user key -----------------------------------
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_hits_on_a_look_alike_key_do_not_penalise_the_victim(clock: Clock, algorithm: str) -> None:
    limiter = RateLimiter(
        MemoryRateLimitStorage(clock=clock),
        algorithm=algorithm,  # type: ignore[arg-type]
        default_limit=100,
        penalty=ProgressivePenalty(),
        audit_rejections=False,
    )
    for forged in ("victim\x1fstrikes", "\x1fsvictim", "\x1fs" + "victim"):
        for _ in range(60):
            limiter.hit(forged, 10_000, 3600)
    assert limiter.penalty_level("victim") == 0
    assert limiter.status("victim")["limit"] == 100
    assert sum(limiter.hit("victim") for _ in range(100)) == 100


def test_user_keys_and_internal_keys_never_collide() -> None:
    assert strikes_key("victim") != user_key("victim\x1fstrikes")
    for key in ("", "a", "\x1f", "\x1fs", "\x1fsvictim", "\x1fu\x1fsvictim", "x" * 300):
        assert user_key(key) != strikes_key(key)


@given(st.text(max_size=12), st.text(max_size=12))
def test_the_key_encoding_is_injective(a: str, b: str) -> None:
    encoded = {user_key(a), strikes_key(b)}
    assert len(encoded) == 2
    if a != b:
        assert user_key(a) != user_key(b)
        assert strikes_key(a) != strikes_key(b)


def test_ordinary_keys_are_stored_unchanged() -> None:
    # existing state survives the upgrade: only keys starting with \x1f are re-encoded
    assert user_key("api_key_12345") == "api_key_12345"


# -- item 17: key length --------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_long_key_is_not_stored_whole(clock: Clock, algorithm: str) -> None:
    storage = MemoryRateLimitStorage(clock=clock)
    policy = RateLimitPolicy(2, 60, algorithm)  # type: ignore[arg-type]
    big = "k" * (10 * 1024 * 1024)
    assert storage.acquire(big, policy).allowed
    assert storage.acquire(big, policy).allowed
    assert not storage.acquire(big, policy).allowed  # still limited as one key
    assert storage.acquire(big[:-1] + "j", policy).allowed  # another long key is another key
    assert all(len(k) <= MAX_KEY_LENGTH for k in storage._keys())
    storage.reset(big)
    assert storage.acquire(big, policy).allowed


def test_a_key_of_exactly_the_maximum_is_kept_as_is(clock: Clock) -> None:
    storage = MemoryRateLimitStorage(clock=clock)
    key = "k" * MAX_KEY_LENGTH
    storage.acquire(key, RateLimitPolicy(1, 60))
    assert list(storage._keys()) == [key]


def test_the_limiter_keeps_no_long_key_either(clock: Clock) -> None:
    limiter = RateLimiter(MemoryRateLimitStorage(clock=clock), default_limit=1)
    big = "k" * (1024 * 1024)
    limiter.hit(big, 1, 60)
    limiter.hit(big, 1, 60)
    assert all(len(k) <= MAX_KEY_LENGTH for k in limiter._key_policies)
    assert all(len(k) <= MAX_KEY_LENGTH for k in limiter._audited)


# -- item 17: number of keys ----------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_number_of_keys_is_bounded(clock: Clock, algorithm: str) -> None:
    storage = MemoryRateLimitStorage(clock=clock, max_keys=50, sweep_threshold=10)
    policy = RateLimitPolicy(5, 60, algorithm)  # type: ignore[arg-type]
    for i in range(1000):
        storage.acquire(f"k{i}", policy)
        assert storage.key_count() <= 50
    assert storage.evictions == 950
    # the most recent keys are the ones kept
    assert storage.peek("k999", policy).remaining == 4


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_expired_state_is_evicted_before_live_state(clock: Clock, algorithm: str) -> None:
    storage = MemoryRateLimitStorage(clock=clock, max_keys=20, sweep_threshold=10)
    short = RateLimitPolicy(1, 1, algorithm)  # type: ignore[arg-type]
    long = RateLimitPolicy(1, 3600, algorithm)  # type: ignore[arg-type]
    assert storage.acquire("victim", long).allowed  # the oldest entry, and live
    for i in range(19):
        storage.acquire(f"noise{i}", short)
    clock.advance(5)  # every noise entry has expired; the victim's has not
    for i in range(19):
        storage.acquire(f"fresh{i}", long)
    assert storage.key_count() == 20
    assert not storage.acquire("victim", long).allowed  # still limited: nothing live evicted
    assert storage.evictions == 0  # only expired noise went: no live limit was forgotten


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_recently_used_key_survives_a_flood_of_new_keys(clock: Clock, algorithm: str) -> None:
    storage = MemoryRateLimitStorage(clock=clock, max_keys=100, sweep_threshold=10)
    policy = RateLimitPolicy(3, 3600, algorithm)  # type: ignore[arg-type]
    for _ in range(3):
        assert storage.acquire("victim", policy).allowed
    # the victim keeps trying while an attacker sprays new keys: the victim's state is used
    # more recently than most of the table, so the flood evicts the attacker's own keys
    for i in range(5000):
        storage.acquire(f"spray{i}", policy)
        if i % 50 == 0:
            assert not storage.acquire("victim", policy).allowed
    assert storage.key_count() <= 100


def test_the_first_eviction_is_logged(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    storage = MemoryRateLimitStorage(clock=clock, max_keys=2)
    policy = RateLimitPolicy(1, 60)
    with caplog.at_level(logging.WARNING, logger="tigerseal.ratelimit._memory"):
        for i in range(5):
            storage.acquire(f"k{i}", policy)
    warnings = [r for r in caplog.records if "max_keys=2" in r.getMessage()]
    assert len(warnings) == 1
    assert "redis://" in warnings[0].getMessage()


def test_bounds_from_the_uri_and_their_validation() -> None:
    storage = rate_limit_storage_from_uri("memory://?max_keys=10")
    assert isinstance(storage, MemoryRateLimitStorage)
    assert storage.max_keys == 10
    assert MemoryRateLimitStorage().max_keys == 100_000
    for bad in ("memory://?max_keys=0", "memory://?max_keys=x", "memory://?other=1"):
        with pytest.raises(ConfigError, match="max_keys"):
            rate_limit_storage_from_uri(bad)
    with pytest.raises(ConfigError, match="max_keys"):
        MemoryRateLimitStorage(max_keys=0)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_non_str_key_is_refused_and_cannot_reach_a_long_keys_digest(
    clock: Clock, algorithm: str
) -> None:
    # A long key is held as its 32-byte SHA-256; a bytes key equal to that digest used to
    # share (and exhaust) the long key's limit.
    storage = MemoryRateLimitStorage(clock=clock)
    policy = RateLimitPolicy(3, 60, algorithm)  # type: ignore[arg-type]
    victim = "v" * (MAX_KEY_LENGTH + 1)
    digest = long_key_digest(victim)
    for bad in (digest, 12, ("a",), None):
        with pytest.raises(ConfigError, match="rate-limit key must be a non-empty string"):
            storage.acquire(bad, policy)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="rate-limit key must be a non-empty string"):
            storage.peek(bad, policy)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="rate-limit key must be a non-empty string"):
            storage.reset(bad)  # type: ignore[arg-type]
    assert storage.acquire(victim, policy).remaining == 2
