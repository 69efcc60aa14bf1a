"""What an attacker who can write the audit file, but has no MAC key, can and cannot do.

Each test is one claim of docs/audit.md ("What an attacker with write access can do").
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tigerseal.audit import AuditKeys, FileAuditSink, verify_audit_file
from tigerseal.cli import cli as tigerseal_cli

from .conftest import read_lines, rechain, write_lines


def _trail(path: Path, keys: AuditKeys, n: int = 30, *, close: bool = True) -> FileAuditSink:
    sink = FileAuditSink(path, keys=keys, checkpoint_every=10)
    for i in range(n):
        sink.write({"event_type": "authn_login_fail", "user_id": f"user{i}", "risk_level": "low"})
    if close:
        sink.close()
    return sink


def _strip_checkpoints(lines: list[bytes]) -> list[bytes]:
    return [line for line in lines if b'"audit_checkpoint"' not in line]


def test_stripping_checkpoints_rehashing_and_deleting_the_head_is_detected(
    tmp_path: Path, keys: AuditKeys
) -> None:
    path = tmp_path / "audit.jsonl"
    _trail(path, keys)
    lines = _strip_checkpoints(read_lines(path))
    lines[5] = lines[5].replace(b"user4", b"admin")
    write_lines(path, rechain(lines))
    for extra in path.parent.glob("audit.jsonl.*"):
        if extra.name.endswith(".head"):
            extra.unlink()
    report = verify_audit_file(path, keys=keys)
    assert not report.ok, report.issues


def test_stripping_everything_mac_related_fails_in_the_cli(tmp_path: Path, keys: AuditKeys) -> None:
    path = tmp_path / "audit.jsonl"
    _trail(path, keys)
    lines = []
    for line in _strip_checkpoints(read_lines(path)):
        rec = json.loads(line)
        for name in ("mac", "mac_key", "mac_key_id", "mac_key_commit"):
            rec.pop(name, None)
        lines.append(json.dumps(rec, separators=(",", ":")).encode())
    write_lines(path, rechain(lines))
    path.with_name("audit.jsonl.head").unlink()
    out = CliRunner().invoke(tigerseal_cli, ["audit", "verify", str(path)])
    assert out.exit_code == 1, out.output
    assert "unanchored" in out.output
    allowed = CliRunner().invoke(
        tigerseal_cli, ["audit", "verify", "--allow-unanchored", str(path)]
    )
    assert allowed.exit_code == 0, allowed.output


def test_cutting_the_tail_and_deleting_the_head_is_detected(
    tmp_path: Path, keys: AuditKeys
) -> None:
    path = tmp_path / "audit.jsonl"
    _trail(path, keys)
    write_lines(path, read_lines(path)[:12])
    path.with_name("audit.jsonl.head").unlink()
    report = verify_audit_file(path, keys=keys)
    assert not report.ok
    assert "unanchored" in report.kinds()


def test_editing_unanchored_tail_records_with_the_chain_recomputed_is_detected(
    tmp_path: Path, keys: AuditKeys
) -> None:
    """Records after the newest checkpoint are MACed too, so rehashing needs the key."""
    path = tmp_path / "audit.jsonl"
    sink = _trail(path, keys, 25, close=False)
    sink.flush()
    lines = read_lines(path)
    lines[-1] = lines[-1].replace(b"user24", b"admin")
    write_lines(path, rechain(lines))
    report = verify_audit_file(path, keys=keys)
    assert not report.ok, report.issues
    sink.close()


def test_a_plain_chain_without_macs_fails_unless_allowed(tmp_path: Path, keys: AuditKeys) -> None:
    path = tmp_path / "audit.jsonl"
    sink = FileAuditSink(path, checkpoints=False)
    sink.write({"event_type": "authz_fail"})
    sink.close()
    assert not verify_audit_file(path, keys=keys).ok
    assert verify_audit_file(path, keys=keys, allow_unanchored=True).ok


def test_the_audit_file_is_not_opened_through_a_symlink(tmp_path: Path, keys: AuditKeys) -> None:
    from tigerseal.errors import AuditError

    victim = tmp_path / "victim"
    victim.write_text("")
    link = tmp_path / "audit.jsonl"
    link.symlink_to(victim)
    with pytest.raises(AuditError, match="symbolic link"):
        FileAuditSink(link, keys=keys)
    assert victim.read_text() == ""


def test_a_planted_hard_link_at_the_head_temp_name_is_not_overwritten(
    tmp_path: Path, keys: AuditKeys
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    path = tmp_path / "audit.jsonl"
    os.link(victim, tmp_path / f"audit.jsonl.head.{os.getpid()}.tmp")
    sink = FileAuditSink(path, keys=keys, checkpoint_every=1)
    sink.write({"event_type": "authz_fail"})
    sink.close()
    assert victim.read_text() == "keep\n"
    assert verify_audit_file(path, keys=keys).ok


WRITER = """
import sys
from tigerseal.audit import audit_security_event, get_auditor
for i in range(int(sys.argv[1])):
    audit_security_event("authn_login_fail", user_id=f"u{i}", risk_level="medium")
get_auditor().close()
"""


def test_four_processes_on_the_default_path_keep_one_verifiable_trail(tmp_path: Path) -> None:
    """gunicorn workers all writing .tigerseal/audit.jsonl (the default sink)."""
    from tigerseal.envelope import EncryptionService
    from tigerseal.providers.env import EnvKeyProvider

    var = "TS_AUDIT_TEST_KEY"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIGERSEAL_")}
    env[var] = secrets.token_hex(32)
    env["TIGERSEAL_KEY_PROVIDERS"] = f"env://{var}"
    env.pop("ENCRYPTION_MASTER_KEY", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, "300"],
            cwd=tmp_path,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    path = tmp_path / ".tigerseal" / "audit.jsonl"
    keys = AuditKeys(encryption=EncryptionService(EnvKeyProvider(var, environ={var: env[var]})))
    report = verify_audit_file(path, keys=keys)
    assert report.ok, report.issues[:5]
    events = [json.loads(line) for line in read_lines(path) if b'"authn_login_fail"' in line]
    assert len(events) == 1200


def test_appending_a_record_without_the_key_is_detected(tmp_path: Path, keys: AuditKeys) -> None:
    path = tmp_path / "audit.jsonl"
    _trail(path, keys)
    lines = read_lines(path)
    fake = {"event_type": "authz_change", "user_id": "admin", "risk_level": "low"}
    lines.append(json.dumps({"seq": 0, "prev": "", **fake}).encode())
    write_lines(path, rechain(lines, len(lines) - 1))
    report = verify_audit_file(path, keys=keys)
    assert "forged" in report.kinds()


def test_rolling_back_file_and_head_together_is_not_detected(
    tmp_path: Path, keys: AuditKeys
) -> None:
    """A documented limit: an earlier copy of the file *and* its head is a valid trail."""
    path = tmp_path / "audit.jsonl"
    head = path.with_name("audit.jsonl.head")
    sink = _trail(path, keys, 10, close=False)
    sink.checkpoint()
    saved = (path.read_bytes(), head.read_bytes())
    for i in range(10):
        sink.write({"event_type": "authz_fail", "i": i})
    sink.close()
    path.write_bytes(saved[0])
    head.write_bytes(saved[1])
    assert verify_audit_file(path, keys=keys).ok  # only an external anchor can tell


def test_deleting_the_whole_trail_is_not_detected_by_the_next_trail(
    tmp_path: Path, keys: AuditKeys
) -> None:
    """A documented limit: with file, head and keys gone, the next writer starts afresh."""
    path = tmp_path / "audit.jsonl"
    _trail(path, keys)
    first_chain = json.loads(read_lines(path)[0])["chain_id"]
    for name in ("audit.jsonl", "audit.jsonl.head", "audit.jsonl.keys"):
        (tmp_path / name).unlink()
    _trail(path, keys, 3)
    report = verify_audit_file(path, keys=keys)
    assert report.ok
    assert report.chain_ids != [first_chain]  # a new chain id: an anchor that kept it notices


def test_an_external_anchor_detects_rollback_and_replacement(
    tmp_path: Path, keys: AuditKeys
) -> None:
    path = tmp_path / "audit.jsonl"
    head = path.with_name("audit.jsonl.head")
    sink = _trail(path, keys, 10, close=False)
    sink.checkpoint()
    saved = (path.read_bytes(), head.read_bytes())
    for i in range(10):
        sink.write({"event_type": "authz_fail", "i": i})
    sink.close()
    runner = CliRunner()
    out = runner.invoke(tigerseal_cli, ["audit", "anchor", str(path)])
    assert out.exit_code == 0, out.output
    anchor = out.output.strip()
    seq, sha = anchor.split(":")
    ok = runner.invoke(tigerseal_cli, ["audit", "verify", "--anchor", anchor, str(path)])
    assert ok.exit_code == 0, ok.output
    path.write_bytes(saved[0])  # roll file and head back together
    head.write_bytes(saved[1])
    assert verify_audit_file(path, keys=keys).ok
    report = verify_audit_file(path, keys=keys, anchor=(int(seq), sha))
    assert "truncated" in report.kinds()
    bad = runner.invoke(tigerseal_cli, ["audit", "verify", "--anchor", anchor, str(path)])
    assert bad.exit_code == 1
    assert "anchor" in bad.output
    junk = runner.invoke(tigerseal_cli, ["audit", "verify", "--anchor", "x:y", str(path)])
    assert junk.exit_code == 2


def test_stripping_the_mac_of_one_record_is_detected(tmp_path: Path, keys: AuditKeys) -> None:
    path = tmp_path / "audit.jsonl"
    _trail(path, keys)
    lines = read_lines(path)
    rec = json.loads(lines[7])
    del rec["mac"]
    rec["user_id"] = "admin"
    lines[7] = json.dumps(rec, separators=(",", ":")).encode()
    write_lines(path, rechain(lines, 7))
    report = verify_audit_file(path, keys=keys)
    assert "forged" in report.kinds()
    assert any(i.seq == 7 for i in report.issues if i.kind == "forged")


def test_any_byte_changed_anywhere_is_detected(tmp_path: Path) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    keys = AuditKeys(static_key=b"s" * 32)
    path = tmp_path / "audit.jsonl"
    sink = FileAuditSink(path, keys=keys, checkpoint_every=7)
    for i in range(20):
        sink.write({"event_type": "authz_fail", "user_id": f"u{i}", "risk_level": "low"})
    sink.close()
    honest = path.read_bytes()

    @settings(max_examples=80, deadline=None)
    @given(st.integers(0, len(honest) - 1), st.integers(1, 255))
    def check(position: int, delta: int) -> None:
        data = bytearray(honest)
        data[position] = (data[position] + delta) % 256
        path.write_bytes(bytes(data))
        assert not verify_audit_file(path, keys=keys).ok

    check()


# A cut must stay detected after the next legitimate write: a writer that resumes the file
# (a restart, another worker, or the same process after the file shrank under it) must not
# launder the cut by moving the head to the file's new end.


def test_a_cut_and_a_deleted_head_stay_detected_after_the_next_writer_starts(
    tmp_path: Path, keys: AuditKeys
) -> None:
    path = tmp_path / "audit.jsonl"
    _trail(path, keys)
    write_lines(path, read_lines(path)[:12])
    path.with_name("audit.jsonl.head").unlink()
    _trail(path, keys, 3)  # the application restarts and writes on
    report = verify_audit_file(path, keys=keys)
    assert not report.ok, report.issues
    assert "unanchored" in report.kinds()  # the head was missing when the writer resumed


def test_a_cut_back_past_the_head_stays_detected_after_the_next_writer_starts(
    tmp_path: Path, keys: AuditKeys
) -> None:
    path = tmp_path / "audit.jsonl"
    _trail(path, keys)
    write_lines(path, read_lines(path)[:12])
    _trail(path, keys, 3)
    report = verify_audit_file(path, keys=keys)
    assert not report.ok, report.issues
    assert "truncated" in report.kinds()


def test_a_cut_under_a_running_writer_stays_detected(tmp_path: Path, keys: AuditKeys) -> None:
    path = tmp_path / "audit.jsonl"
    sink = _trail(path, keys, close=False)
    sink.checkpoint()
    write_lines(path, read_lines(path)[:12])
    sink.write({"event_type": "authz_fail"})
    sink.close()
    report = verify_audit_file(path, keys=keys)
    assert not report.ok, report.issues
    assert "truncated" in report.kinds()


@pytest.mark.parametrize("planted", ["audit.jsonl.head", "audit.jsonl.keys"])
def test_a_fifo_planted_next_to_the_trail_hangs_neither_verify_nor_a_writer(
    tmp_path: Path, keys: AuditKeys, planted: str
) -> None:
    """A hung `audit verify` (a cron check) would never report the tampering."""
    import threading

    path = tmp_path / "audit.jsonl"
    _trail(path, keys, 3)
    fifo = tmp_path / planted
    fifo.unlink()
    os.mkfifo(fifo)
    results: list[object] = []

    def run() -> None:
        try:
            results.append(verify_audit_file(path, keys=keys))
            results.append(_trail(path, keys, 1))
        except Exception as exc:  # the writer may refuse, it must not hang
            results.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(10)
    hung = worker.is_alive()
    if hung:  # release the blocked open so the thread can end
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        os.close(fd)
        worker.join(5)
    assert not hung, "blocked on the FIFO"
    report = results[0]
    assert not getattr(report, "ok", True), report


def test_a_running_writer_keeps_recording_after_the_trail_is_deleted(
    tmp_path: Path, keys: AuditKeys
) -> None:
    """It wrote on into the deleted file: every later record was lost until a restart."""
    path = tmp_path / "audit.jsonl"
    sink = _trail(path, keys, 5, close=False)
    for name in ("audit.jsonl", "audit.jsonl.head", "audit.jsonl.keys"):
        (tmp_path / name).unlink()
    sink.write({"event_type": "authz_fail", "user_id": "after-delete"})
    sink.close()
    assert b"after-delete" in path.read_bytes()
    report = verify_audit_file(path, keys=keys)
    assert report.ok, report.issues  # a new chain, with a warning that the old one went away
    assert "truncated" in report.kinds()


def test_rolling_back_file_and_head_under_a_running_writer_is_detected(
    tmp_path: Path, keys: AuditKeys
) -> None:
    import shutil

    path = tmp_path / "audit.jsonl"
    head = tmp_path / "audit.jsonl.head"
    sink = _trail(path, keys, 5, close=False)
    sink.checkpoint()
    shutil.copy(path, tmp_path / "old")
    shutil.copy(head, tmp_path / "old.head")
    for i in range(5):
        sink.write({"event_type": "authz_fail", "user_id": f"late{i}"})
    (tmp_path / "old").replace(path)  # the attacker swaps the earlier copies back in
    (tmp_path / "old.head").replace(head)
    sink.write({"event_type": "authz_fail"})
    sink.close()
    report = verify_audit_file(path, keys=keys)
    assert not report.ok, report.issues
    assert "truncated" in report.kinds()


def test_log_rotation_by_rename_with_two_writers_keeps_the_new_file_valid(
    tmp_path: Path, keys: AuditKeys
) -> None:
    path = tmp_path / "audit.jsonl"
    first = _trail(path, keys, 3, close=False)
    second = _trail(path, keys, 3, close=False)
    path.rename(tmp_path / "audit.jsonl.1")  # logrotate (create mode)
    first.write({"event_type": "authz_fail", "user_id": "first"})
    second.write({"event_type": "authz_fail", "user_id": "second"})
    first.close()
    second.close()
    data = path.read_bytes()
    assert b'"first"' in data
    assert b'"second"' in data
    report = verify_audit_file(path, keys=keys)
    assert report.ok, report.issues


def test_a_planted_giant_line_neither_exhausts_verify_nor_passes(
    tmp_path: Path, keys: AuditKeys
) -> None:
    """A sparse file costs the attacker nothing; verify read each line whole into memory."""
    import tracemalloc

    path = tmp_path / "audit.jsonl"
    _trail(path, keys, 3)
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size + 48 * 1024 * 1024)  # 48 MiB of zero bytes, no newline
        handle.seek(0, os.SEEK_END)
        handle.write(b"\n")
    tracemalloc.start()
    try:
        report = verify_audit_file(path, keys=keys)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not report.ok
    assert "corrupt" in report.kinds()
    assert peak < 24 * 1024 * 1024


def test_tail_and_stats_read_past_a_planted_giant_line(tmp_path: Path, keys: AuditKeys) -> None:
    import tracemalloc

    from tigerseal.audit._trail import stats, tail

    path = tmp_path / "audit.jsonl"
    _trail(path, keys, 3)
    lines = read_lines(path)  # start, 3 events, final checkpoint
    with path.open("wb") as handle:
        handle.write(b"".join(line + b"\n" for line in lines[:2]))
        handle.truncate(handle.tell() + 32 * 1024 * 1024)  # a sparse giant line
        handle.seek(0, os.SEEK_END)
        handle.write(b"\n" + b"".join(line + b"\n" for line in lines[2:]))
    tracemalloc.start()
    try:
        users = [r["user_id"] for r in tail(path, 100)]
        total = stats(path)["total_events"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert users[-2:] == ["user1", "user2"]
    assert total == 3
    assert peak < 40 * 1024 * 1024  # about 100 MB before: the line was read whole


def test_a_planted_giant_torn_tail_does_not_hang_the_next_writer(
    tmp_path: Path, keys: AuditKeys
) -> None:
    """The writer read the 'torn' tail back in 64 KiB steps, copying it whole each time."""
    import tracemalloc

    from tigerseal.errors import AuditIntegrityError

    path = tmp_path / "audit.jsonl"
    _trail(path, keys, 3)
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size + 24 * 1024 * 1024)  # sparse, no newline
    tracemalloc.start()
    try:
        with pytest.raises(AuditIntegrityError, match="longer than any audit record"):
            FileAuditSink(path, keys=keys)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * 1024 * 1024


def test_a_planted_torn_line_does_not_show_as_a_record_in_tail_or_stats(
    tmp_path: Path, keys: AuditKeys
) -> None:
    """The next writer terminates a 'torn' tail; verify warns, tail/stats showed it as real."""
    from tigerseal.audit._trail import stats, tail

    path = tmp_path / "audit.jsonl"
    _trail(path, keys, 2)
    with path.open("ab") as handle:  # a whole JSON object, but no seq/prev and no newline
        handle.write(b'{"event_type":"authn_login_success","user_id":"admin"}')
    _trail(path, keys, 1)
    assert "admin" not in json.dumps(tail(path, 50))
    assert "authn_login_success" not in stats(path)["events_by_type"]
