"""Rate-limit storage against a real redis-server: algorithms, boundaries, many processes."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tigerseal.errors import ConfigError
from tigerseal.ratelimit._memory import MemoryRateLimitStorage
from tigerseal.spi.services import RATE_LIMIT_ALGORITHMS, RateLimitPolicy
from tigerseal_redis.storage import RedisRateLimitStorage, from_uri

from tests.services.redis import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.redis]

WORKER = Path(__file__).with_name("_worker.py")
T0 = 1_700_000_000.0  # a fixed "now" for boundary tests (exact in microseconds)

Make = Callable[..., RedisRateLimitStorage]


@pytest.fixture
def make(redis_url: str, closing: Callable[[Any], Any]) -> Make:
    def build(**options: Any) -> RedisRateLimitStorage:
        options.setdefault("on_outage", "fail_closed")
        return closing(from_uri(redis_url, **options))  # type: ignore[no-any-return]

    return build


@pytest.mark.parametrize("algorithm", RATE_LIMIT_ALGORITHMS)
def test_admits_the_limit_then_denies(make: Make, algorithm: str) -> None:
    storage = make()
    policy = RateLimitPolicy(5, 60, algorithm)  # type: ignore[arg-type]
    decisions = [storage.acquire("k", policy) for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert all(d.limit == 5 for d in decisions)
    assert decisions[-1].retry_after > 0
    assert storage.peek("k", policy).allowed is False
    # another key is independent; reset forgets the key
    assert storage.acquire("other", policy).allowed
    storage.reset("k")
    assert storage.peek("k", policy).remaining == 5
    assert storage.acquire("k", policy).allowed


def test_sliding_log_boundary_is_exactly_one_window(make: Make) -> None:
    storage = make()
    p = RateLimitPolicy(3, 10, "sliding_window_log")
    for i in range(3):
        assert storage.acquire("k", p, now=T0 + i).allowed
    denied = storage.acquire("k", p, now=T0 + 5)
    assert not denied.allowed
    assert denied.retry_after == pytest.approx(5.0)  # the unit of T0 leaves at T0 + 10
    assert denied.reset_after == pytest.approx(7.0)  # the newest (T0 + 2) leaves at T0 + 12
    assert not storage.acquire("k", p, now=T0 + 9.999999).allowed
    assert storage.acquire("k", p, now=T0 + 10).allowed  # (now - window, now]: T0 is out
    assert not storage.acquire("k", p, now=T0 + 10.5).allowed
    # cost: 2 units need two old entries gone
    d = storage.acquire("k", p, 2, now=T0 + 11)
    assert not d.allowed
    assert d.retry_after == pytest.approx(1.0)
    assert storage.acquire("k", p, 2, now=T0 + 12).allowed


def test_gcra_boundaries(make: Make) -> None:
    storage = make()
    p = RateLimitPolicy(10, 1, "gcra")  # T = 0.1 s, burst 10
    assert all(storage.acquire("g", p, now=T0).allowed for _ in range(10))
    d = storage.acquire("g", p, now=T0)
    assert not d.allowed
    assert d.retry_after == pytest.approx(0.1)
    assert d.remaining == 0
    assert d.reset_after == pytest.approx(1.0)
    assert not storage.acquire("g", p, now=T0 + 0.099999).allowed
    ok = storage.acquire("g", p, now=T0 + 0.1)
    assert ok.allowed
    assert ok.remaining == 0
    # a smaller burst smooths: at most 2 at once, then one every T
    q = RateLimitPolicy(10, 1, "gcra", burst=2)
    assert [storage.acquire("h", q, now=T0).allowed for _ in range(3)] == [True, True, False]
    assert storage.acquire("h", q, now=T0 + 0.1).allowed
    never = storage.acquire("h", q, 3, now=T0 + 5)
    assert not never.allowed
    assert math.isinf(never.retry_after)


def test_sliding_counter_weighs_the_previous_window(make: Make) -> None:
    storage = make()
    p = RateLimitPolicy(10, 10, "sliding_window_counter")
    start = 1_700_000_000.0  # a multiple of 10: a fixed-window boundary
    for _ in range(10):
        assert storage.acquire("c", p, now=start + 1).allowed
    assert not storage.acquire("c", p, now=start + 9).allowed
    # next window at 25% elapsed: previous 10 weighted 0.75 -> 7.5 used, 2 more fit
    at = start + 12.5
    assert storage.peek("c", p, now=at).remaining == 2
    assert storage.acquire("c", p, now=at).allowed
    assert storage.acquire("c", p, now=at).allowed
    d = storage.acquire("c", p, now=at)
    assert not d.allowed
    # 7.5 + 2 + 1 <= 10 needs the weight at 0.7 -> elapsed 3 s -> 0.5 s from now
    assert d.retry_after == pytest.approx(0.5, abs=1e-5)
    assert storage.acquire("c", p, now=at + 0.5).allowed


def test_same_decisions_as_the_memory_storage(make: Make) -> None:
    """Random hits at random (whole-microsecond) times: Redis and memory agree on every one."""
    redis_storage = make()
    memory = MemoryRateLimitStorage()
    rng = random.Random(7)
    policies = [
        RateLimitPolicy(5, 2, "sliding_window_log"),
        RateLimitPolicy(8, 4, "sliding_window_counter"),
        RateLimitPolicy(4, 2, "gcra"),  # T = 0.5 s: exact in microseconds
        RateLimitPolicy(10, 5, "gcra", burst=3),
    ]
    for policy in policies:
        now = T0
        for i in range(300):
            now += rng.choice([0, 0.001, 0.05, 0.2, 0.5, 1.0, 2.5])
            cost = rng.choice([1, 1, 1, 2, 0])
            key = f"parity-{policy.algorithm}-{policy.burst}"
            if i % 7 == 0:
                a, b = redis_storage.peek(key, policy, now=now), memory.peek(key, policy, now=now)
            else:
                a = redis_storage.acquire(key, policy, cost, now=now)
                b = memory.acquire(key, policy, cost, now=now)
            assert (a.allowed, a.remaining) == (b.allowed, b.remaining), (policy, i)
            assert a.retry_after == pytest.approx(b.retry_after, abs=2e-6)
            assert a.reset_after == pytest.approx(b.reset_after, abs=2e-6)


def test_server_clock_is_shared_by_every_client(make: Make) -> None:
    a, b = make(), make()
    policy = RateLimitPolicy(4, 3600, "sliding_window_log")
    results = [s.acquire("shared", policy).allowed for s in (a, b, a, b, a, b)]
    assert results == [True] * 4 + [False] * 2


def test_bad_cost_and_zero_cost(make: Make) -> None:
    storage = make()
    policy = RateLimitPolicy(2, 60)
    with pytest.raises(ConfigError, match="cost"):
        storage.acquire("k", policy, -1)
    with pytest.raises(ConfigError, match="cost"):
        storage.acquire("k", policy, 1.5)  # type: ignore[arg-type]
    zero = storage.acquire("k", policy, 0)
    assert zero.allowed
    assert zero.remaining == 2
    too_big = storage.acquire("k", policy, 3)
    assert not too_big.allowed
    assert math.isinf(too_big.retry_after)


def test_noscript_falls_back_to_eval(make: Make, redis_server: RedisServer) -> None:
    storage = make()
    policy = RateLimitPolicy(10, 60, "gcra")
    assert storage.acquire("k", policy).allowed
    client = redis_server.client()
    client.script_flush()
    client.close()
    assert storage.acquire("k", policy).remaining == 8
    assert storage.metrics["script_loads"] >= 2  # first use, and after the flush


def test_foreign_data_under_our_key_is_a_config_error(
    make: Make, redis_server: RedisServer
) -> None:
    storage = make(key_prefix="shared:")
    client = redis_server.client()
    client.set("shared:rl:{victim}:gcra", "not a number", xx=False)
    client.hset("shared:rl:{victim}:sliding_window_log", "x", "1")
    client.close()
    with pytest.raises(ConfigError, match="key_prefix"):
        storage.acquire("victim", RateLimitPolicy(3, 60, "sliding_window_log"))


def test_rate_limiter_facade_over_redis(make: Make) -> None:
    from tigerseal.ratelimit._limiter import RateLimiter

    limiter = RateLimiter(make(), algorithm="gcra", default_limit=3, audit_rejections=False)
    assert [limiter.hit("api_key_12345") for _ in range(4)] == [True, True, True, False]
    status = limiter.status("api_key_12345")
    assert status["requests_remaining"] == 0


@pytest.mark.parametrize("algorithm", RATE_LIMIT_ALGORITHMS)
def test_four_processes_eight_threads_admit_exactly_the_limit(
    redis_url: str, redis_server: RedisServer, algorithm: str
) -> None:
    limit, processes, threads, ops = 500, 4, 8, 40  # 1,280 attempts for 500 units
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                redis_url,
                "acquire",
                f"hot-{algorithm}",
                "--algorithm",
                algorithm,
                "--limit",
                str(limit),
                "--window",
                "10000000",  # GCRA refills one unit per window/limit: none during the test
                "--threads",
                str(threads),
                "--ops",
                str(ops),
                "--wait",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    client = redis_server.client()
    try:
        client.set("test:go", "1")
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        client.close()
        for p in procs:
            if p.poll() is None:
                p.kill()
    counts = []
    for (out, err), p in zip(outputs, procs, strict=True):
        assert p.returncode == 0, err
        counts.append(json.loads(out))
    assert sum(c["errors"] for c in counts) == 0
    assert sum(c["admitted"] for c in counts) == limit
    assert sum(c["admitted"] + c["denied"] for c in counts) == processes * threads * ops
