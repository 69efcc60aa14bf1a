"""The 1 KiB hot path (issue 15.1, 15.2): tigerseal against its anchors, same run, medians.

Contenders, each a full 1 KiB encrypt + decrypt round trip through the binary form:

* raw ``cryptography`` AESGCM (the floor every ratio is taken against);
* Tink ``KmsEnvelopeAead`` over a local AEAD as "KMS";
* the bare-code contender (``_bare_envelope.py``: format.md's steps by hand, the manifest
  included), on ``env://`` without a context and on ``file://`` with a 3-pair context;
* tigerseal ``env://`` (fresh data key, data-key cache) and ``file://`` on the contender's
  keyring and context;
* ``encrypt_many`` / ``decrypt_many`` over a batch of 1 KiB values (rate per value), when the
  service has them.

Rounds are interleaved (every contender once per round, the order rotated), each timed for a
slice of ~20 ms of process CPU time; ratios are taken within each round and the table reports
their median (and interquartile range) over the rounds. ``--profile NAME`` prints a cProfile of one
contender instead (Python function calls per round trip and where the time goes).

    .venv/bin/python benchmarks/bench_hotpath.py [--quick] [--rounds N] [--profile NAME]

Writes ``benchmarks/results/hotpath.json``.
"""

from __future__ import annotations

import argparse
import atexit
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _bare_envelope import BareEnvelope, BareFileEnvelope
from _common import emit
from bench_envelope import raw_aesgcm, tink_envelope

KIB = 1024
CTX = {"table": "accounts", "column": "secret", "pk": "12345"}
BATCH = 100


def contenders(batch: int) -> dict[str, tuple[Callable[[], object], int]]:
    """name -> (one call, values per call)."""
    from tigerseal.envelope import CachePolicy, EncryptionService
    from tigerseal.plugins import key_provider_from_uri
    from tigerseal.providers.file import FileKeyProvider, create_keyring

    pt = os.urandom(KIB)
    kek = secrets.token_bytes(32)
    os.environ["TIGERSEAL_BENCH_KEY"] = kek.hex()
    env = key_provider_from_uri("env://TIGERSEAL_BENCH_KEY")
    fresh = EncryptionService(env)
    cached = EncryptionService(env, cache=CachePolicy())
    bare_env = BareEnvelope("env", "TIGERSEAL_BENCH_KEY", {1: kek}, 1)

    tmp = Path(tempfile.mkdtemp(prefix="bench-hot-"))
    tmp.chmod(0o700)
    atexit.register(shutil.rmtree, tmp, True)  # the keyring holds key material
    keyring = tmp / "keyring.json"
    create_keyring(keyring)
    file_svc = EncryptionService(FileKeyProvider(keyring))
    bare_file = BareFileEnvelope(keyring)

    # Each reads the other's messages: the contender does the same work, not less.
    assert fresh.decrypt(bare_env.encrypt(pt, {})) == pt
    assert bare_env.decrypt(bytes(fresh.encrypt(pt)), {}) == pt
    assert file_svc.decrypt(bare_file.encrypt(pt, CTX), CTX) == pt
    assert bare_file.decrypt(bytes(file_svc.encrypt(pt, CTX)), CTX) == pt

    raw = raw_aesgcm()
    tink = tink_envelope()
    out: dict[str, tuple[Callable[[], object], int]] = {
        "raw AESGCM (floor)": (lambda: raw(pt), 1),
        "Tink KmsEnvelopeAead": (lambda: tink(pt), 1),
        "bare contender env://": (lambda: bare_env.decrypt(bare_env.encrypt(pt, {}), {}), 1),
        "bare contender file://, 3-pair context": (
            lambda: bare_file.decrypt(bare_file.encrypt(pt, CTX), CTX),
            1,
        ),
        "tigerseal env://, fresh DEK": (lambda: fresh.decrypt(bytes(fresh.encrypt(pt))), 1),
        "tigerseal env://, data-key cache": (
            lambda: cached.decrypt(bytes(cached.encrypt(pt))),
            1,
        ),
        "tigerseal file://, fresh DEK, 3-pair context": (
            lambda: file_svc.decrypt(bytes(file_svc.encrypt(pt, CTX)), CTX),
            1,
        ),
    }
    if hasattr(fresh, "encrypt_many"):
        values = [os.urandom(KIB) for _ in range(batch)]
        contexts = [{**CTX, "pk": str(i)} for i in range(batch)]

        def many(svc: Any, ctxs: Any) -> None:
            msgs = [bytes(m) for m in svc.encrypt_many(values, ctxs)]
            back = svc.decrypt_many(msgs, ctxs)
            assert back[-1] == values[-1]

        out[f"tigerseal env:// encrypt_many+decrypt_many ({batch}, per value)"] = (
            lambda: many(fresh, None),
            batch,
        )
        out[f"tigerseal file:// encrypt_many+decrypt_many ({batch}, per-row contexts)"] = (
            lambda: many(file_svc, contexts),
            batch,
        )
    return out


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per CPU second over about ``seconds`` (batches grow until one takes ~1/4 of it).

    CPU time of this process, not wall time: on the shared 2-core machine the other helpers'
    work preempts ours for whole milliseconds, which wall time would charge to whichever
    contender happened to run. Every contender is single-threaded, so CPU time is its cost.
    """
    n, spent, calls = 1, 0.0, 0
    while spent < seconds:
        t = time.process_time()
        for _ in range(n):
            fn()
        dt = time.process_time() - t
        spent += dt
        calls += n
        if dt < seconds / 4:
            n *= 2
    return calls / spent


def profile(fn: Callable[[], object], per: int, n: int = 3000) -> None:
    import cProfile
    import pstats

    for _ in range(200):
        fn()
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(n):
        fn()
    pr.disable()
    st = pstats.Stats(pr)
    calls = sum(v[1] for v in st.stats.values())  # type: ignore[attr-defined]
    print(f"{calls / n / per:.1f} Python-level calls per value (cProfile, {n} calls)")
    st.sort_stats("tottime").print_stats(25)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="15 rounds instead of 41")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--batch", type=int, default=BATCH)
    ap.add_argument("--only", default="", help="comma-separated substrings of contender names")
    ap.add_argument("--profile", default="", help="profile the contender whose name has this")
    args = ap.parse_args()
    cs = contenders(args.batch)
    if args.profile:
        name = next(k for k in cs if args.profile in k)
        print(name)
        profile(*cs[name])
        return
    if args.only:
        keep = [s.strip() for s in args.only.split(",")]
        cs = {k: v for k, v in cs.items() if k.startswith("raw") or any(s in k for s in keep)}
    # Many short rounds: each round gives every contender one slice of ~20 ms CPU, and ratios
    # are taken within the round (contenders a few hundred ms apart, under the same load), then
    # the median over rounds. Load on the shared machine drifts over seconds; slices this short
    # see the same machine.
    rounds = args.rounds or (15 if args.quick else 41)
    seconds = 0.02
    names = list(cs)
    rates: dict[str, list[float]] = {k: [] for k in names}
    for _, (fn, _per) in cs.items():
        fn()  # warm up (first calls build caches, import lazily)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            fn, per = cs[name]
            rates[name].append(rate(fn, seconds) * per)

    def ratio(a: str, b: str) -> tuple[float, float, float]:
        """Median, lower and upper quartile of the per-round ratio a / b."""
        rs = sorted(x / y for x, y in zip(rates[a], rates[b], strict=True))
        q = statistics.quantiles(rs, n=4) if len(rs) >= 4 else [rs[0], 0, rs[-1]]
        return statistics.median(rs), q[0], q[2]

    raw, tink = "raw AESGCM (floor)", "Tink KmsEnvelopeAead"
    rows = []
    for name in names:
        vr, lo, hi = ratio(name, raw)
        rows.append(
            {
                "group": "1 KiB round trip",
                "name": name,
                "ops_per_cpu_s": statistics.median(rates[name]),
                "vs_raw": vr,
                "vs_raw_iqr": f"{lo:.3f}-{hi:.3f}",
                "vs_tink": ratio(name, tink)[0],
            }
        )
    comparisons = [
        ("tigerseal env://, fresh DEK", "bare contender env://"),
        ("tigerseal env://, fresh DEK", tink),
        ("tigerseal env://, data-key cache", "bare contender env://"),
        ("tigerseal env://, data-key cache", tink),
        ("tigerseal file://, fresh DEK, 3-pair context", "bare contender file://, 3-pair context"),
        ("bare contender env://", tink),
    ]
    for k in names:
        if "encrypt_many" in k:
            per_call = (
                "tigerseal env://, fresh DEK"
                if "env://" in k
                else "tigerseal file://, fresh DEK, 3-pair context"
            )
            comparisons.append((k, per_call))
    for a, b in comparisons:
        if a in rates and b in rates:
            m, lo, hi = ratio(a, b)
            rows.append(
                {
                    "group": "same-round ratio (median, interquartile range)",
                    "name": f"{a} / {b}",
                    "ratio": m,
                    "iqr": f"{lo:.2f}-{hi:.2f}",
                }
            )
    load = os.getloadavg()
    rows.append({"group": "machine", "name": f"loadavg {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"})
    emit("hotpath", rows)


if __name__ == "__main__":
    main()
