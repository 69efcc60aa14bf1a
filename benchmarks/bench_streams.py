"""Streams file to file (issue 15.3): tigerseal against the plain 1 MiB AES-GCM loop, same run.

In process, interleaved rounds on one file (default 256 MiB), every contender reading and
writing real files in the same directory:

* plain encrypt loop: ``read(1 MiB)``, ``AESGCM.encrypt``, ``write`` (the issue's anchor);
* plain decrypt loop: ``read(1 MiB + 16)``, ``AESGCM.decrypt``, ``write``;
* ``encrypt_stream`` / ``decrypt_stream`` (env://, 1 MiB frames).

Each is timed in wall time and in process CPU time (user + system: what the code costs, without
the time other helpers' work preempts it on the shared machine); medians over the rounds.

Then, as separate processes on a 512 MiB file (``--cli-mib``): the library in a fresh Python
(import included), the library plus the ``fsync`` the CLI does before its rename, and
``tigerseal encrypt`` / ``decrypt -o``. Peak RSS of each child comes from ``os.wait4`` on that
child alone (``RUSAGE_CHILDREN`` would report the largest child ever forked).

    .venv/bin/python benchmarks/bench_streams.py [--mib 256] [--cli-mib 512] [--rounds 5]

Files go to ``$TIGERSEAL_BENCH_TMP`` or /tmp and are deleted at the end. Writes
``benchmarks/results/streams.json``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit

MIB = 1024 * 1024
VAR = "TIGERSEAL_BENCH_KEY"

_LIBRARY = """
import os, sys
from tigerseal.envelope import EncryptionService
from tigerseal.plugins import key_provider_from_uri
svc = EncryptionService(key_provider_from_uri("env://TIGERSEAL_BENCH_KEY"))
mode, src, dst, sync = sys.argv[1:5]
with open(src, "rb") as fin, open(dst, "wb") as fout:
    (svc.encrypt_stream if mode == "encrypt" else svc.decrypt_stream)(fin, fout)
    if sync == "1":
        fout.flush()
        os.fsync(fout.fileno())
"""


def plain_encrypt(src: Path, dst: Path, key: bytes) -> None:
    aes = AESGCM(key)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        i = 0
        while chunk := fin.read(MIB):
            fout.write(aes.encrypt(i.to_bytes(12, "big"), chunk, None))
            i += 1


def plain_decrypt(src: Path, dst: Path, key: bytes) -> None:
    aes = AESGCM(key)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        i = 0
        while chunk := fin.read(MIB + 16):
            fout.write(aes.decrypt(i.to_bytes(12, "big"), chunk, None))
            i += 1


def in_process(d: Path, mib: int, rounds: int) -> list[dict[str, Any]]:
    from tigerseal.envelope import EncryptionService
    from tigerseal.plugins import key_provider_from_uri

    svc = EncryptionService(key_provider_from_uri(f"env://{VAR}"))
    key = AESGCM.generate_key(256)
    src = d / "src.bin"
    plain_encrypt(src, d / "plain.enc", key)
    with open(src, "rb") as fin, open(d / "ts.enc", "wb") as fout:
        svc.encrypt_stream(fin, fout)

    def ts_encrypt(a: Path, b: Path) -> None:
        with open(a, "rb") as fin, open(b, "wb") as fout:
            svc.encrypt_stream(fin, fout)

    def ts_decrypt(a: Path, b: Path) -> None:
        with open(a, "rb") as fin, open(b, "wb") as fout:
            svc.decrypt_stream(fin, fout)

    cs: dict[str, tuple[Callable[[Path, Path], None], Path]] = {
        "plain AES-GCM 1 MiB loop, encrypt": (lambda a, b: plain_encrypt(a, b, key), src),
        "plain AES-GCM 1 MiB loop, decrypt": (
            lambda a, b: plain_decrypt(a, b, key),
            d / "plain.enc",
        ),
        "tigerseal encrypt_stream": (ts_encrypt, src),
        "tigerseal decrypt_stream": (ts_decrypt, d / "ts.enc"),
    }
    wall: dict[str, list[float]] = {k: [] for k in cs}
    cpu: dict[str, list[float]] = {k: [] for k in cs}
    names = list(cs)
    for r in range(rounds):
        for name in names[r % 4 :] + names[: r % 4]:
            fn, path = cs[name]
            t, c = time.perf_counter(), time.process_time()
            fn(path, d / "out.bin")
            wall[name].append(mib / (time.perf_counter() - t))
            cpu[name].append(mib / (time.process_time() - c))
    base_w = statistics.median(wall["plain AES-GCM 1 MiB loop, encrypt"])
    base_c = statistics.median(cpu["plain AES-GCM 1 MiB loop, encrypt"])
    rows = []
    for name in names:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        rows.append(
            {
                "group": f"stream {mib} MiB file to file (in process)",
                "name": name,
                "wall_mib_s": w,
                "cpu_mib_s": c,
                "wall_vs_plain_encrypt_loop": w / base_w,
                "cpu_vs_plain_encrypt_loop": c / base_c,
                "wall_range": f"{min(wall[name]):.0f}-{max(wall[name]):.0f}",
            }
        )
    return rows


def child(args: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one child process,
    measured for that child alone."""
    t = time.perf_counter()
    proc = subprocess.Popen(args, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{args[:3]} failed with {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def processes(d: Path, mib: int, rounds: int) -> list[dict[str, Any]]:
    src = d / "big.bin"
    with open(src, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(MIB))
    exe = str(Path(sys.executable).parent / "tigerseal")
    py = sys.executable
    env = {**os.environ, "TIGERSEAL_KEY_PROVIDERS": f"env://{VAR}"}
    enc, out = d / "big.tsl", d / "big.out"
    subprocess.run([exe, "encrypt", str(src), "-o", str(enc)], env=env, check=True)

    def lib(mode: str, path: Path, sync: str) -> list[str]:
        return [py, "-c", _LIBRARY, mode, str(path), str(out), sync]

    cs = {
        "library encrypt_stream (fresh process)": lib("encrypt", src, "0"),
        "library encrypt_stream + fsync (fresh process)": lib("encrypt", src, "1"),
        "tigerseal encrypt -o (CLI: temp file, fsync, rename)": [
            exe,
            "encrypt",
            str(src),
            "-o",
            str(out),
        ],
        "library decrypt_stream (fresh process)": lib("decrypt", enc, "0"),
        "library decrypt_stream + fsync (fresh process)": lib("decrypt", enc, "1"),
        "tigerseal decrypt -o (CLI: temp file, fsync, rename)": [
            exe,
            "decrypt",
            str(enc),
            "-o",
            str(out),
        ],
    }
    walls: dict[str, list[float]] = {k: [] for k in cs}
    cpus: dict[str, list[float]] = {k: [] for k in cs}
    rss: dict[str, float] = {}
    for _ in range(rounds):
        for name, args in cs.items():
            w, c, peak = child(args, env)
            walls[name].append(w)
            cpus[name].append(c)
            rss[name] = max(rss.get(name, 0.0), peak)
            out.unlink(missing_ok=True)
    rows = []
    for name in cs:
        w = statistics.median(walls[name])
        rows.append(
            {
                "group": f"{mib} MiB as separate processes",
                "name": name,
                "wall_s": w,
                "cpu_s": statistics.median(cpus[name]),
                "mib_s": mib / w,
                "peak_rss_mib": rss[name],
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--cli-mib", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cli-rounds", type=int, default=3)
    args = ap.parse_args()
    os.environ[VAR] = secrets.token_hex(32)
    d = Path(tempfile.mkdtemp(prefix="bench-streams-", dir=os.environ.get("TIGERSEAL_BENCH_TMP")))
    try:
        with open(d / "src.bin", "wb") as f:
            for _ in range(args.mib or 0):
                f.write(os.urandom(MIB))
        rows = in_process(d, args.mib, args.rounds) if args.mib else []
        for p in d.iterdir():
            p.unlink()
        if args.cli_mib:
            rows += processes(d, args.cli_mib, args.cli_rounds)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    load = os.getloadavg()
    rows.append({"group": "machine", "name": f"loadavg {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"})
    emit("streams", rows)


if __name__ == "__main__":
    main()
