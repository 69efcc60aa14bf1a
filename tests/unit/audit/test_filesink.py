"""The hash-chained file sink: format, resume, torn lines, durability modes, threads."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from pathlib import Path

import pytest
from tigerseal.audit import AuditKeys, FileAuditSink, verify_audit_file
from tigerseal.audit._filesink import DURABILITY_MODES, from_uri
from tigerseal.errors import AuditError, AuditIntegrityError, ConfigError
from tigerseal.plugins import audit_sink_from_uri

from .conftest import read_lines


def event(i: int) -> dict[str, object]:
    return {"ts": "2025-01-01T00:00:00.000000Z", "event_type": "authn_login_fail", "n": i}


def test_records_are_chained_and_checkpointed(tmp_path: Path, keys: AuditKeys) -> None:
    path = tmp_path / "a.jsonl"
    sink = FileAuditSink(path, keys=keys, checkpoint_every=3)
    for i in range(7):
        sink.write(event(i))
    sink.close()
    lines = read_lines(path)
    recs = [json.loads(line) for line in lines]
    assert [r["seq"] for r in recs] == list(range(len(recs)))
    assert recs[0]["event_type"] == "audit_chain_start"
    assert recs[0]["prev"] == "0" * 64
    # the chain names and commits to the key; the wrapped key lives in the side file
    assert "mac_key" not in recs[0]
    assert recs[0]["format"] == "tigerseal-audit/2"
    assert recs[0]["mac_key_commit"]
    stored = [json.loads(x) for x in (tmp_path / "a.jsonl.keys").read_text().splitlines()]
    assert [(e["key_id"], e["wrapped"][:4]) for e in stored] == [(recs[0]["mac_key_id"], "ts1.")]
    assert all(r["mac"].startswith(recs[0]["mac_key_id"] + ":") for r in recs)
    for before, rec in zip(lines, recs[1:], strict=False):
        assert rec["prev"] == hashlib.sha256(before).hexdigest()
    kinds = [r["event_type"] for r in recs]
    # a checkpoint after every third event, and a final one at close
    assert kinds.count("audit_checkpoint") == 3
    assert kinds[-1] == "audit_checkpoint"
    assert [r["n"] for r in recs if "n" in r] == list(range(7))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (tmp_path / "a.jsonl.head").exists()
    report = verify_audit_file(path, keys=keys)
    assert report.ok, report.issues
    assert report.issues == []
    assert report.verified_checkpoints == 3
    assert report.unanchored == 0


def test_a_second_writer_continues_the_chain(tmp_path: Path, keys: AuditKeys) -> None:
    path = tmp_path / "a.jsonl"
    for session in range(3):
        sink = FileAuditSink(path, keys=keys)
        sink.write(event(session))
        sink.close()
    recs = [json.loads(line) for line in read_lines(path)]
    kinds = [r["event_type"] for r in recs]
    assert kinds.count("audit_chain_start") == 1
    assert kinds.count("audit_chain_resume") == 2
    assert len({r["chain_id"] for r in recs if "chain_id" in r}) == 1
    # each writer used its own MAC key
    assert len({r["mac_key_id"] for r in recs if "mac_key_id" in r}) == 3
    report = verify_audit_file(path, keys=keys)
    assert report.ok, report.issues
    assert not report.issues
    assert report.records == len(recs)


def test_torn_last_line_is_reported_and_the_rest_verifies(tmp_path: Path, keys: AuditKeys) -> None:
    path = tmp_path / "a.jsonl"
    sink = FileAuditSink(path, keys=keys)
    for i in range(5):
        sink.write(event(i))
    sink.close()
    whole = path.read_bytes()
    with path.open("ab") as f:  # a crash in the middle of a write
        f.write(b'{"seq":8,"prev":"ab12')
    report = verify_audit_file(path, keys=keys)
    assert report.ok
    assert [(i.kind, i.severity) for i in report.issues] == [("torn", "warning")]
    assert report.records == len(whole.split(b"\n")) - 1

    # The next process terminates the torn line and chains to the last whole record.
    sink = FileAuditSink(path, keys=keys)
    sink.write(event(99))
    sink.close()
    resume = [json.loads(x) for x in read_lines(path) if b"audit_chain_resume" in x][-1]
    assert resume["recovered"]["torn_bytes"] == len(b'{"seq":8,"prev":"ab12')
    assert resume["risk_level"] == "medium"
    report = verify_audit_file(path, keys=keys)
    assert report.ok, report.issues
    assert [i.kind for i in report.issues] == ["torn"]
    assert "recovered" in report.issues[0].message


def test_a_file_holding_only_a_torn_line(tmp_path: Path, keys: AuditKeys) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"seq":0,"pr')
    sink = FileAuditSink(path, keys=keys)
    sink.write(event(1))
    sink.close()
    report = verify_audit_file(path, keys=keys)
    assert report.ok, report.issues
    assert [i.kind for i in report.issues] == ["torn"]


def test_an_unparseable_last_line_stops_the_writer(tmp_path: Path, keys: AuditKeys) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"this is not json\n")
    with pytest.raises(AuditIntegrityError, match="audit verify"):
        FileAuditSink(path, keys=keys)


@pytest.mark.parametrize("durability", DURABILITY_MODES)
def test_eight_threads_lose_no_event(tmp_path: Path, keys: AuditKeys, durability: str) -> None:
    path = tmp_path / f"{durability}.jsonl"
    sink = FileAuditSink(path, keys=keys, durability=durability, checkpoint_every=50)  # type: ignore[arg-type]
    per_thread = 150 if durability in ("fsync", "group") else 400
    start = threading.Barrier(8)

    def writer(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            sink.write({"event_type": "sensitive_read", "thread": t, "i": i})

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    recs = [json.loads(line) for line in read_lines(path)]
    got = sorted((r["thread"], r["i"]) for r in recs if "thread" in r)
    assert got == [(t, i) for t in range(8) for i in range(per_thread)]
    for t in range(8):  # each thread's events in its own order
        mine = [r["i"] for r in recs if r.get("thread") == t]
        assert mine == list(range(per_thread))
    report = verify_audit_file(path, keys=keys)
    assert report.ok, report.issues
    assert not report.issues


def test_group_commit_is_durable_when_write_returns(tmp_path: Path, keys: AuditKeys) -> None:
    path = tmp_path / "g.jsonl"
    sink = FileAuditSink(path, keys=keys, durability="group")
    sink.write(event(1))
    # Another descriptor sees the record at once: it reached the file (and was fsynced)
    # before write() returned.
    assert b'"n":1' in path.read_bytes()
    sink.close()


def test_buffered_mode_writes_at_checkpoints_and_close(tmp_path: Path, keys: AuditKeys) -> None:
    path = tmp_path / "b.jsonl"
    sink = FileAuditSink(path, keys=keys, durability="buffered", checkpoint_every=10)
    for i in range(5):
        sink.write(event(i))
    assert b'"n":4' not in path.read_bytes()
    sink.flush()
    assert b'"n":4' in path.read_bytes()
    for i in range(5, 20):
        sink.write(event(i))
    assert b"audit_checkpoint" in path.read_bytes()
    sink.close()
    assert verify_audit_file(path, keys=keys).ok


def test_time_based_checkpoints(tmp_path: Path, keys: AuditKeys) -> None:
    path = tmp_path / "t.jsonl"
    sink = FileAuditSink(path, keys=keys, checkpoint_every=10_000, checkpoint_interval=1e-9)
    sink.write(event(1))
    sink.write(event(2))
    recs = [json.loads(line) for line in read_lines(path)]
    assert [r["event_type"] for r in recs].count("audit_checkpoint") == 2
    sink.close()


def test_checkpoint_on_demand_and_without_macs(tmp_path: Path, keys: AuditKeys) -> None:
    path = tmp_path / "c.jsonl"
    sink = FileAuditSink(path, keys=keys)
    sink.write(event(1))
    sink.checkpoint()
    assert read_lines(path)[-1].find(b"audit_checkpoint") > 0
    sink.close()
    plain = tmp_path / "plain.jsonl"
    sink = FileAuditSink(plain, checkpoints=False)
    sink.write(event(1))
    sink.close()
    assert b"mac" not in plain.read_bytes()
    report = verify_audit_file(plain)
    assert not report.ok  # nothing is authenticated: anyone could have rewritten it
    assert [i.kind for i in report.issues] == ["unanchored"]
    report = verify_audit_file(plain, allow_unanchored=True)
    assert report.ok
    assert [i.kind for i in report.issues] == ["unanchored"]


def test_static_mac_key(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    key = os.urandom(32)
    sink = FileAuditSink(path, keys=AuditKeys(static_key=key))
    sink.write(event(1))
    sink.close()
    assert b'mac_key"' not in path.read_bytes()  # only its id is stored
    assert verify_audit_file(path, keys=AuditKeys(static_key=key)).ok
    other = verify_audit_file(path, keys=AuditKeys(static_key=os.urandom(32)))
    assert not other.ok
    assert "key" in other.kinds()
    with pytest.raises(AuditError, match="32 bytes"):
        AuditKeys(static_key=b"short")


def test_closed_sink_refuses_writes(tmp_path: Path, keys: AuditKeys) -> None:
    sink = FileAuditSink(tmp_path / "x.jsonl", keys=keys)
    sink.close()
    sink.close()  # idempotent
    with pytest.raises(AuditError, match="closed"):
        sink.write(event(1))


def test_non_object_records_are_refused(tmp_path: Path, keys: AuditKeys) -> None:
    sink = FileAuditSink(tmp_path / "x.jsonl", keys=keys)
    with pytest.raises(AuditError, match="mapping"):
        sink.write(["not", "a", "mapping"])  # type: ignore[arg-type]
    sink.close()


def test_unwritable_location(tmp_path: Path, keys: AuditKeys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AuditError, match="cannot open"):
        FileAuditSink(blocker / "audit.jsonl", keys=keys)


def test_uris(tmp_path: Path) -> None:
    sink = from_uri(f"file://{tmp_path}/u.jsonl?durability=group&checkpoint_every=5&checkpoints=0")
    assert sink.durability == "group"
    assert sink.checkpoint_every == 5
    sink.close()
    rel = audit_sink_from_uri("file://./rel/audit.jsonl?checkpoints=off")
    assert isinstance(rel, FileAuditSink)
    assert rel.path == Path("./rel/audit.jsonl").absolute()
    rel.close()
    for bad, match in [
        ("file://host/x.jsonl", "host"),
        (f"file://{tmp_path}/", "no file"),
        (f"file://{tmp_path}/x.jsonl?color=blue", "unknown option"),
        (f"file://{tmp_path}/x.jsonl?checkpoint_every=many", "number"),
        (f"file://{tmp_path}/x.jsonl?durability=sometimes", "durability"),
    ]:
        with pytest.raises(ConfigError, match=match):
            audit_sink_from_uri(bad)
    parent = tmp_path / "new" / "dir"
    sink = from_uri(f"file://{parent}/a.jsonl?checkpoints=0")
    assert stat.S_IMODE(parent.stat().st_mode) == 0o700
    sink.close()


def test_pid_placeholder_gives_each_process_its_file(tmp_path: Path, keys: AuditKeys) -> None:
    sink = FileAuditSink(tmp_path / "audit-{pid}.jsonl", keys=keys)
    assert sink.path == tmp_path / f"audit-{os.getpid()}.jsonl"
    sink.write(event(1))
    sink.close()
    assert sink.path.exists()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_reopens_and_shares_the_chain(tmp_path: Path, keys: AuditKeys) -> None:
    """gunicorn --preload: a sink opened before fork keeps working in the workers."""
    path = tmp_path / "a.jsonl"
    sink = FileAuditSink(path, keys=keys)
    sink.write(event(1))
    pid = os.fork()
    if pid == 0:  # the child
        code = 3
        try:
            sink.write(event(2))
            sink.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    sink.write(event(3))  # the parent carries on
    sink.close()
    recs = [json.loads(line) for line in read_lines(path)]
    assert [r["n"] for r in recs if "n" in r] == [1, 2, 3]
    assert {r["pid"] for r in recs if r["event_type"] == "audit_chain_resume"} == {pid}


def test_a_forked_child_gets_its_own_pid_and_event_ids(tmp_path: Path, keys: AuditKeys) -> None:
    from tigerseal.audit import Auditor

    path = tmp_path / "a.jsonl"
    auditor = Auditor([FileAuditSink(path, keys=keys)])
    auditor.log("authz_fail")
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            auditor.log("authz_fail")
            auditor.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    auditor.log("authz_fail")
    auditor.close()
    events = [json.loads(x) for x in read_lines(path) if b'"authz_fail"' in x]
    assert len({e["event_id"] for e in events}) == 3
    assert sorted(e["pid"] for e in events) == sorted([os.getpid(), os.getpid(), pid])
    report = verify_audit_file(path, keys=keys)
    assert report.ok
    assert not report.issues


def test_a_relative_path_stays_where_it_was_opened(
    tmp_path: Path, keys: AuditKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default trail is relative (.tigerseal/audit.jsonl); an app (or a test) that changes
    # directory afterwards must not send the head, keys or final checkpoint elsewhere.
    first, later = tmp_path / "app", tmp_path / "elsewhere"
    first.mkdir()
    later.mkdir()
    monkeypatch.chdir(first)
    sink = FileAuditSink("trail/audit.jsonl", keys=keys, checkpoint_every=2)
    sink.write(event(0))
    monkeypatch.chdir(later)
    sink.write(event(1))
    sink.close()
    assert not (later / "trail").exists()
    assert verify_audit_file(first / "trail" / "audit.jsonl", keys=keys).ok


def test_a_relative_path_keeps_naming_the_same_files_after_chdir(
    tmp_path: Path, keys: AuditKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon chdirs to / after start-up: records, head and keys stay where they were."""
    from tigerseal.audit import verify_audit_file

    home = tmp_path / "app"
    home.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(home)
    sink = FileAuditSink(".tigerseal/audit.jsonl", keys=keys, checkpoint_every=2)
    sink.write({"event_type": "authz_fail"})
    monkeypatch.chdir(elsewhere)
    for _ in range(3):
        sink.write({"event_type": "authz_fail"})
    sink.close()
    assert list(elsewhere.iterdir()) == []
    report = verify_audit_file(home / ".tigerseal" / "audit.jsonl", keys=keys)
    assert report.ok, report.issues
    assert report.records == 7  # start, 4 events, 2 checkpoints


def test_default_mode_costs_four_system_calls_per_record(
    tmp_path: Path, keys: AuditKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flush mode (issue 15.6): flock, lstat of the path, write, unlock per record (was 6:
    an extra fstat for the inode and another for the size). A second writer, a moved file and
    a rolled-back file are still noticed (the tests above and in test_attacks.py)."""
    from tigerseal.audit import _filesink

    path = tmp_path / "a.jsonl"
    sink = FileAuditSink(path, keys=keys)
    sink.write(event(0))  # the first write resyncs with the file
    calls: dict[str, int] = {}

    def counted(name: str, real: object) -> object:
        def call(*args: object, **kwargs: object) -> object:
            calls[name] = calls.get(name, 0) + 1
            return real(*args, **kwargs)  # type: ignore[operator]

        return call

    monkeypatch.setattr(_filesink, "_lock_file", counted("flock", _filesink._lock_file))
    monkeypatch.setattr(_filesink, "_unlock_file", counted("unlock", _filesink._unlock_file))
    for name in ("stat", "fstat", "write", "lseek", "fsync", "fdatasync"):
        monkeypatch.setattr(os, name, counted(name, getattr(os, name)))
    for i in range(20):
        sink.write(event(i))
    monkeypatch.undo()
    sink.close()
    assert calls == {"flock": 20, "unlock": 20, "stat": 20, "write": 20}
    assert verify_audit_file(path, keys=keys).ok


@pytest.mark.parametrize(("durability", "synced"), [("fsync", True), ("flush", False)])
def test_the_head_file_is_written_by_the_one_private_file_writer(
    tmp_path: Path, keys: AuditKeys, durability: str, synced: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 14.4: one atomic private-file write (registered temporary swept after a crash,
    # O_EXCL, 0600, rename, directory fsync when durable); the head had its own copy.
    from tigerseal import _files

    calls: list[tuple[Path, bool]] = []
    real = _files.write_private

    def spy(path: Path, data: bytes, *, sync: bool = True) -> None:
        calls.append((path, sync))
        real(path, data, sync=sync)

    monkeypatch.setattr(_files, "write_private", spy)
    sink = FileAuditSink(tmp_path / "audit.jsonl", keys=keys, durability=durability)
    sink.write(event(1))
    sink.checkpoint()
    sink.close()
    assert calls
    assert {path for path, _ in calls} == {Path(sink.head_path)}
    # fsync mode syncs every head; flush mode writes heads unsynced (close() syncs the last)
    assert synced in {sync for _, sync in calls}
    if synced:
        assert all(sync for _, sync in calls)
    assert stat.S_IMODE(os.stat(sink.head_path).st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
