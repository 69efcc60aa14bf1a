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
fixed slice of process CPU time; the table reports the median rate over the rounds and its
ratio to the raw floor of the same rounds. ``--profile NAME`` prints a cProfile of one
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
    ap.add_argument("--quick", action="store_true", help="shorter slices, 5 rounds")
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
    rounds = args.rounds or (5 if args.quick else 9)
    seconds = 0.1 if args.quick else 0.25
    names = list(cs)
    rates: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            fn, per = cs[name]
            rates[name].append(rate(fn, seconds) * per)
    floor = statistics.median(rates["raw AESGCM (floor)"])
    med = {k: statistics.median(v) for k, v in rates.items()}
    rows = []
    for name in names:
        rows.append(
            {
                "group": "1 KiB round trip",
                "name": name,
                "ops_per_s": med[name],
                "vs_raw": med[name] / floor,
                "vs_tink": med[name] / med["Tink KmsEnvelopeAead"],
                "min_max_vs_raw": f"{min(rates[name]) / floor:.3f}-{max(rates[name]) / floor:.3f}",
            }
        )
    load = os.getloadavg()
    rows.append({"group": "machine", "name": f"loadavg {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"})
    emit("hotpath", rows)
    ratio_pairs = [
        ("tigerseal env://, fresh DEK", "bare contender env://"),
        ("tigerseal env://, data-key cache", "bare contender env://"),
        ("tigerseal file://, fresh DEK, 3-pair context", "bare contender file://, 3-pair context"),
    ]
    for a, b in ratio_pairs:
        if a in med and b in med:
            print(f"{a} / {b}: {med[a] / med[b]:.2f}x")
    per_call = med.get("tigerseal env://, fresh DEK")
    for k in med:
        if "encrypt_many" in k and per_call and "env://" in k:
            print(f"{k} / per-call env:// fresh: {med[k] / per_call:.2f}x")
    per_file = med.get("tigerseal file://, fresh DEK, 3-pair context")
    for k in med:
        if "encrypt_many" in k and per_file and "file://" in k:
            print(f"{k} / per-call file:// fresh: {med[k] / per_file:.2f}x")


if __name__ == "__main__":
    main()
