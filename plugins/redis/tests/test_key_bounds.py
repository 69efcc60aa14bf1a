"""Namespaced internal keys and bounded key length on a real Redis (issue 12, items 17, 18)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tigerseal.errors import ConfigError
from tigerseal.ratelimit import ProgressivePenalty, RateLimiter
from tigerseal.ratelimit.storage_keys import MAX_KEY_LENGTH
from tigerseal.spi.services import RATE_LIMIT_ALGORITHMS, RateLimitPolicy
from tigerseal_redis.storage import RedisRateLimitStorage, from_uri

from tests.services.redis import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.redis]


@pytest.fixture
def storage(redis_url: str, closing: Callable[[Any], Any]) -> RedisRateLimitStorage:
    return closing(from_uri(redis_url, on_outage="fail_closed"))  # type: ignore[no-any-return]


@pytest.mark.parametrize("algorithm", RATE_LIMIT_ALGORITHMS)
def test_hits_on_a_look_alike_key_do_not_penalise_the_victim(
    storage: RedisRateLimitStorage, algorithm: str
) -> None:
    limiter = RateLimiter(
        storage,
        algorithm=algorithm,  # type: ignore[arg-type]
        default_limit=100,
        penalty=ProgressivePenalty(),
        audit_rejections=False,
    )
    for forged in ("victim\x1fstrikes", "\x1fsvictim"):
        for _ in range(45):
            limiter.hit(forged, 10_000, 3600)
    assert limiter.penalty_level("victim") == 0
    assert limiter.status("victim")["limit"] == 100


def test_penalties_still_work_and_live_under_their_own_keys(
    storage: RedisRateLimitStorage, redis_server: RedisServer
) -> None:
    limiter = RateLimiter(
        storage,
        algorithm="sliding_window_counter",
        default_limit=100,
        penalty=ProgressivePenalty(strikes_per_level=2),
        audit_rejections=False,
    )
    assert sum(limiter.hit("abuser", 3, 3600) for _ in range(5)) == 3
    assert limiter.penalty_level("abuser") == 1
    client = redis_server.client()
    try:
        keys = sorted(k.decode("utf-8", "replace") for k in client.scan_iter("tigerseal:rl:*"))
    finally:
        client.close()
    assert keys == sorted(
        [
            "tigerseal:rl:{abuser}:sliding_window_counter",
            "tigerseal:rl:{\x1fsabuser}:sliding_window_counter",
        ]
    )
    limiter.reset("abuser")
    assert limiter.penalty_level("abuser") == 0


@pytest.mark.parametrize("algorithm", RATE_LIMIT_ALGORITHMS)
def test_a_long_key_is_stored_as_its_digest(
    storage: RedisRateLimitStorage, redis_server: RedisServer, algorithm: str
) -> None:
    policy = RateLimitPolicy(2, 60, algorithm)  # type: ignore[arg-type]
    big = "k" * (1024 * 1024)
    assert storage.acquire(big, policy).allowed
    assert storage.acquire(big, policy).allowed
    assert not storage.acquire(big, policy).allowed
    assert storage.acquire(big[:-1] + "j", policy).allowed  # another long key, another limit
    exact = "e" * MAX_KEY_LENGTH
    assert storage.acquire(exact, policy).allowed
    client = redis_server.client()
    try:
        keys = [k.decode() for k in client.scan_iter("tigerseal:rl:*")]
    finally:
        client.close()
    assert len(keys) == 3
    assert all(len(k) < MAX_KEY_LENGTH + 64 for k in keys)
    assert f"tigerseal:rl:{{{exact}}}:{algorithm}" in keys
    storage.reset(big)
    assert storage.acquire(big, policy).allowed


def test_a_digest_tag_cannot_be_forged_by_a_short_key(storage: RedisRateLimitStorage) -> None:
    from tigerseal.ratelimit.storage_keys import long_key_digest
    from tigerseal_redis.storage import hash_tag

    big = "k" * 1000
    forged = "%h" + long_key_digest(big).hex()
    assert hash_tag(forged) != hash_tag(big)
    policy = RateLimitPolicy(1, 60)
    assert storage.acquire(big, policy).allowed
    assert storage.acquire(forged, policy).allowed


def test_a_non_str_key_is_a_config_error(storage: RedisRateLimitStorage) -> None:
    # Same rule and message as memory://: a bytes key was a TypeError deep in hash_tag.
    policy = RateLimitPolicy(3, 60)
    for bad in (b"victim", 12, ""):
        with pytest.raises(ConfigError, match="rate-limit key must be a non-empty string"):
            storage.acquire(bad, policy)  # type: ignore[arg-type]


@pytest.mark.parametrize("algorithm", RATE_LIMIT_ALGORITHMS)
def test_a_key_with_a_lone_surrogate_is_limited_like_memory(
    storage: RedisRateLimitStorage, algorithm: str
) -> None:
    # Frameworks decode undecodable request bytes with surrogateescape ("\udcff"); such a key
    # raised UnicodeEncodeError in Redis (memory:// limits it), and must not share a limit
    # with another key.
    policy = RateLimitPolicy(2, 60, algorithm)  # type: ignore[arg-type]
    limiter = RateLimiter(storage, algorithm=algorithm, default_limit=2, audit_rejections=False)  # type: ignore[arg-type]
    for key in ("ip-\udcff", "ip-\udcfe", "\udcff" * (MAX_KEY_LENGTH + 1)):
        assert storage.acquire(key, policy).allowed
        assert storage.acquire(key, policy).allowed
        assert not storage.acquire(key, policy).allowed
        assert storage.peek(key, policy).remaining == 0
        storage.reset(key)
        assert storage.peek(key, policy).remaining == 2
    assert limiter.hit("\udcff", 2, 60)
