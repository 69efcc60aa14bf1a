"""Cold start: import, first encrypt and ``tigerseal --help`` in fresh processes (issue 15.4).

Each case runs as a new interpreter, interleaved with two anchors measured in the same run:
``python -c pass`` (the interpreter alone) and ``import cryptography...aead`` (the one
dependency the envelope cannot avoid). The median of N runs is reported with its ratio to the
anchors, so figures from a loaded machine stay comparable.

    python benchmarks/bench_cold_start.py [--quick] [--runs N]

The first encrypt uses an env:// key (``ENCRYPTION_MASTER_KEY``) in an empty working
directory: the envelope path with nothing else configured.
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
from pathlib import Path

from _common import emit

PY = sys.executable
CASES: dict[str, list[str]] = {
    "python -c pass (anchor)": [PY, "-c", "pass"],
    "import cryptography aead (anchor)": [
        PY,
        "-c",
        "import cryptography.hazmat.primitives.ciphers.aead",
    ],
    "from tigerseal import get_encryption_service": [
        PY,
        "-c",
        "from tigerseal import get_encryption_service",
    ],
    "first encrypt (env:// key)": [
        PY,
        "-c",
        "from tigerseal import get_encryption_service\n"
        "get_encryption_service().encrypt(b'card', context={'t': 'x'})",
    ],
    "tigerseal --help": [PY, "-c", "from tigerseal.cli import main; main(['--help'])"],
}
TARGETS_MS = {
    "from tigerseal import get_encryption_service": 60,
    "first encrypt (env:// key)": 150,
    "tigerseal --help": 100,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=0)
    parser.add_argument(
        "--compare-src",
        metavar="DIR",
        help="also time the tigerseal cases with DIR (another checkout's core/src, e.g. from "
        "`git archive REV core/src | tar -x -C /tmp/old`) first on PYTHONPATH, interleaved",
    )
    args = parser.parse_args()
    runs = args.runs or (7 if args.quick else 21)
    workdir = Path(tempfile.mkdtemp(prefix="tigerseal-cold-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TIGERSEAL_") and k not in ("ENVIRONMENT", "ENCRYPTION_MASTER_KEY")
    }
    # The seed's name: read by this version (as a fallback) and by older ones alike.
    env["ENCRYPTION_MASTER_KEY"] = "a3f1" + secrets.token_hex(30)
    cases: dict[str, tuple[list[str], dict[str, str]]] = {
        name: (argv, env) for name, argv in CASES.items()
    }
    if args.compare_src:
        before = {**env, "PYTHONPATH": str(Path(args.compare_src).resolve())}
        for name, argv in CASES.items():
            if "anchor" not in name:
                cases[f"{name} (before)"] = (argv, before)
    times: dict[str, list[float]] = {name: [] for name in cases}
    try:
        for argv, case_env in cases.values():  # warm-up: byte-compile, fill the page cache
            subprocess.run(argv, cwd=workdir, env=case_env, check=True, capture_output=True)
        for _ in range(runs):
            for name, (argv, case_env) in cases.items():  # interleaved: load hits all alike
                t = time.perf_counter()
                subprocess.run(argv, cwd=workdir, env=case_env, check=True, capture_output=True)
                times[name].append((time.perf_counter() - t) * 1000)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    median = {name: statistics.median(v) for name, v in times.items()}
    bare = median["python -c pass (anchor)"]
    aead = median["import cryptography aead (anchor)"]
    rows = []
    for name in cases:
        row: dict[str, object] = {
            "name": name,
            "median_ms": round(median[name], 1),
            "x_python": round(median[name] / bare, 2),
            "x_aead": round(median[name] / aead, 2),
            "over_python_ms": round(median[name] - bare, 1),
        }
        if name in TARGETS_MS:
            row["target_ms"] = TARGETS_MS[name]
        rows.append(row)
    emit("cold_start", rows)


if __name__ == "__main__":
    main()
