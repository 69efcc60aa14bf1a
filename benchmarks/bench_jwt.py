"""JWT create+verify: tigerseal's TokenManager against raw PyJWT, per algorithm.

One operation creates a token and verifies it. Both sides do the same work:

* raw PyJWT: ``jwt.encode`` of ``sub``, ``iat``, ``exp``, ``jti`` (``secrets.token_urlsafe``),
  ``iss`` and ``scope`` with an already-loaded key object, then ``jwt.decode`` with the
  algorithm pinned, the issuer checked and the four claims required;
* tigerseal: ``TokenManager.create(subject, scopes)`` then ``TokenManager.verify(token)``, which
  also selects the key by ``kid`` with its bound algorithm, checks the token type and consults
  the memory revocation store (``jti`` and refresh family).

Rounds are interleaved and the best round of each side counts. Target (issue 3): at least 0.8x
raw PyJWT operations per second, for HS256, ES256, EdDSA and RS256 (2048-bit).

    .venv/bin/python benchmarks/bench_jwt.py [--quick]

Writes ``benchmarks/results/jwt.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit

ALGORITHMS = ("HS256", "ES256", "EdDSA", "RS256")
Op = Callable[[], None]


def contenders(alg: str) -> tuple[Op, Op]:
    import jwt
    from tigerseal.tokens import JWTKey, KeySet, MemoryRevocationStore, TokenManager

    key = JWTKey.generate(alg)
    manager = TokenManager(KeySet([key]), issuer="bench", revocation=MemoryRevocationStore())
    # The same key material, handed to PyJWT as it is best used: loaded key objects.
    sign_key, verify_key = key._sign_key, key._verify_key
    options = {"require": ["exp", "iat", "sub", "jti"]}

    def raw() -> None:
        now = int(time.time())
        claims = {
            "sub": "user-42",
            "iat": now,
            "exp": now + 3600,
            "jti": secrets.token_urlsafe(16),
            "iss": "bench",
            "scope": "read write",
        }
        token = jwt.encode(claims, sign_key, algorithm=alg, headers={"kid": key.kid})
        decoded = jwt.decode(token, verify_key, algorithms=[alg], issuer="bench", options=options)
        assert decoded["sub"] == "user-42"

    def ours() -> None:
        assert manager.verify(manager.create("user-42", ["read", "write"])).sub == "user-42"

    return raw, ours


def rate(op: Op, seconds: float) -> float:
    """Operations per second over one batch of about ``seconds``."""
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(8):
            op()
        n += 8
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter rounds")
    args = parser.parse_args()
    rounds, seconds = (4, 0.3) if args.quick else (10, 1.0)
    rows: list[dict[str, Any]] = []
    for alg in ALGORITHMS:
        raw, ours = contenders(alg)
        raw(), ours()
        best = {"raw": 0.0, "ours": 0.0}
        for i in range(rounds):
            order = [("raw", raw), ("ours", ours)]
            for side, op in order if i % 2 == 0 else reversed(order):
                best[side] = max(best[side], rate(op, seconds))
        rows.append(
            {
                "name": alg,
                "PyJWT ops/s": best["raw"],
                "tigerseal ops/s": best["ours"],
                "ratio (x)": best["ours"] / best["raw"],
                "target": ">= 0.8",
            }
        )
    emit("jwt", rows)


if __name__ == "__main__":
    main()
