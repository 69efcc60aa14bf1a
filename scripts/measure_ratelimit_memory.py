"""One-off: memory held by the memory rate-limit storage for N distinct keys (tracemalloc).

    .venv/bin/python scripts/measure_ratelimit_memory.py [N] [ALGORITHM] [--unbounded]

One hit each on N distinct keys (limit 100 per hour), then (on a fresh storage) one 10 MiB key;
prints the traced memory each step holds. Not a test: the figures go to docs/ratelimit.md.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc

from tigerseal.ratelimit._memory import MemoryRateLimitStorage
from tigerseal.spi.services import RateLimitPolicy


def main() -> None:
    """Measure and print (see the module docstring)."""
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 1_000_000
    algorithm = args[1] if len(args) > 1 else "sliding_window_log"
    options = {}
    if "--unbounded" in sys.argv:
        options["max_keys"] = n + 1
    try:
        storage = MemoryRateLimitStorage(**options)  # type: ignore[arg-type]
    except TypeError:  # before the bound existed
        storage = MemoryRateLimitStorage()
    policy = RateLimitPolicy(100, 3600, algorithm)  # type: ignore[arg-type]
    keys = [f"user:{i:09d}" for i in range(n)]  # built before tracing: not the storage's
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for key in keys:
        storage.acquire(key, policy)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    print(f"{algorithm}: {n:,} keys -> {storage.key_count():,} held, {held / 2**20:,.1f} MiB")
    # On a fresh storage, so a table resize does not blur the figure.
    storage = MemoryRateLimitStorage()
    storage.acquire("small", policy)
    before = tracemalloc.get_traced_memory()[0]
    big = "k" * (10 * 2**20)
    storage.acquire(big, policy)
    del big
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    print(f"{algorithm}: one 10 MiB key -> {grown / 2**20:,.2f} MiB more")


if __name__ == "__main__":
    main()
