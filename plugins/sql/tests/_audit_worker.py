"""Audit worker: one process appending N records (from T threads) to a SQL audit sink.

Keys come from the environment settings (TIGERSEAL_KEY_PROVIDERS). Prints one JSON line.

Usage: python _audit_worker.py URL --records 100 --threads 2 [--batch]
"""

from __future__ import annotations

import argparse
import json
import os
import threading


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--checkpoint-every", type=int, default=25)
    args = parser.parse_args()

    from tigerseal.plugins import audit_sink_from_uri

    sink = audit_sink_from_uri(args.url, checkpoint_every=args.checkpoint_every)
    per_thread = args.records // args.threads

    def work(t: int) -> None:
        for i in range(per_thread):
            sink.write(
                {
                    "ts": "2025-01-01T00:00:00.000000Z",
                    "event_type": "authn_login_success",
                    "risk_level": "low",
                    "pid": os.getpid(),
                    "thread": t,
                    "i": i,
                }
            )

    threads = [threading.Thread(target=work, args=(t,)) for t in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    print(json.dumps({"pid": os.getpid(), "written": per_thread * args.threads}))


if __name__ == "__main__":
    main()
