"""In-process rate-limit storage: ``memory://``.

One lock guards all keys. Each decision holds it for well under a microsecond of pure Python,
and the GIL serialises that work anyway, so finer locks would only add overhead (measured in
``benchmarks/bench_ratelimit.py``). State for keys that no longer limit anything is swept when
the number of keys has doubled since the last sweep, so memory stays proportional to the keys
in use and the sweep costs O(1) per new key, amortised.

Memory per key: sliding-window log, one float per admitted unit still in the window (about 8
bytes in a deque block plus the shared float object); counter and GCRA, a few numbers.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from itertools import repeat
from typing import Any
from urllib.parse import urlsplit

from tigerseal.errors import ConfigError
from tigerseal.spi.services import RateLimitDecision, RateLimitPolicy, RateLimitStorage

__all__ = ["MemoryRateLimitStorage", "from_uri"]

_INF = math.inf
# Tolerance of float comparisons; Redis scripts work in integer microseconds.
_EPS = 1e-9


class _Log(deque[float]):
    """Timestamps of admitted units, oldest first, and the window they were admitted under."""

    __slots__ = ("window",)

    def __init__(self, window: float) -> None:
        super().__init__()
        self.window = window


def _bad_cost(cost: object) -> ConfigError:
    return ConfigError(f"a rate-limit cost must be a whole number >= 0, got {cost!r}")


class MemoryRateLimitStorage(RateLimitStorage):
    """Rate-limit state in this process's memory; thread-safe, not shared between processes.

    Use ``redis://`` (``pip install tigerseal-redis``) when several processes must share limits.

    Args:
        clock: returns the current time in seconds (``time.time``; the Redis storage uses the
            server's epoch clock, so windows align the same way in both).
        sweep_threshold: number of keys below which expired state is never swept.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.time, sweep_threshold: int = 4096
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._logs: dict[str, _Log] = {}
        # [window index, current count, previous count, window]
        self._counters: dict[str, list[float]] = {}
        self._tats: dict[str, float] = {}
        self._sweep_threshold = sweep_threshold
        self._sweep_logs_at = sweep_threshold
        self._sweep_counters_at = sweep_threshold
        self._sweep_tats_at = sweep_threshold

    # -- the SPI ---------------------------------------------------------------------------
    def acquire(
        self, key: str, policy: RateLimitPolicy, cost: int = 1, *, now: float | None = None
    ) -> RateLimitDecision:
        if cost.__class__ is not int or cost < 0:
            raise _bad_cost(cost)
        if now is None:
            now = self._clock()
        algorithm = policy.algorithm
        if algorithm == "sliding_window_log":
            # The default algorithm, inlined: a method call is a tenth of a decision.
            limit = policy.limit
            window = policy.window
            with self._lock:
                log = self._logs.get(key)
                if log is None:
                    if len(self._logs) >= self._sweep_logs_at:
                        self._sweep_logs(now)
                    log = self._logs[key] = _Log(window)
                elif log.window != window:
                    log.window = window
                cutoff = now - window
                while log and log[0] <= cutoff:
                    log.popleft()
                used = len(log)
                if used + cost <= limit:
                    if cost == 1:
                        log.append(now)
                    elif cost:
                        log.extend(repeat(now, cost))
                    used += cost
                    return RateLimitDecision(
                        True, limit, limit - used, log[-1] + window - now if used else 0.0, 0.0
                    )
                # The (used + cost - limit)-th oldest unit must leave the window first.
                retry = log[used + cost - limit - 1] + window - now if cost <= limit else _INF
                return RateLimitDecision(
                    False,
                    limit,
                    limit - used if used < limit else 0,
                    log[-1] + window - now if used else 0.0,
                    retry,
                )
        if algorithm == "gcra":
            return self._gcra(key, policy, cost, now, True)
        return self._counter(key, policy.limit, policy.window, cost, now, True)

    def peek(
        self, key: str, policy: RateLimitPolicy, *, now: float | None = None
    ) -> RateLimitDecision:
        if now is None:
            now = self._clock()
        algorithm = policy.algorithm
        if algorithm == "sliding_window_log":
            return self._log(key, policy.limit, policy.window, 1, now, False)
        if algorithm == "gcra":
            return self._gcra(key, policy, 1, now, False)
        return self._counter(key, policy.limit, policy.window, 1, now, False)

    def reset(self, key: str) -> None:
        with self._lock:
            self._logs.pop(key, None)
            self._counters.pop(key, None)
            self._tats.pop(key, None)

    def clear(self) -> None:
        """Forget every key."""
        with self._lock:
            self._logs.clear()
            self._counters.clear()
            self._tats.clear()

    def key_count(self) -> int:
        """Number of (key, algorithm) states held, expired ones not yet swept included."""
        with self._lock:
            return len(self._logs) + len(self._counters) + len(self._tats)

    def sweep(self, now: float | None = None) -> int:
        """Drop state that no longer limits anything; returns how many entries went."""
        if now is None:
            now = self._clock()
        with self._lock:
            return self._sweep_logs(now) + self._sweep_counters(now) + self._sweep_tats(now)

    def __repr__(self) -> str:
        keys = len(self._logs) + len(self._counters) + len(self._tats)
        return f"<MemoryRateLimitStorage keys={keys}>"

    # -- sliding-window log ----------------------------------------------------------------
    def _log(
        self, key: str, limit: int, window: float, cost: int, now: float, count: bool
    ) -> RateLimitDecision:
        with self._lock:
            log = self._logs.get(key)
            if log is None:
                if not count:
                    return RateLimitDecision(
                        cost <= limit, limit, limit, 0.0, 0.0 if cost <= limit else _INF
                    )
                if len(self._logs) >= self._sweep_logs_at:
                    self._sweep_logs(now)
                log = self._logs[key] = _Log(window)
            elif log.window != window:
                log.window = window
            cutoff = now - window
            while log and log[0] <= cutoff:
                log.popleft()
            used = len(log)
            if used + cost <= limit:
                if count and cost:
                    if cost == 1:
                        log.append(now)
                    else:
                        log.extend(repeat(now, cost))
                    used += cost
                reset = log[-1] + window - now if used else 0.0
                return RateLimitDecision(True, limit, limit - used, reset, 0.0)
            reset = log[-1] + window - now if used else 0.0
            # The (used + cost - limit)-th oldest unit must leave the window first.
            retry = log[used + cost - limit - 1] + window - now if cost <= limit else _INF
            return RateLimitDecision(
                False, limit, limit - used if used < limit else 0, reset, retry
            )

    def _sweep_logs(self, now: float) -> int:
        dead = [k for k, log in self._logs.items() if not log or log[-1] <= now - log.window]
        for k in dead:
            del self._logs[k]
        self._sweep_logs_at = max(self._sweep_threshold, 2 * len(self._logs))
        return len(dead)

    # -- sliding-window counter ------------------------------------------------------------
    def _counter(
        self, key: str, limit: int, window: float, cost: int, now: float, count: bool
    ) -> RateLimitDecision:
        idx = now // window
        with self._lock:
            state = self._counters.get(key)
            if state is None:
                current = previous = 0.0
            else:
                last = state[0]
                current, previous = state[1], state[2]
                if idx == last + 1:
                    previous, current = current, 0.0
                elif idx > last + 1:
                    previous = current = 0.0
                elif idx < last:
                    idx = last  # a caller-supplied clock went backwards: stay in the newest
            start = idx * window
            elapsed = now - start
            if elapsed < 0:
                elapsed = 0.0
            weighted = previous * (window - elapsed) / window
            allowed = weighted + current + cost <= limit + _EPS
            if allowed and count and cost:
                current += cost
            if count:
                if state is None:
                    if len(self._counters) >= self._sweep_counters_at:
                        self._sweep_counters(now)
                    self._counters[key] = [idx, current, previous, window]
                else:
                    state[0], state[1], state[2], state[3] = idx, current, previous, window
        remaining = math.floor(limit - (weighted + current) + _EPS)
        if remaining < 0:
            remaining = 0
        if current > 0:
            reset = start + 2 * window - now
        elif previous > 0:
            reset = start + window - now
        else:
            reset = 0.0
        if allowed:
            return RateLimitDecision(True, limit, remaining, reset, 0.0)
        if cost > limit:
            retry = _INF
        elif current + cost <= limit:
            # Wait in this window until the previous window's weight has decayed enough.
            retry = start + window * (1 - (limit - current - cost) / previous) - now
        else:
            # Wait into the next window, where this window's count becomes the weighted one.
            retry = start + window + window * (1 - (limit - cost) / current) - now
        return RateLimitDecision(False, limit, remaining, reset, retry if retry > 0 else 0.0)

    def _sweep_counters(self, now: float) -> int:
        dead = [k for k, st in self._counters.items() if (st[0] + 2) * st[3] <= now]
        for k in dead:
            del self._counters[k]
        self._sweep_counters_at = max(self._sweep_threshold, 2 * len(self._counters))
        return len(dead)

    # -- GCRA ------------------------------------------------------------------------------
    def _gcra(
        self, key: str, policy: RateLimitPolicy, cost: int, now: float, count: bool
    ) -> RateLimitDecision:
        limit = policy.limit
        burst = policy.burst_size
        interval = policy.window / limit
        tau = interval * burst
        with self._lock:
            tat = self._tats.get(key)
            if tat is None:
                if count and len(self._tats) >= self._sweep_tats_at:
                    self._sweep_tats(now)
                tat = now
            elif tat < now:
                tat = now
            new_tat = tat + interval * cost
            allow_at = new_tat - tau
            if now + _EPS >= allow_at:
                if count and cost:
                    self._tats[key] = tat = new_tat
                remaining = math.floor((tau - (tat - now)) / interval + _EPS)
                return RateLimitDecision(
                    True, limit, remaining if remaining > 0 else 0, tat - now, 0.0
                )
        remaining = math.floor((tau - (tat - now)) / interval + _EPS)
        retry = _INF if cost > burst else allow_at - now
        return RateLimitDecision(False, limit, remaining if remaining > 0 else 0, tat - now, retry)

    def _sweep_tats(self, now: float) -> int:
        dead = [k for k, tat in self._tats.items() if tat <= now]
        for k in dead:
            del self._tats[k]
        self._sweep_tats_at = max(self._sweep_threshold, 2 * len(self._tats))
        return len(dead)


def from_uri(uri: str, **options: Any) -> MemoryRateLimitStorage:
    """Factory of the ``memory`` spec: ``memory://`` (no host, path or query)."""
    parts = urlsplit(uri)
    if parts.scheme != "memory" or parts.netloc or parts.path not in ("", "/") or parts.query:
        raise ConfigError(
            f"memory rate-limit storage takes no location or options: use 'memory://', got {uri!r}"
        )
    return MemoryRateLimitStorage(**options)
