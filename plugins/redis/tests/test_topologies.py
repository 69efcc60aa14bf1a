"""Sentinel and Cluster: the same storage through redis+sentinel:// and ?cluster=1."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from tigerseal.plugins import rate_limit_storage_from_uri, revocation_store_from_uri
from tigerseal.spi.services import RATE_LIMIT_ALGORITHMS, RateLimitPolicy

from tests.services.redis import RedisCluster

pytestmark = [pytest.mark.integration, pytest.mark.redis]


def test_sentinel_finds_the_master(redis_sentinel: str, closing: Callable[[Any], Any]) -> None:
    storage = closing(rate_limit_storage_from_uri(f"{redis_sentinel}?on_outage=fail_closed"))
    policy = RateLimitPolicy(2, 60, "gcra")
    assert [storage.acquire("s", policy).allowed for _ in range(3)] == [True, True, False]
    store = closing(revocation_store_from_uri(redis_sentinel))
    store.revoke("jti-sentinel", time.time() + 60)
    assert store.is_revoked("jti-sentinel")


def test_cluster_keeps_each_limit_on_one_slot(
    redis_cluster: RedisCluster, closing: Callable[[Any], Any]
) -> None:
    storage = closing(rate_limit_storage_from_uri(f"{redis_cluster.url}&on_outage=fail_closed"))
    # keys spread over all three nodes; every script touches only its own key's slot
    for i in range(30):
        key = f"tenant-{i}"
        for algorithm in RATE_LIMIT_ALGORITHMS:
            policy = RateLimitPolicy(2, 60, algorithm)
            got = [storage.acquire(key, policy).allowed for _ in range(3)]
            assert got == [True, True, False], (key, algorithm)
        storage.reset(key)  # one DEL of three keys: legal only because they share a slot
        assert storage.peek(key, RateLimitPolicy(2, 60, "gcra")).remaining == 2
    store = closing(revocation_store_from_uri(redis_cluster.url))
    assert store.mark_used("r-cluster", time.time() + 60) is True
    assert store.mark_used("r-cluster", time.time() + 60) is False
