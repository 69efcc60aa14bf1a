"""The memory storage: each algorithm's arithmetic, cost, peek, reset, sweeping, threads."""

from __future__ import annotations

import math
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tigerseal.errors import ConfigError
from tigerseal.plugins import rate_limit_storage_from_uri
from tigerseal.ratelimit import MemoryRateLimitStorage, RateLimitPolicy
from tigerseal.spi import RateLimitStorage

from .conftest import Clock

ALGORITHMS = ("sliding_window_log", "sliding_window_counter", "gcra")


# -- sliding-window log ------------------------------------------------------------------------
def test_log_admits_limit_then_rejects_until_the_oldest_leaves(
    storage: MemoryRateLimitStorage, clock: Clock
) -> None:
    policy = RateLimitPolicy(3, 10)
    seen = []
    for _ in range(3):
        seen.append(storage.acquire("k", policy).remaining)
        clock.advance(1)
    assert seen == [2, 1, 0]
    d = storage.acquire("k", policy)  # t = 3
    assert not d.allowed
    assert d.remaining == 0
    assert d.retry_after == pytest.approx(7.0)  # first hit (t=0) leaves at t=10
    assert d.reset_after == pytest.approx(9.0)  # newest (t=2) leaves at t=12
    clock.advance(6.999)
    assert not storage.acquire("k", policy).allowed
    clock.advance(0.001)  # exactly window after the first hit: it no longer counts
    assert storage.acquire("k", policy).allowed


def test_log_retry_after_for_a_larger_cost(storage: MemoryRateLimitStorage, clock: Clock) -> None:
    policy = RateLimitPolicy(3, 10)
    for _ in range(3):
        storage.acquire("k", policy)
        clock.advance(1)
    clock.advance(2)  # t = 5
    d = storage.acquire("k", policy, 2)
    assert not d.allowed
    assert d.retry_after == pytest.approx(6.0)  # two must leave: the second (t=1) at t=11
    clock.advance(6)
    d = storage.acquire("k", policy, 2)
    assert d.allowed
    assert d.remaining == 0


def test_costs(storage: MemoryRateLimitStorage) -> None:
    policy = RateLimitPolicy(5, 60)
    assert storage.acquire("k", policy, 3).remaining == 2
    assert storage.acquire("k", policy, 0).remaining == 2  # counts nothing
    rejected = storage.acquire("k", policy, 3)
    assert not rejected.allowed
    assert rejected.remaining == 2  # a rejected hit counts nothing
    never = storage.acquire("other", policy, 6)
    assert not never.allowed
    assert math.isinf(never.retry_after)
    assert storage.peek("other", policy).remaining == 5


@pytest.mark.parametrize("cost", [-1, 1.0, True, "1", None])
def test_bad_cost_is_a_config_error(storage: MemoryRateLimitStorage, cost: object) -> None:
    with pytest.raises(ConfigError, match="cost"):
        storage.acquire("k", RateLimitPolicy(5, 60), cost)  # type: ignore[arg-type]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_peek_counts_nothing(storage: MemoryRateLimitStorage, algorithm: str) -> None:
    policy = RateLimitPolicy(4, 60, algorithm)  # type: ignore[arg-type]
    fresh = storage.peek("k", policy)
    assert fresh.allowed
    assert fresh.remaining == 4
    storage.acquire("k", policy)
    for _ in range(5):
        assert storage.peek("k", policy).remaining == 3
    assert storage.key_count() == 1


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_reset_forgets_the_key(storage: MemoryRateLimitStorage, algorithm: str) -> None:
    policy = RateLimitPolicy(2, 60, algorithm)  # type: ignore[arg-type]
    storage.acquire("k", policy, 2)
    storage.acquire("other", policy)
    assert not storage.acquire("k", policy).allowed
    storage.reset("k")
    assert storage.acquire("k", policy).allowed
    assert storage.peek("other", policy).remaining == 1


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_keys_are_independent(storage: MemoryRateLimitStorage, algorithm: str) -> None:
    policy = RateLimitPolicy(1, 60, algorithm)  # type: ignore[arg-type]
    assert storage.acquire("a", policy).allowed
    assert storage.acquire("b", policy).allowed
    assert not storage.acquire("a", policy).allowed


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_waiting_retry_after_is_enough_and_not_more_than_needed(
    storage: MemoryRateLimitStorage, clock: Clock, algorithm: str
) -> None:
    policy = RateLimitPolicy(5, 10, algorithm)  # type: ignore[arg-type]
    for step in range(40):
        d = storage.acquire("k", policy)
        if not d.allowed:
            assert 0 < d.retry_after < math.inf
            if d.retry_after > 0.01:
                clock.advance(d.retry_after - 0.005)
                assert not storage.peek("k", policy).allowed, step
                clock.advance(0.005)
            else:
                clock.advance(d.retry_after)
            assert storage.acquire("k", policy).allowed, step
        clock.advance(0.37)


# -- sliding-window counter --------------------------------------------------------------------
def test_counter_weights_the_previous_window(storage: MemoryRateLimitStorage, clock: Clock) -> None:
    policy = RateLimitPolicy(10, 60, "sliding_window_counter")
    clock.now = 60.0 * 1000  # the start of a window
    for _ in range(10):
        assert storage.acquire("k", policy).allowed
    assert not storage.acquire("k", policy).allowed
    clock.advance(60 + 30)  # half-way into the next window: previous counts 10 * 0.5
    admitted = 0
    while storage.acquire("k", policy).allowed:
        admitted += 1
    assert admitted == 5
    d = storage.peek("k", policy)
    assert d.remaining == 0
    assert d.reset_after == pytest.approx(90.0)  # end of the window after this one
    clock.advance(120)  # two windows later nothing is left
    assert storage.peek("k", policy).remaining == 10


def test_counter_never_admits_more_than_the_limit_in_any_window(
    storage: MemoryRateLimitStorage, clock: Clock
) -> None:
    policy = RateLimitPolicy(20, 10, "sliding_window_counter")
    admitted: list[float] = []
    for _ in range(2000):
        if storage.acquire("k", policy).allowed:
            admitted.append(clock.now)
        clock.advance(0.05)
    for i, t in enumerate(admitted):
        in_window = sum(1 for u in admitted[i:] if u < t + 10)
        assert in_window <= 20


# -- GCRA --------------------------------------------------------------------------------------
def test_gcra_burst_then_one_per_interval(storage: MemoryRateLimitStorage, clock: Clock) -> None:
    policy = RateLimitPolicy(10, 10, "gcra", burst=3)  # one per second, three at once
    assert [storage.acquire("k", policy).allowed for _ in range(4)] == [True] * 3 + [False]
    d = storage.acquire("k", policy)
    assert d.retry_after == pytest.approx(1.0)
    assert d.reset_after == pytest.approx(3.0)
    clock.advance(1)
    assert storage.acquire("k", policy).allowed
    assert not storage.acquire("k", policy).allowed
    clock.advance(10)
    assert storage.peek("k", policy).remaining == 3


def test_gcra_default_burst_is_the_limit(storage: MemoryRateLimitStorage) -> None:
    policy = RateLimitPolicy(7, 3600, "gcra")
    assert sum(storage.acquire("k", policy).allowed for _ in range(20)) == 7
    never = storage.acquire("k", RateLimitPolicy(7, 3600, "gcra", burst=2), 3)
    assert math.isinf(never.retry_after)


# -- reference model ---------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(1, 8),
    ops=st.lists(
        st.tuples(st.floats(0, 4, allow_nan=False), st.integers(0, 4)), min_size=1, max_size=60
    ),
)
def test_log_matches_a_brute_force_model(limit: int, ops: list[tuple[float, int]]) -> None:
    clock = Clock(0.0)
    storage = MemoryRateLimitStorage(clock=clock)
    policy = RateLimitPolicy(limit, 5)
    model: list[float] = []
    for advance, cost in ops:
        clock.advance(advance)
        now = clock.now
        live = [t for t in model if t > now - 5]
        expected = len(live) + cost <= limit
        d = storage.acquire("k", policy, cost)
        assert d.allowed == expected
        if expected:
            live += [now] * cost
        model = live
        assert d.remaining == max(0, limit - len(live))


# -- threads -----------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_eight_threads_on_one_key_admit_exactly_the_limit(algorithm: str) -> None:
    storage = MemoryRateLimitStorage()  # the real clock
    policy = RateLimitPolicy(500, 3600, algorithm)  # type: ignore[arg-type]
    admitted = [0] * 8
    start = threading.Barrier(8)

    def hammer(i: int) -> None:
        start.wait()
        for _ in range(250):
            if storage.acquire("hot", policy).allowed:
                admitted[i] += 1

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(admitted) == 500
    assert storage.peek("hot", policy).remaining == 0


# -- housekeeping ------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_expired_keys_are_swept_as_keys_grow(clock: Clock, algorithm: str) -> None:
    storage = MemoryRateLimitStorage(clock=clock, sweep_threshold=100)
    policy = RateLimitPolicy(5, 10, algorithm)  # type: ignore[arg-type]
    for i in range(100):
        storage.acquire(f"old{i}", policy)
    clock.advance(100)
    for i in range(150):
        storage.acquire(f"new{i}", policy)
    assert storage.key_count() <= 150
    assert storage.sweep() == 0
    clock.advance(100)
    assert storage.sweep() == 150
    assert storage.key_count() == 0


def test_memory_uri_through_the_registry() -> None:
    s = rate_limit_storage_from_uri("memory://")
    assert isinstance(s, MemoryRateLimitStorage)
    assert isinstance(s, RateLimitStorage)
    for bad in ("memory://somewhere", "memory:///path", "memory://?x=1"):
        with pytest.raises(ConfigError, match="memory://"):
            rate_limit_storage_from_uri(bad)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 60), "limit"),
        ((True, 60), "limit"),
        ((1.5, 60), "limit"),
        ((10, 0), "window"),
        ((10, -1), "window"),
        ((10, float("inf")), "window"),
        ((10, "60"), "window"),
        ((10, 60, "fixed_window"), "algorithm"),
        ((10, 60, "gcra", 0), "burst"),
    ],
)
def test_policy_validation(args: tuple[object, ...], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RateLimitPolicy(*args)  # type: ignore[arg-type]


def test_default_clock_is_epoch_time() -> None:
    storage = MemoryRateLimitStorage()
    d = storage.acquire("k", RateLimitPolicy(1, 60))
    assert d.reset_after == pytest.approx(60, abs=1)
    # the counter aligns windows to the epoch, as the Redis storage does
    policy = RateLimitPolicy(1, 60, "sliding_window_counter")
    d = storage.acquire("c", policy)
    assert d.reset_after == pytest.approx(120 - time.time() % 60, abs=1)
