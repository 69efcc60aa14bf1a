"""Load worker: N threads x M wrap+unwrap round trips through one shared provider.

Run in a subprocess by test_load.py, so a crash of the PKCS#11 module (SIGSEGV, abort on heap
corruption) fails one test instead of killing the test runner. Prints one JSON line and exits
0 only if every round trip returned the right key without an exception.

Usage: python _load_worker.py URI --threads 8 --ops 1000 [--usage both] [--rotate-at 500]
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time
import traceback


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("uri")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--usage", default="both")
    parser.add_argument("--rotate-at", type=int, default=-1)
    args = parser.parse_args()

    from tigerseal_pkcs11._admin import init_key
    from tigerseal_pkcs11._provider import Pkcs11Provider

    init_key(args.uri, usage=args.usage)
    provider = Pkcs11Provider(args.uri)
    errors: list[str] = []
    done = [0] * args.threads
    start = threading.Barrier(args.threads)

    def work(index: int) -> None:
        start.wait()
        try:
            for i in range(args.ops):
                context = {"thread": str(index), "op": str(i)}
                if i % 2:
                    data_key = provider.generate_data_key(context)
                    dek, wrapped = data_key.plaintext, data_key.wrapped
                else:
                    dek = secrets.token_bytes(32)
                    wrapped = provider.wrap(dek, context)
                if provider.unwrap(wrapped, context) != dek:
                    errors.append(f"thread {index} op {i}: wrong key")
                if index == 0 and i == args.rotate_at:
                    provider.rotate()
                done[index] += 1
        except BaseException:
            errors.append(traceback.format_exc(limit=5))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(args.threads)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    print(
        json.dumps(
            {
                "round_trips": sum(done),
                "errors": len(errors),
                "first_errors": errors[:3],
                "seconds": round(seconds, 3),
                "key_version": provider.key_version,
                "mechanism": provider.mechanism,
            }
        )
    )
    provider.close()
    return 0 if not errors and sum(done) == args.threads * args.ops else 1


if __name__ == "__main__":
    sys.exit(main())
