"""Group commit never reports a record durable when the sync of its batch failed (issue 15.6).

Before: the leader caught only OSError/AuditError from its write+sync; anything else (an
interrupt, a bug surfacing as RuntimeError) ran the ``finally`` with no error recorded, which
marked the whole batch done: the other writers of that batch returned from ``write()`` as if
their records were on disk.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from tigerseal.audit import FileAuditSink, _filesink
from tigerseal.errors import AuditError


def test_a_failed_group_sync_is_reported_to_every_writer_of_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = FileAuditSink(tmp_path / "a.jsonl", checkpoints=False, durability="group")
    first_sync = threading.Event()
    release = threading.Event()
    calls = 0
    real = _filesink._datasync

    def datasync(fd: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:  # the first batch: hold it while two more writers queue
            first_sync.set()
            release.wait(10)
            real(fd)
            return
        raise RuntimeError("simulated failure inside the sync of the second batch")

    monkeypatch.setattr(_filesink, "_datasync", datasync)
    outcome: dict[str, BaseException | None] = {}

    def writer(name: str) -> None:
        try:
            sink.write({"event": name})
            outcome[name] = None
        except BaseException as exc:
            outcome[name] = exc

    a = threading.Thread(target=writer, args=("a",))
    a.start()
    assert first_sync.wait(10)
    others = [threading.Thread(target=writer, args=(n,)) for n in ("b", "c")]
    for t in others:
        t.start()
    deadline = time.monotonic() + 10
    while len(sink._bodies) < 2 and time.monotonic() < deadline:  # both queued behind a
        time.sleep(0.001)
    release.set()
    for t in (a, *others):
        t.join(10)
    assert outcome["a"] is None  # its own batch synced
    failed = [outcome["b"], outcome["c"]]
    # One of b/c led the failing batch and got the RuntimeError; the other was in that batch
    # too and must not be told its record is durable.
    assert all(e is not None for e in failed), outcome
    assert any(isinstance(e, AuditError) for e in failed), outcome
    with pytest.raises(AuditError):
        sink.write({"event": "after"})  # fail closed: durability of the chain is unknown
