"""Memory rate limiting: tigerseal against ``limits`` (moving window, memory storage).

Measures decisions per second, in the same run and interleaved round by round (the best round of
each counts, so a busy neighbour on this shared machine penalises both sides alike):

* one hot key, limit 1000/hour: after the first 1000 hits almost every decision is a
  rejection (an abusive client);
* one hot key, limit 10,000,000/hour: every hit is admitted (the log grows);
* 10,000 keys round robin, limit 1000/hour: every hit admitted (a busy API).

Contenders: ``limits.strategies.MovingWindowRateLimiter(MemoryStorage()).hit`` (the anchor);
tigerseal's seed API ``verify_rate_limit`` (sliding-window log, the default), the
``RateLimiter.hit`` method, the storage's ``acquire`` (which builds a full decision with
remaining/reset/retry), and for reference the counter and GCRA algorithms and ``limits``'
sliding-window counter. Target (issue 3): tigerseal's memory limiter at least matches the
``limits`` moving window, both cases.

Also checks, untimed, that 8 threads hammering one key admit exactly the limit.

    .venv/bin/python benchmarks/bench_ratelimit.py [--quick]

Writes ``benchmarks/results/ratelimit.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit

# Rejections write an audit event (once per key and window): keep it out of the working tree.
_TMP = tempfile.mkdtemp(prefix="tigerseal-bench-rl-")
os.environ["TIGERSEAL_AUDIT_SINKS"] = f"file://{_TMP}/audit.jsonl"
os.environ["TIGERSEAL_KEY_PROVIDERS"] = "fake://bench-ratelimit"
from tigerseal.testing import register_fake_provider  # noqa: E402 - fake:// is opt-in

register_fake_provider()
os.environ.pop("TIGERSEAL_RATE_LIMIT_STORAGE", None)
os.environ.pop("TIGERSEAL_RATE_LIMIT_ALGORITHM", None)

KEYS = [f"api_key_{i}" for i in range(10_000)]

Runner = Callable[[int], None]


def limits_moving(limit: int, keys: list[str]) -> tuple[Runner, Callable[[], None]]:
    from limits import RateLimitItemPerHour
    from limits.storage import MemoryStorage
    from limits.strategies import MovingWindowRateLimiter

    storage = MemoryStorage()
    limiter = MovingWindowRateLimiter(storage)
    item = RateLimitItemPerHour(limit)
    hit = limiter.hit
    nkeys = len(keys)

    def run(n: int) -> None:
        for i in range(n):
            hit(item, keys[i % nkeys])

    return run, storage.timer.cancel


def limits_counter(limit: int, keys: list[str]) -> tuple[Runner, Callable[[], None]]:
    from limits import RateLimitItemPerHour
    from limits.storage import MemoryStorage
    from limits.strategies import SlidingWindowCounterRateLimiter

    storage = MemoryStorage()
    limiter = SlidingWindowCounterRateLimiter(storage)
    item = RateLimitItemPerHour(limit)
    hit = limiter.hit
    nkeys = len(keys)

    def run(n: int) -> None:
        for i in range(n):
            hit(item, keys[i % nkeys])

    return run, storage.timer.cancel


def ts_verify(limit: int, keys: list[str]) -> tuple[Runner, Callable[[], None]]:
    from tigerseal.ratelimit import reset_rate_limiter, verify_rate_limit

    reset_rate_limiter()
    nkeys = len(keys)

    def run(n: int) -> None:
        for i in range(n):
            verify_rate_limit(keys[i % nkeys], limit, 3600)

    return run, reset_rate_limiter


def ts_limiter(algorithm: str) -> Callable[[int, list[str]], tuple[Runner, Callable[[], None]]]:
    def make(limit: int, keys: list[str]) -> tuple[Runner, Callable[[], None]]:
        from tigerseal.ratelimit import MemoryRateLimitStorage, RateLimiter

        limiter = RateLimiter(
            MemoryRateLimitStorage(),
            algorithm=algorithm,
            default_limit=1000,  # type: ignore[arg-type]
        )
        hit = limiter.hit
        nkeys = len(keys)

        def run(n: int) -> None:
            for i in range(n):
                hit(keys[i % nkeys], limit, 3600)

        return run, lambda: None

    return make


def ts_acquire(limit: int, keys: list[str]) -> tuple[Runner, Callable[[], None]]:
    from tigerseal.ratelimit import MemoryRateLimitStorage, RateLimitPolicy

    storage = MemoryRateLimitStorage()
    policy = RateLimitPolicy(limit, 3600)
    acquire = storage.acquire
    nkeys = len(keys)

    def run(n: int) -> None:
        for i in range(n):
            acquire(keys[i % nkeys], policy)

    return run, lambda: None


CONTENDERS: dict[str, Callable[[int, list[str]], tuple[Runner, Callable[[], None]]]] = {
    "limits MovingWindow (anchor)": limits_moving,
    "tigerseal verify_rate_limit (log)": ts_verify,
    "tigerseal RateLimiter.hit (log)": ts_limiter("sliding_window_log"),
    "tigerseal storage.acquire (log, full decision)": ts_acquire,
    "tigerseal RateLimiter.hit (counter)": ts_limiter("sliding_window_counter"),
    "tigerseal RateLimiter.hit (gcra)": ts_limiter("gcra"),
    "limits SlidingWindowCounter": limits_counter,
}

CASES = {
    "hot key, 1000/h (rejections)": (1000, ["hot"]),
    "hot key, 10M/h (admissions)": (10_000_000, ["hot"]),
    "10,000 keys, 1000/h": (1000, KEYS),
}


def measure(n: int, rounds: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for case, (limit, keys) in CASES.items():
        best: dict[str, float] = dict.fromkeys(CONTENDERS, 0.0)
        for _ in range(rounds):
            for name, make in CONTENDERS.items():
                run, cleanup = make(limit, keys)
                run(min(n, 2000))  # warm up (and, for the hot key, reach the limit)
                t = time.perf_counter()
                run(n)
                rate = n / (time.perf_counter() - t)
                cleanup()
                best[name] = max(best[name], rate)
        anchor = best["limits MovingWindow (anchor)"]
        for name, rate in best.items():
            rows.append(
                {
                    "group": case,
                    "name": name,
                    "decisions_per_s": rate,
                    "vs_limits_moving_window": rate / anchor,
                }
            )
    return rows


def exactness() -> dict[str, Any]:
    from tigerseal.ratelimit import MemoryRateLimitStorage, RateLimitPolicy

    result: dict[str, Any] = {"group": "8 threads, one key, limit 5000", "name": "exactness"}
    for algorithm in ("sliding_window_log", "sliding_window_counter", "gcra"):
        storage = MemoryRateLimitStorage()
        policy = RateLimitPolicy(5000, 3600, algorithm)  # type: ignore[arg-type]
        admitted = [0] * 8

        def hammer(
            i: int, storage: Any = storage, policy: Any = policy, admitted: list[int] = admitted
        ) -> None:
            for _ in range(2000):
                if storage.acquire("hot", policy).allowed:
                    admitted[i] += 1

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        result[f"admitted_{algorithm}"] = sum(admitted)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args()
    n = 50_000 if args.quick else 200_000
    rounds = 2 if args.quick else 5
    rows = measure(n, rounds)
    rows.append(exactness())
    emit("ratelimit", rows)


if __name__ == "__main__":
    main()
