"""Worker process for the multi-process Redis tests: one process, N threads, one shared key.

Every thread waits until the Redis key ``GO_KEY`` exists (so all processes start together),
then runs its operations. Prints one JSON line: the results counted by this process.

Usage:
    python _worker.py URL acquire KEY --algorithm gcra --limit 500 --threads 8 --ops 40
    python _worker.py URL mark_used JTI --threads 8
    python _worker.py URL revoke JTI
    python _worker.py URL is_revoked JTI
"""

from __future__ import annotations

import argparse
import json
import threading
import time

GO_KEY = "test:go"


def wait_for_go(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 30
    while not client.exists(GO_KEY):
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        time.sleep(0.005)
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("op")
    parser.add_argument("key")
    parser.add_argument("--algorithm", default="sliding_window_log")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--window", type=float, default=3600.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--ops", type=int, default=40)
    parser.add_argument("--wait", action="store_true", help="wait for the go signal")
    args = parser.parse_args()

    from tigerseal.plugins import rate_limit_storage_from_uri, revocation_store_from_uri
    from tigerseal.spi.services import RateLimitPolicy

    if args.op in ("revoke", "is_revoked"):
        store = revocation_store_from_uri(args.url)
        if args.op == "revoke":
            store.revoke(args.key, time.time() + 600)
            print(json.dumps({"revoked": True}))
        else:
            print(json.dumps({"revoked": store.is_revoked(args.key)}))
        return

    counts = {"admitted": 0, "denied": 0, "errors": 0}
    lock = threading.Lock()
    if args.op == "acquire":
        storage = rate_limit_storage_from_uri(args.url, on_outage="fail_closed")
        policy = RateLimitPolicy(args.limit, args.window, args.algorithm)  # type: ignore[arg-type]

        def work() -> None:
            for _ in range(args.ops):
                try:
                    allowed = storage.acquire(args.key, policy).allowed
                except Exception:
                    with lock:
                        counts["errors"] += 1
                    continue
                with lock:
                    counts["admitted" if allowed else "denied"] += 1

    elif args.op == "mark_used":
        store = revocation_store_from_uri(args.url)

        def work() -> None:
            first = store.mark_used(args.key, time.time() + 600)
            with lock:
                counts["admitted" if first else "denied"] += 1

    else:
        raise SystemExit(f"unknown op {args.op}")

    if args.wait:
        wait_for_go(args.url)
    threads = [threading.Thread(target=work) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
