"""In-process rate-limit storage: ``memory://``.

One lock guards all keys. Each decision holds it for well under a microsecond of pure Python,
and the GIL serialises that work anyway, so finer locks would only add overhead (measured in
``benchmarks/bench_ratelimit.py``). State for keys that no longer limit anything is swept when
the number of keys has doubled since the last sweep, so memory stays proportional to the keys
in use and the sweep costs O(1) per new key, amortised.

Memory is bounded whatever clients send:

* a key longer than :data:`~tigerseal.ratelimit.storage_keys.MAX_KEY_LENGTH` characters is held
  as its SHA-256 digest (``bytes``, so it can never equal a ``str`` key; non-``str`` keys are
  refused, so a ``bytes`` key cannot spell a digest either);
* each algorithm's table holds at most ``max_keys`` keys. A new key that finds its table full
  first sweeps expired state (when a sweep is due: at most once per ``max_keys // 8`` new keys,
  so the cost stays O(1) amortised), then evicts the least recently used keys. Only a counting
  decision makes a key "used"; a peek does not.

Memory per key: sliding-window log, one float per admitted unit still in the window (about 8
bytes in a deque block plus the shared float object) on top of a deque; counter and GCRA, a few
numbers. Figures: docs/ratelimit.md.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from tigerseal.errors import ConfigError
from tigerseal.ratelimit.storage_keys import MAX_KEY_LENGTH, bad_key, long_key_digest
from tigerseal.spi.options import build_options, given_options, option, parse_uri
from tigerseal.spi.services import RateLimitDecision, RateLimitPolicy, RateLimitStorage

__all__ = ["DEFAULT_MAX_KEYS", "MemoryRateLimitStorage", "from_uri"]

log = logging.getLogger(__name__)

#: Keys per algorithm held by default (about 80 MiB for the sliding log at one hit per key).
DEFAULT_MAX_KEYS = 100_000

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
        max_keys: most keys held per algorithm; beyond, expired state is swept and then the
            least recently used keys are evicted (see the module docstring).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        sweep_threshold: int = 4096,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        if max_keys.__class__ is not int or max_keys < 1:
            raise ConfigError(
                f"max_keys of the memory rate-limit storage must be a whole number >= 1, "
                f"got {max_keys!r}"
            )
        self._clock = clock
        self._lock = threading.Lock()
        # Ordered oldest use first (LRU). Keys are str, or the SHA-256 bytes of a long key.
        self._logs: OrderedDict[str | bytes, _Log] = OrderedDict()
        # [window index, current count, previous count, window]
        self._counters: OrderedDict[str | bytes, list[float]] = OrderedDict()
        self._tats: OrderedDict[str | bytes, float] = OrderedDict()
        self._sweep_threshold = sweep_threshold
        self._sweep_logs_at = sweep_threshold
        self._sweep_counters_at = sweep_threshold
        self._sweep_tats_at = sweep_threshold
        self.max_keys = max_keys
        # Live keys evicted from each table since its last sweep (starts "due": the first live
        # eviction is preceded by a sweep).
        first = max(1, max_keys // 8)
        self._live_evictions = {"logs": first, "counters": first, "tats": first}
        self._evictions = 0

    @property
    def evictions(self) -> int:
        """Live keys evicted (their limits forgotten) because a table was full."""
        return self._evictions

    # -- the SPI ---------------------------------------------------------------------------
    def acquire(
        self, key: str, policy: RateLimitPolicy, cost: int = 1, *, now: float | None = None
    ) -> RateLimitDecision:
        if cost.__class__ is not int or cost < 0:
            raise _bad_cost(cost)
        if now is None:
            now = self._clock()
        if key.__class__ is not str and not isinstance(key, str):
            raise bad_key(key)
        slot: str | bytes = key if len(key) <= MAX_KEY_LENGTH else long_key_digest(key)
        algorithm = policy.algorithm
        if algorithm == "sliding_window_log":
            # The default algorithm, inlined: a method call is a tenth of a decision.
            limit = policy.limit
            window = policy.window
            with self._lock:
                logs = self._logs
                log = logs.get(slot)
                if log is None:
                    if len(logs) >= self._sweep_logs_at or len(logs) >= self.max_keys:
                        self._make_room("logs", now)
                    log = logs[slot] = _Log(window)
                else:
                    logs.move_to_end(slot)
                    if log.window != window:
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
            return self._gcra(slot, policy, cost, now, True)
        return self._counter(slot, policy.limit, policy.window, cost, now, True)

    def peek(
        self, key: str, policy: RateLimitPolicy, *, now: float | None = None
    ) -> RateLimitDecision:
        if now is None:
            now = self._clock()
        slot = _slot(key)
        algorithm = policy.algorithm
        if algorithm == "sliding_window_log":
            return self._log(slot, policy.limit, policy.window, 1, now, False)
        if algorithm == "gcra":
            return self._gcra(slot, policy, 1, now, False)
        return self._counter(slot, policy.limit, policy.window, 1, now, False)

    def reset(self, key: str) -> None:
        slot = _slot(key)
        with self._lock:
            self._logs.pop(slot, None)
            self._counters.pop(slot, None)
            self._tats.pop(slot, None)

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

    def _keys(self) -> Iterator[str | bytes]:
        """Every stored key (tests): str keys, or the 32-byte digest of a long key."""
        with self._lock:
            keys = [*self._logs, *self._counters, *self._tats]
        return iter(keys)

    def sweep(self, now: float | None = None) -> int:
        """Drop state that no longer limits anything; returns how many entries went."""
        if now is None:
            now = self._clock()
        with self._lock:
            return self._sweep_logs(now) + self._sweep_counters(now) + self._sweep_tats(now)

    def __repr__(self) -> str:
        keys = len(self._logs) + len(self._counters) + len(self._tats)
        return f"<MemoryRateLimitStorage keys={keys}>"

    # -- bounds ----------------------------------------------------------------------------
    def _make_room(self, table: str, now: float) -> None:
        """Before a new key enters ``table`` (lock held): sweep when due, evict while full.

        Expired state goes first: the least recently used key is dropped for free when it has
        expired (with one window for all keys, expiry follows last use, so that is exact); a
        live one is evicted only after a full sweep ran within the last ``max_keys // 8`` live
        evictions (O(1) amortised). So pushing a live key out takes about ``max_keys`` fresh
        keys, each a counted request, while the victim's key is idle.
        """
        entries: OrderedDict[Any, Any] = getattr(self, "_" + table)
        sweep: Callable[[float], int] = getattr(self, "_sweep_" + table)
        if len(entries) >= getattr(self, "_sweep_" + table + "_at"):
            sweep(now)
            self._live_evictions[table] = 0
        expired = _EXPIRED[table]
        while len(entries) >= self.max_keys:
            head = next(iter(entries.values()))
            if expired(head, now):
                entries.popitem(last=False)
            elif self._live_evictions[table] >= max(1, self.max_keys // 8):
                sweep(now)
                self._live_evictions[table] = 0
            else:
                if not self._evictions:
                    log.warning(
                        "memory rate-limit storage is full (max_keys=%d live keys per "
                        "algorithm): evicting the least recently used keys, which forgets their "
                        "limits; raise max_keys (memory://?max_keys=N) or share state in "
                        "redis:// (tigerseal-redis)",
                        self.max_keys,
                    )
                entries.popitem(last=False)
                self._live_evictions[table] += 1
                self._evictions += 1

    # -- sliding-window log ----------------------------------------------------------------
    def _log(
        self, key: str | bytes, limit: int, window: float, cost: int, now: float, count: bool
    ) -> RateLimitDecision:
        with self._lock:
            log = self._logs.get(key)
            if log is None:
                if not count:
                    return RateLimitDecision(
                        cost <= limit, limit, limit, 0.0, 0.0 if cost <= limit else _INF
                    )
                if len(self._logs) >= self._sweep_logs_at or len(self._logs) >= self.max_keys:
                    self._make_room("logs", now)
                log = self._logs[key] = _Log(window)
            else:
                if count:
                    self._logs.move_to_end(key)
                if log.window != window:
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
        self, key: str | bytes, limit: int, window: float, cost: int, now: float, count: bool
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
                    counters = self._counters
                    if len(counters) >= self._sweep_counters_at or len(counters) >= self.max_keys:
                        self._make_room("counters", now)
                    counters[key] = [idx, current, previous, window]
                else:
                    self._counters.move_to_end(key)
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
        self, key: str | bytes, policy: RateLimitPolicy, cost: int, now: float, count: bool
    ) -> RateLimitDecision:
        limit = policy.limit
        burst = policy.burst_size
        interval = policy.window / limit
        tau = interval * burst
        with self._lock:
            tats = self._tats
            tat = tats.get(key)
            if tat is None:
                if count and (len(tats) >= self._sweep_tats_at or len(tats) >= self.max_keys):
                    self._make_room("tats", now)
                tat = now
            else:
                if count:
                    tats.move_to_end(key)
                if tat < now:
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


_EXPIRED: dict[str, Callable[[Any, float], bool]] = {
    "logs": lambda log, now: not log or log[-1] <= now - log.window,
    "counters": lambda st, now: (st[0] + 2) * st[3] <= now,
    "tats": lambda tat, now: tat <= now,
}


def _slot(key: str) -> str | bytes:
    """The stored form of ``key``: itself, or the SHA-256 digest of a long key.

    Raises:
        ConfigError: ``key`` is not a ``str`` (a ``bytes`` key could equal a long key's digest).
    """
    if key.__class__ is not str and not isinstance(key, str):
        raise bad_key(key)
    return key if len(key) <= MAX_KEY_LENGTH else long_key_digest(key)


@dataclass(frozen=True, slots=True)
class MemoryStorageOptions:
    """Options of ``memory://`` rate-limit storage (see :mod:`tigerseal.spi.options`)."""

    max_keys: int | None = option(None, ge=1, help="keys tracked before the oldest are evicted")
    sweep_threshold: int | None = option(None, uri=False, ge=1)
    clock: Callable[[], float] | None = option(None, uri=False)


def from_uri(uri: str, **options: Any) -> MemoryRateLimitStorage:
    """Factory of the ``memory`` spec: ``memory://`` or ``memory://?max_keys=N``.

    In production this needs ``TIGERSEAL_SINGLE_PROCESS=true``: with several workers each one
    would count alone. (Building :class:`MemoryRateLimitStorage` in code is an explicit choice
    and is not checked.)

    Raises:
        ConfigError: a host, path or unknown option is given, ``max_keys`` is not a whole
            number >= 1, or production without the single-process opt-in.
    """
    plugin = "memory:// rate-limit storage"
    parsed = parse_uri(uri, plugin=plugin, schemes=("memory",), example="memory://?max_keys=N")
    if parsed.authority or parsed.path not in ("", "/"):
        raise ConfigError(
            "memory rate-limit storage takes no location: use 'memory://' or "
            f"'memory://?max_keys=N', got {parsed.redacted()!r}"
        )
    opts = build_options(MemoryStorageOptions, plugin=plugin, uri=parsed.query, code=options)
    from tigerseal.config import check_per_process_store

    check_per_process_store(
        "TIGERSEAL_RATE_LIMIT_STORAGE",
        "every worker would count on its own, so a limit of 100 per hour admits 100 x workers "
        "and a client's penalties vanish on another worker",
        "redis://HOST:6379/0",
    )
    return MemoryRateLimitStorage(**given_options(opts))
