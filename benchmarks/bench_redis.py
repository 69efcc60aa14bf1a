"""Redis rate limiting: tigerseal's Lua storage against ``limits`` and a bare PING, one server.

Starts a private ``redis-server`` on a free port (stopped by PID at the end) and measures
decisions per second from one client, interleaved round by round (best round counts, so a
busy neighbour on this shared machine penalises every contender alike):

* ``PING`` through redis-py: one round trip doing nothing, the ceiling of any one-round-trip
  decision;
* ``limits`` ``MovingWindowRateLimiter(RedisStorage)``.hit: the anchor (a Lua moving window);
* tigerseal ``RedisRateLimitStorage.acquire`` for the sliding-window log, the sliding-window
  counter and GCRA (server clock, full decision with remaining / reset / retry-after).

Cases: one hot key with a limit never reached (every hit admitted), one hot key over its limit
(every hit rejected), 10,000 keys round robin. Then, untimed, 4 threads x 2,000 hits on one key
check that exactly the limit is admitted. Targets (issue 7): at least 0.9x the PING rate and
faster than ``limits``.

    .venv/bin/python benchmarks/bench_redis.py [--quick]

Writes ``benchmarks/results/redis.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit

os.environ.setdefault("TIGERSEAL_AUDIT_SINKS", "logging://")

KEYS = [f"api_key_{i}" for i in range(10_000)]
Runner = Callable[[int], None]


@contextmanager
def redis_server() -> Iterator[str]:
    """A private redis-server (no persistence) on a free port; yields its URL."""
    binary = shutil.which("redis-server") or sys.exit("redis-server not found (apt redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        import redis

        client = redis.Redis(port=port, socket_timeout=1)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def ping(url: str, limit: int, keys: list[str]) -> tuple[Runner, Callable[[], None]]:
    import redis

    client = redis.Redis.from_url(url)
    fn = client.ping

    def run(n: int) -> None:
        for _ in range(n):
            fn()

    return run, client.close


def limits_moving(url: str, limit: int, keys: list[str]) -> tuple[Runner, Callable[[], None]]:
    from limits import RateLimitItemPerHour
    from limits.storage import RedisStorage
    from limits.strategies import MovingWindowRateLimiter

    storage = RedisStorage(url)
    hit = MovingWindowRateLimiter(storage).hit
    item = RateLimitItemPerHour(limit)
    nkeys = len(keys)

    def run(n: int) -> None:
        for i in range(n):
            hit(item, keys[i % nkeys])

    return run, lambda: None


def tigerseal(algorithm: str) -> Callable[[str, int, list[str]], tuple[Runner, Callable[[], None]]]:
    def make(url: str, limit: int, keys: list[str]) -> tuple[Runner, Callable[[], None]]:
        from tigerseal.spi.services import RateLimitPolicy
        from tigerseal_redis.storage import from_uri

        storage = from_uri(url, on_outage="fail_closed")
        policy = RateLimitPolicy(limit, 3600, algorithm)  # type: ignore[arg-type]
        acquire = storage.acquire
        nkeys = len(keys)

        def run(n: int) -> None:
            for i in range(n):
                acquire(keys[i % nkeys], policy)

        return run, storage.close

    return make


CONTENDERS: dict[str, Callable[[str, int, list[str]], tuple[Runner, Callable[[], None]]]] = {
    "PING (redis-py, ceiling)": ping,
    "limits MovingWindow (anchor)": limits_moving,
    "tigerseal acquire (sliding log)": tigerseal("sliding_window_log"),
    "tigerseal acquire (sliding counter)": tigerseal("sliding_window_counter"),
    "tigerseal acquire (gcra)": tigerseal("gcra"),
}

CASES = {
    "hot key, never limited": (10_000_000, ["hot"]),
    "hot key, over its limit (rejections)": (100, ["hot"]),
    "10,000 keys, 1000/h": (1000, KEYS),
}


def measure(url: str, n: int, rounds: int) -> list[dict[str, Any]]:
    import redis

    admin = redis.Redis.from_url(url)
    rows: list[dict[str, Any]] = []
    for case, (limit, keys) in CASES.items():
        best: dict[str, float] = dict.fromkeys(CONTENDERS, 0.0)
        for _ in range(rounds):
            for name, make in CONTENDERS.items():
                admin.flushall()
                run, close = make(url, limit, keys)
                run(min(n, 500))  # warm up: connection, script cache, reach the limit
                t = time.perf_counter()
                run(n)
                best[name] = max(best[name], n / (time.perf_counter() - t))
                close()
        ceiling = best["PING (redis-py, ceiling)"]
        anchor = best["limits MovingWindow (anchor)"]
        for name, rate in best.items():
            rows.append(
                {
                    "group": case,
                    "name": name,
                    "decisions_per_s": rate,
                    "vs_ping": rate / ceiling,
                    "vs_limits": rate / anchor,
                }
            )
    admin.close()
    return rows


def exactness(url: str) -> dict[str, Any]:
    from tigerseal.spi.services import RATE_LIMIT_ALGORITHMS, RateLimitPolicy
    from tigerseal_redis.storage import from_uri

    result: dict[str, Any] = {"group": "4 threads x 2,000 hits, one key, limit 3,000"}
    result["name"] = "exactness"
    for algorithm in RATE_LIMIT_ALGORITHMS:
        storage = from_uri(url, on_outage="fail_closed")
        # A window long enough that GCRA refills nothing while the threads run.
        policy = RateLimitPolicy(3000, 10_000_000, algorithm)
        admitted = [0] * 4

        def hammer(
            i: int, storage: Any = storage, policy: Any = policy, admitted: list[int] = admitted
        ) -> None:
            for _ in range(2000):
                if storage.acquire(f"exact-{policy.algorithm}", policy).allowed:
                    admitted[i] += 1

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        result[f"admitted_{algorithm}"] = sum(admitted)
        storage.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--url", help="use this Redis instead of starting one")
    args = parser.parse_args()
    n = 2_000 if args.quick else 10_000
    rounds = 3 if args.quick else 7
    if args.url:
        rows = measure(args.url, n, rounds)
        rows.append(exactness(args.url))
    else:
        with redis_server() as url:
            rows = measure(url, n, rounds)
            rows.append(exactness(url))
    emit("redis", rows)


if __name__ == "__main__":
    main()
