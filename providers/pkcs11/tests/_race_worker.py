"""Rotation race worker: one process that rotates a key each time its parent says ``go``.

Run in pairs by test_rotation_race.py. Each line ``rotate`` on stdin makes the worker call
``Pkcs11Provider.rotate()`` once and print one JSON line (the version it returned, or the
error). Both workers block on stdin, so the parent releases them together and their
scan-then-create sequences overlap on the token.

Usage: python _race_worker.py URI
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    from tigerseal_pkcs11._provider import Pkcs11Provider

    provider = Pkcs11Provider(sys.argv[1])
    print(json.dumps({"ready": provider.key_version}), flush=True)
    for line in sys.stdin:
        if line.strip() != "rotate":
            break
        try:
            version = provider.rotate()
            print(json.dumps({"version": version}), flush=True)
        except Exception as exc:  # reported to the parent, which fails the test
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
    provider.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
