"""Password hashing: tigerseal's hash+verify against the libraries it wraps, same parameters.

For each scheme one operation is ``hash(password)`` followed by ``verify(password, hash)``:

* argon2id: ``argon2.PasswordHasher()`` (RFC 9106 low-memory profile, argon2-cffi's default)
  against ``tigerseal.passwords.hash_password`` / ``verify_password`` (the seed's API, which
  goes through the plugin registry and scheme identification);
* bcrypt (12 rounds): ``bcrypt.hashpw`` / ``bcrypt.checkpw`` against the bcrypt scheme;
* scrypt (N=2^17, r=8, p=1) and PBKDF2-SHA256 (600,000 iterations) against ``hashlib``.

Rounds are interleaved (raw, ours, ours, raw, ...). Each round yields one paired ratio (ours
over raw, measured back to back, so a busy neighbour on this shared machine penalises both
alike); the overhead reported is the median of those ratios. The fastest time of each side is
shown too. Target (issue 3): overhead at most 1.05x the raw library.

A single hash takes 0.1-1 s, so on a shared machine those ratios carry a few percent of noise.
A second table therefore measures tigerseal's fixed cost directly: the same comparison with the
cheapest parameters of each scheme (where wrapper cost is not hidden by hashing cost), many
operations per batch, best batch of each side. The fixed cost in microseconds, added to the raw
default-parameter time, gives the overhead the wrapper itself causes at the defaults.

    .venv/bin/python benchmarks/bench_passwords.py [--quick]

Writes ``benchmarks/results/passwords.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit

for _name in ("PASSWORD_HASH_ALGORITHM", "PBKDF2_ITERATIONS", "TIGERSEAL_PASSWORD_PEPPER_FILE"):
    os.environ.pop(_name, None)

PASSWORD = "correct horse battery staple"  # noqa: S105 - benchmark input
Op = Callable[[], None]


def raw_argon2() -> Op:
    import argon2

    ph = argon2.PasswordHasher()

    def op() -> None:
        assert ph.verify(ph.hash(PASSWORD), PASSWORD)

    return op


def ours_argon2() -> Op:
    from tigerseal.passwords import hash_password, verify_password

    def op() -> None:
        assert verify_password(PASSWORD, hash_password(PASSWORD))

    return op


def raw_bcrypt() -> Op:
    import bcrypt

    secret = PASSWORD.encode()

    def op() -> None:
        assert bcrypt.checkpw(secret, bcrypt.hashpw(secret, bcrypt.gensalt(12)))

    return op


def ours_scheme(name: str, **options: Any) -> Op:
    from tigerseal.passwords import PasswordContext

    ctx = PasswordContext(name, options={name: options})

    def op() -> None:
        assert ctx.verify(PASSWORD, ctx.hash(PASSWORD))

    return op


def raw_scrypt() -> Op:
    secret = PASSWORD.encode()
    n, r, p = 1 << 17, 8, 1
    maxmem = 128 * r * (n + p + 2) + (1 << 20)

    def op() -> None:
        salt = secrets.token_bytes(16)
        digest = hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, dklen=32, maxmem=maxmem)
        again = hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, dklen=32, maxmem=maxmem)
        assert hmac.compare_digest(digest, again)

    return op


def raw_pbkdf2() -> Op:
    secret = PASSWORD.encode()

    def op() -> None:
        salt = secrets.token_bytes(16)
        digest = hashlib.pbkdf2_hmac("sha256", secret, salt, 600_000)
        assert hmac.compare_digest(digest, hashlib.pbkdf2_hmac("sha256", secret, salt, 600_000))

    return op


def cheap_pairs() -> list[tuple[str, Op, Op]]:
    """Raw and tigerseal hash+verify at each scheme's minimal parameters."""
    import argon2
    import bcrypt
    from tigerseal.passwords import PasswordContext

    ph = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    secret = PASSWORD.encode()

    def raw_argon2() -> None:
        assert ph.verify(ph.hash(PASSWORD), PASSWORD)

    def raw_bcrypt() -> None:
        assert bcrypt.checkpw(secret, bcrypt.hashpw(secret, bcrypt.gensalt(4)))

    def raw_scrypt() -> None:
        salt = secrets.token_bytes(16)
        digest = hashlib.scrypt(secret, salt=salt, n=16, r=8, p=1, dklen=32)
        assert hmac.compare_digest(
            digest, hashlib.scrypt(secret, salt=salt, n=16, r=8, p=1, dklen=32)
        )

    def raw_pbkdf2() -> None:
        salt = secrets.token_bytes(16)
        digest = hashlib.pbkdf2_hmac("sha256", secret, salt, 1)
        assert hmac.compare_digest(digest, hashlib.pbkdf2_hmac("sha256", secret, salt, 1))

    options = {
        "argon2": {"time_cost": 1, "memory_cost": 64, "parallelism": 1},
        "bcrypt": {"rounds": 4},
        "scrypt": {"ln": 4},
        "pbkdf2-sha256": {"iterations": 1},
    }
    raws = {"argon2": raw_argon2, "bcrypt": raw_bcrypt, "scrypt": raw_scrypt,
            "pbkdf2-sha256": raw_pbkdf2}  # fmt: skip
    pairs = []
    for name, opts in options.items():
        ctx = PasswordContext(name, options={name: opts})

        def ours(ctx: PasswordContext = ctx) -> None:
            assert ctx.verify(PASSWORD, ctx.hash(PASSWORD))

        pairs.append((name, raws[name], ours))
    return pairs


def per_op(op: Op, batch: int, rounds: int) -> float:
    """Best seconds per operation over ``rounds`` batches."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(batch):
            op()
        best = min(best, (time.perf_counter() - start) / batch)
    return best


def timed(op: Op) -> float:
    start = time.perf_counter()
    op()
    return time.perf_counter() - start


def compare(raw: Op, ours: Op, rounds: int) -> tuple[float, float, float]:
    """Fastest seconds of each side and the median paired ratio, interleaved ABBA."""
    raw(), ours()  # warm up: imports, registry, first allocation
    raw_times: list[float] = []
    our_times: list[float] = []
    for i in range(rounds):
        if i % 2 == 0:
            raw_times.append(timed(raw))
            our_times.append(timed(ours))
        else:
            our_times.append(timed(ours))
            raw_times.append(timed(raw))
    ratios = [o / r for o, r in zip(our_times, raw_times, strict=True)]
    return min(raw_times), min(our_times), statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    rounds = 5 if args.quick else 15
    cases: list[tuple[str, str, Op, Op]] = [
        ("argon2id (t=3, m=64 MiB, p=4)", "argon2-cffi", raw_argon2(), ours_argon2()),
        ("bcrypt (12 rounds)", "bcrypt", raw_bcrypt(), ours_scheme("bcrypt", rounds=12)),
        ("scrypt (N=2^17, r=8, p=1)", "hashlib", raw_scrypt(), ours_scheme("scrypt")),
        ("pbkdf2-sha256 (600k)", "hashlib", raw_pbkdf2(), ours_scheme("pbkdf2-sha256")),
    ]
    rows: list[dict[str, Any]] = []
    for name, library, raw, ours in cases:
        best_raw, best_ours, overhead = compare(raw, ours, rounds)
        rows.append(
            {
                "name": name,
                "raw library": library,
                "raw best ms (hash+verify)": best_raw * 1000,
                "tigerseal best ms (hash+verify)": best_ours * 1000,
                "overhead (x, median of paired rounds)": overhead,
                "overhead (x, best vs best)": best_ours / best_raw,
                "target": "<= 1.05",
            }
        )
    fixed: list[dict[str, Any]] = []
    defaults = {row["name"].split(" ")[0]: row["raw best ms (hash+verify)"] for row in rows}
    batch, fixed_rounds = (50, 5) if args.quick else (200, 15)
    for name, raw_op, our_op in cheap_pairs():
        raw_op(), our_op()
        raw_t = our_t = float("inf")
        for i in range(fixed_rounds):
            for side in ("raw", "ours") if i % 2 == 0 else ("ours", "raw"):
                if side == "raw":
                    raw_t = min(raw_t, per_op(raw_op, batch, 1))
                else:
                    our_t = min(our_t, per_op(our_op, batch, 1))
        cost_us = max(0.0, (our_t - raw_t) * 1e6)
        default_ms = defaults[name.replace("argon2", "argon2id")]
        fixed.append(
            {
                "name": f"{name} (fixed cost)",
                "raw us (minimal params)": raw_t * 1e6,
                "tigerseal us (minimal params)": our_t * 1e6,
                "wrapper cost us": cost_us,
                "overhead at defaults (x)": 1 + cost_us / (default_ms * 1000),
            }
        )
    emit("passwords", rows)
    print()
    emit("passwords_fixed_cost", fixed)


if __name__ == "__main__":
    main()
