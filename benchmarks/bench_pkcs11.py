"""The pkcs11: provider against a private SoftHSM2 token it creates itself.

Measures (issue 6):

* wraps+unwraps per second through one shared provider with 1 and 4 threads, for both locking
  modes (``global``: one process-wide lock per module; ``os``: the module re-initialised with
  CKF_OS_LOCKING_OK) and both mechanisms (AES-GCM encrypt/decrypt; RFC 5649 C_WrapKey/
  C_UnwrapKey). Target: 4 threads at least as fast as 1 (no collapse under the lock);
* the same round trip with bare python-pkcs11 (one thread, no provider) to show the provider's
  own overhead;
* messages per second through ``EncryptionService`` with the data-key cache off and on, and
  HSM calls per message from ``svc.metrics`` (target: at most one HSM call per cache window).

Each locking mode needs its own process (a module is initialised once per process), so every
configuration runs in a child process of this script.

    .venv/bin/python benchmarks/bench_pkcs11.py [--quick]

Writes ``benchmarks/results/pkcs11.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit

MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
CONTEXT = {"table": "tiger_accounts", "column": "private_key"}
PIN_ENV = "TIGERSEAL_BENCH_PKCS11_PIN"
THREADS = (1, 2, 4)


# -- a private SoftHSM2 token ----------------------------------------------------------------
def setup_token() -> dict[str, str]:
    """Create a token in a temp dir; return the environment children need (PIN included)."""
    util = shutil.which("softhsm2-util")
    module = next((m for m in MODULES if Path(m).exists()), None)
    if util is None or module is None:
        sys.exit("SoftHSM2 not found: apt-get install -y softhsm2")
    workdir = Path(tempfile.mkdtemp(prefix="bench-softhsm-"))
    (workdir / "tokens").mkdir()
    conf = workdir / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {workdir / 'tokens'}\nobjectstore.backend = file\n"
        "log.level = ERROR\nslots.removable = false\n"
    )
    pin = secrets.token_hex(8)
    subprocess.run(
        [
            util,
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--pin",
            pin,
            "--so-pin",
            secrets.token_hex(8),
        ],
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        check=True,
        capture_output=True,
    )
    return {
        "SOFTHSM2_CONF": str(conf),
        PIN_ENV: pin,
        "BENCH_MODULE": module,
        "BENCH_WORKDIR": str(workdir),
    }


def key_uri(obj: str, locking: str, mechanism: str) -> str:
    module = os.environ["BENCH_MODULE"]
    return (
        f"pkcs11:token=bench;object={obj}?module-path={module}&pin-source=env:{PIN_ENV}"
        f"&locking={locking}&mechanism={mechanism}"
    )


# -- child: provider round trips -------------------------------------------------------------
def run_threads(fn: Any, threads: int, per_thread: int) -> float:
    """Seconds for ``threads`` threads each calling ``fn()`` ``per_thread`` times."""
    barrier = threading.Barrier(threads + 1)
    failures: list[BaseException] = []

    def work() -> None:
        barrier.wait()
        try:
            for _ in range(per_thread):
                fn()
        except BaseException as exc:
            failures.append(exc)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise failures[0]
    return elapsed


def child_provider(locking: str, mechanism: str, total: int, repeats: int) -> list[dict[str, Any]]:
    from tigerseal_pkcs11 import Pkcs11Provider, init_key

    obj = f"bench-{locking}-{mechanism}-{secrets.token_hex(3)}"
    uri = key_uri(obj, locking, mechanism)
    init_key(uri)
    provider = Pkcs11Provider(uri)

    def round_trip() -> None:
        dek = secrets.token_bytes(32)
        if provider.unwrap(provider.wrap(dek, CONTEXT), CONTEXT) != dek:
            raise AssertionError("wrong key")

    # Interleave the thread counts and keep each one's best run: this 2-core machine is shared,
    # and a burst of load during one block of runs would otherwise decide the comparison.
    best: dict[int, float] = {}
    for _ in range(repeats):
        for threads in THREADS:
            seconds = run_threads(round_trip, threads, total // threads)
            best[threads] = min(best.get(threads, float("inf")), seconds)
    rows = []
    for threads in THREADS:
        rt = (total // threads) * threads / best[threads]
        rows.append(
            {
                "group": "provider round trips (wrap + unwrap), shared provider",
                "name": f"{mechanism}, locking={locking}, {threads} thread(s)",
                "round_trips_per_s": rt,
                "wraps_unwraps_per_s": 2 * rt,
                "threads": threads,
                "locking": locking,
                "mechanism": mechanism,
            }
        )
    provider.close()
    return rows


def child_raw(total: int, repeats: int) -> list[dict[str, Any]]:
    """Bare python-pkcs11, one thread, no provider: the floor of the provider's overhead."""
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
    from pkcs11.mechanisms import GCMParams

    lib = pkcs11.lib(os.environ["BENCH_MODULE"])
    token = lib.get_token(token_label="bench")  # noqa: S106 - a label, not a password
    session = token.open(rw=True, user_pin=os.environ[PIN_ENV])
    # A token object, like the provider's KEK (SoftHSM is slower with token objects).
    kek = session.generate_key(
        KeyType.AES,
        256,
        store=True,
        label=f"raw-{secrets.token_hex(4)}",
        template={
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.ENCRYPT: True,
            Attribute.DECRYPT: True,
            Attribute.WRAP: True,
            Attribute.UNWRAP: True,
        },
    )
    aad = b"x" * 60

    def gcm() -> None:
        dek, nonce = secrets.token_bytes(32), secrets.token_bytes(12)
        ct = kek.encrypt(dek, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad))
        kek.decrypt(ct, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad))

    def kwp() -> None:
        temp = session.create_object(
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                Attribute.VALUE: secrets.token_bytes(32),
                Attribute.TOKEN: False,
                Attribute.SENSITIVE: False,
                Attribute.EXTRACTABLE: True,
            }
        )
        wrapped = kek.wrap_key(temp, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        temp.destroy()
        out = kek.unwrap_key(
            ObjectClass.SECRET_KEY,
            KeyType.GENERIC_SECRET,
            wrapped,
            mechanism=Mechanism.AES_KEY_WRAP_PAD,
            template={
                Attribute.TOKEN: False,
                Attribute.SENSITIVE: False,
                Attribute.EXTRACTABLE: True,
            },
        )
        out[Attribute.VALUE]
        out.destroy()

    rows = []
    for name, fn in (("aes-gcm", gcm), ("aes-key-wrap-pad", kwp)):
        best = min(run_threads(fn, 1, total) for _ in range(repeats))
        rows.append(
            {
                "group": "bare python-pkcs11 (no provider, no lock), 1 thread",
                "name": name,
                "round_trips_per_s": total / best,
                "wraps_unwraps_per_s": 2 * total / best,
                "threads": 1,
                "mechanism": name,
            }
        )
    return rows


def child_cache(messages: int) -> list[dict[str, Any]]:
    from tigerseal.envelope import CachePolicy, EncryptionService
    from tigerseal_pkcs11 import Pkcs11Provider, init_key

    uri = key_uri(f"bench-cache-{secrets.token_hex(3)}", "global", "auto")
    init_key(uri)
    provider = Pkcs11Provider(uri)
    payload = secrets.token_bytes(1024)
    rows = []
    for label, policy in (("cache off", None), ("cache on (300 s window)", CachePolicy())):
        writer = EncryptionService([provider], cache=policy)
        start = time.perf_counter()
        sealed = [writer.encrypt(payload, CONTEXT) for _ in range(messages)]
        enc_s = time.perf_counter() - start
        reader = EncryptionService([provider], cache=policy)
        start = time.perf_counter()
        for ed in sealed:
            reader.decrypt(ed, CONTEXT)
        dec_s = time.perf_counter() - start
        for name, svc, seconds in (
            ("encrypt", writer, enc_s),
            ("decrypt (other service)", reader, dec_s),
        ):
            calls = svc.metrics["provider_calls"]
            rows.append(
                {
                    "group": "EncryptionService, 1 KiB messages, aes-gcm KEK",
                    "name": f"{name}, {label}",
                    "msgs_per_s": messages / seconds,
                    "hsm_calls": calls,
                    "hsm_calls_per_msg": calls / messages,
                    "messages": messages,
                }
            )
    provider.close()
    return rows


# -- parent ----------------------------------------------------------------------------------
def spawn(env: dict[str, str], quick: bool, *args: str) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, __file__, *(["--quick"] if quick else []), "--child", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"child {args} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    rows: list[dict[str, Any]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    total = 800 if args.quick else 3000
    repeats = 3 if args.quick else 5
    messages = 500 if args.quick else 2000

    if args.child:
        kind, *rest = args.child
        if kind == "provider":
            rows = child_provider(rest[0], rest[1], total, repeats)
        elif kind == "raw":
            rows = child_raw(total, repeats)
        else:
            rows = child_cache(messages)
        print(json.dumps(rows))
        return

    env = setup_token()
    try:
        rows: list[dict[str, Any]] = []
        rows += spawn(env, args.quick, "raw")
        for mechanism in ("aes-gcm", "aes-key-wrap-pad"):
            for locking in ("global", "os"):
                rows += spawn(env, args.quick, "provider", locking, mechanism)
        rows += spawn(env, args.quick, "cache")
    finally:
        shutil.rmtree(env["BENCH_WORKDIR"], ignore_errors=True)
    # 4-thread / 1-thread ratio per configuration (the "no collapse" target).
    by_config: dict[tuple[str, str], dict[int, float]] = {}
    for row in rows:
        if "locking" in row:
            key = (row["mechanism"], row["locking"])
            by_config.setdefault(key, {})[row["threads"]] = row["round_trips_per_s"]
    for row in rows:
        if "locking" in row and row["threads"] > 1:
            one = by_config[(row["mechanism"], row["locking"])][1]
            row["ratio_to_1_thread"] = row["round_trips_per_s"] / one
        row["quick"] = args.quick
    emit("pkcs11", rows)


if __name__ == "__main__":
    main()
