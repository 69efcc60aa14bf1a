"""Audit trail throughput: the hash-chained file sink against plain JSONL writes.

Anchors, measured in the same run (best of interleaved rounds):

* ``plain``: ``f.write(json.dumps(record) + "\\n")`` into a buffered file, the record prebuilt
  (the cheapest possible JSONL audit log, with no chain, redaction or metadata);
* ``plain + sha256 chain``: the same plus a SHA-256 of each line chained into the next;
* ``fsync per event``: write + fsync of every record, one thread and 8 threads (a lock keeps
  the lines whole and in order).

tigerseal, same record (the seed's ``api_key_created`` example):

* ``sink.write`` of the file sink alone (chain + checkpoints), ``buffered`` mode;
* ``audit_security_event`` end to end (validation, timestamp, id, redaction, metrics, hook
  fan-out, chain, checkpoints) in ``buffered`` and in ``flush`` mode (the default: a write(2)
  per event, survives a process crash);
* ``fsync`` and ``group`` durability under 8 threads (durable before the call returns), for the
  sink writing the anchor's prebuilt record (like for like) and for the whole pipeline.

Targets (issue 3): with the chain, at least 0.5x the plain buffered writes; group commit at
least 10x fsync-per-event under 8 threads.

    .venv/bin/python benchmarks/bench_audit.py [--quick]

Writes ``benchmarks/results/audit.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit

TMP = Path(tempfile.mkdtemp(prefix="tigerseal-bench-audit-"))
os.environ["TIGERSEAL_KEY_PROVIDERS"] = "fake://bench-audit"
from tigerseal.testing import register_fake_provider  # noqa: E402 - fake:// is opt-in

register_fake_provider()
os.environ["TIGERSEAL_AUDIT_SINKS"] = f"file://{TMP}/default.jsonl"

RECORD: dict[str, Any] = {
    "ts": "2025-06-01T12:00:00.000000Z",
    "event_id": "5f1c2a9e0b7d-1",
    "event_type": "api_key_created",
    "risk_level": "low",
    "owasp": "authn_token_created",
    "api_key_id": "key_123",
    "source_ip": "192.168.1.1",
    "details": {"scopes": ["read", "write"]},
    "host": "api-1",
    "pid": 4242,
}


def fresh(name: str) -> Path:
    path = TMP / name
    for p in (path, path.with_name(path.name + ".head")):
        if p.exists():
            p.unlink()
    return path


# -- anchors ---------------------------------------------------------------------------------
def plain(n: int) -> float:
    path = fresh("plain.jsonl")
    with path.open("w") as f:
        t = time.perf_counter()
        for _ in range(n):
            f.write(json.dumps(RECORD) + "\n")
        f.flush()
        return n / (time.perf_counter() - t)


def plain_chain(n: int) -> float:
    path = fresh("plain_chain.jsonl")
    with path.open("wb") as f:
        prev = "0" * 64
        t = time.perf_counter()
        for _ in range(n):
            line = json.dumps({"prev": prev, **RECORD}).encode()
            prev = hashlib.sha256(line).hexdigest()
            f.write(line + b"\n")
        f.flush()
        return n / (time.perf_counter() - t)


def fsync_each(n: int, threads: int) -> float:
    path = fresh(f"fsync_{threads}.jsonl")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    lock = threading.Lock()

    def work(k: int) -> None:
        for _ in range(k):
            line = (json.dumps(RECORD) + "\n").encode()
            with lock:
                os.write(fd, line)
                os.fsync(fd)

    rate = _threaded(work, n, threads)
    os.close(fd)
    return rate


def _threaded(work: Callable[[int], None], n: int, threads: int) -> float:
    per = n // threads
    pool = [threading.Thread(target=work, args=(per,)) for _ in range(threads)]
    t = time.perf_counter()
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return per * threads / (time.perf_counter() - t)


# -- tigerseal -------------------------------------------------------------------------------
def _keys() -> Any:
    from tigerseal.audit import AuditKeys

    return AuditKeys(static_key=b"k" * 32)  # no KMS in the loop; one key per writer anyway


def sink_only(n: int) -> float:
    from tigerseal.audit import FileAuditSink

    sink = FileAuditSink(fresh("sink.jsonl"), durability="buffered", keys=_keys())
    write = sink.write
    t = time.perf_counter()
    for _ in range(n):
        write(RECORD)
    sink.flush()
    rate = n / (time.perf_counter() - t)
    sink.close()
    return rate


def full(n: int, durability: str) -> float:
    from tigerseal.audit import Auditor, FileAuditSink, audit_security_event, set_auditor

    sink = FileAuditSink(fresh(f"full_{durability}.jsonl"), durability=durability, keys=_keys())  # type: ignore[arg-type]
    previous = set_auditor(Auditor([sink]))
    try:
        t = time.perf_counter()
        for _ in range(n):
            audit_security_event(
                event_type="api_key_created",
                api_key_id="key_123",
                details={"scopes": ["read", "write"]},
                risk_level="low",
                source_ip="192.168.1.1",
            )
        sink.flush()
        rate = n / (time.perf_counter() - t)
    finally:
        set_auditor(previous)
        sink.close()
    return rate


def durable(n: int, durability: str, threads: int, *, pipeline: bool) -> float:
    """Durable writes from ``threads`` threads: the sink alone, or the whole pipeline."""
    from tigerseal.audit import Auditor, FileAuditSink

    path = fresh(f"{durability}_{threads}_{pipeline}.jsonl")
    sink = FileAuditSink(path, durability=durability, keys=_keys())  # type: ignore[arg-type]
    auditor = Auditor([sink], notify=False)

    def work(k: int) -> None:
        if not pipeline:
            for _ in range(k):
                sink.write(RECORD)
            return
        for _ in range(k):
            auditor.log(
                "api_key_created",
                api_key_id="key_123",
                details={"scopes": ["read", "write"]},
                source_ip="192.168.1.1",
            )

    rate = _threaded(work, n, threads)
    sink.close()
    return rate


def verify_rate(path: Path) -> float:
    from tigerseal.audit import verify_audit_file

    lines = sum(1 for _ in path.open("rb"))
    t = time.perf_counter()
    report = verify_audit_file(path, keys=_keys())
    assert report.ok, report.issues
    return lines / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args()
    n = 20_000 if args.quick else 100_000
    n_sync = 400 if args.quick else 2_000
    rounds = 2 if args.quick else 4

    buffered: dict[str, Callable[[], float]] = {
        "plain json.dumps (anchor)": lambda: plain(n),
        "plain json.dumps + sha256 chain": lambda: plain_chain(n),
        "tigerseal FileAuditSink.write (buffered)": lambda: sink_only(n),
        "tigerseal audit_security_event (buffered)": lambda: full(n, "buffered"),
        "tigerseal audit_security_event (flush, default)": lambda: full(n, "flush"),
    }
    synced: dict[str, Callable[[], float]] = {
        "fsync per event, 1 thread": lambda: fsync_each(n_sync, 1),
        "fsync per event, 8 threads (anchor)": lambda: fsync_each(n_sync, 8),
        "tigerseal sink, fsync mode, 8 threads": lambda: durable(
            n_sync, "fsync", 8, pipeline=False
        ),
        "tigerseal sink, group commit, 8 threads": lambda: durable(
            n_sync * 4, "group", 8, pipeline=False
        ),
        "tigerseal sink, group commit, 32 threads": lambda: durable(
            n_sync * 4, "group", 32, pipeline=False
        ),
        "tigerseal audit_security_event, group commit, 8 threads": lambda: durable(
            n_sync * 4, "group", 8, pipeline=True
        ),
    }
    best: dict[str, float] = {}
    for _ in range(rounds):
        for table in (buffered, synced):
            for name, fn in table.items():
                best[name] = max(best.get(name, 0.0), fn())

    rows: list[dict[str, Any]] = []
    anchor = best["plain json.dumps (anchor)"]
    for name in buffered:
        rows.append(
            {"group": "buffered", "name": name, "events_per_s": best[name],
             "vs_plain": best[name] / anchor}
        )  # fmt: skip
    sync_anchor = best["fsync per event, 8 threads (anchor)"]
    for name in synced:
        rows.append(
            {"group": "durable", "name": name, "events_per_s": best[name],
             "vs_fsync_per_event_8_threads": best[name] / sync_anchor}
        )  # fmt: skip
    rows.append(
        {
            "group": "verify",
            "name": "verify_audit_file (lines/s)",
            "events_per_s": verify_rate(TMP / "full_buffered.jsonl")
            if (TMP / "full_buffered.jsonl").exists()
            else 0.0,
        }
    )
    emit("audit", rows)


if __name__ == "__main__":
    main()
