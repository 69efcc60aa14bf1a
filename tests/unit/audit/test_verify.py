"""Tampering with an audit file is detected and classified; honest files verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tigerseal.audit import AuditKeys, FileAuditSink, verify_audit_file
from tigerseal.envelope import EncryptionService
from tigerseal.errors import AuditError
from tigerseal.testing.fake import FakeKeyProvider

from .conftest import read_lines, rechain, write_lines


@pytest.fixture
def trail(tmp_path: Path, keys: AuditKeys) -> Path:
    """30 events, a checkpoint every 10 records, closed cleanly (final checkpoint, head)."""
    path = tmp_path / "audit.jsonl"
    sink = FileAuditSink(path, keys=keys, checkpoint_every=10)
    for i in range(30):
        sink.write(
            {"event_type": "authn_login_fail", "user_id": f"user{i}", "risk_level": "medium"}
        )
    sink.close()
    return path


def kinds(path: Path, keys: AuditKeys) -> set[str]:
    report = verify_audit_file(path, keys=keys)
    assert not report.ok
    return report.kinds()


def test_honest_trail_verifies(trail: Path, keys: AuditKeys) -> None:
    report = verify_audit_file(trail, keys=keys)
    assert report.ok
    assert report.issues == []
    assert report.first_seq == 0
    assert report.head_seq == report.last_seq
    assert report.as_dict()["ok"] is True


def test_edit_is_detected(trail: Path, keys: AuditKeys) -> None:
    lines = read_lines(trail)
    lines[5] = lines[5].replace(b"user4", b"admin")
    write_lines(trail, lines)
    report = verify_audit_file(trail, keys=keys)
    edited = [i for i in report.issues if i.kind == "edited"]
    assert edited
    assert edited[0].line == 6


def test_edit_with_the_chain_recomputed_fails_the_line_mac(trail: Path, keys: AuditKeys) -> None:
    lines = read_lines(trail)
    lines[5] = lines[5].replace(b"user4", b"admin")
    write_lines(trail, rechain(lines))
    report = verify_audit_file(trail, keys=keys)
    assert "edited" not in report.kinds()  # the chain itself is consistent again...
    forged = [i for i in report.issues if i.kind == "forged"]
    assert forged, report.issues  # ...but the edited line's MAC no longer matches
    assert forged[0].seq == 5


def test_deletion_is_detected(trail: Path, keys: AuditKeys) -> None:
    lines = read_lines(trail)
    del lines[7]
    write_lines(trail, lines)
    assert "deleted" in kinds(trail, keys)


def test_deletion_with_renumbering_fails_the_checkpoint(trail: Path, keys: AuditKeys) -> None:
    lines = read_lines(trail)
    del lines[7]
    write_lines(trail, rechain(lines))
    assert "forged" in kinds(trail, keys)


def test_deleting_the_beginning_is_detected(trail: Path, keys: AuditKeys) -> None:
    lines = read_lines(trail)
    write_lines(trail, lines[3:])
    report = verify_audit_file(trail, keys=keys)
    assert "deleted" in report.kinds()
    assert any("beginning" in i.message for i in report.issues)


def test_reordering_is_detected(trail: Path, keys: AuditKeys) -> None:
    lines = read_lines(trail)
    lines[4], lines[5] = lines[5], lines[4]
    write_lines(trail, lines)
    found = kinds(trail, keys)
    assert "reordered" in found
    assert "deleted" not in found


def test_duplicate_is_detected(trail: Path, keys: AuditKeys) -> None:
    lines = read_lines(trail)
    lines.insert(6, lines[4])
    write_lines(trail, lines)
    assert "inserted" in kinds(trail, keys)


def test_spliced_chain_is_detected(trail: Path, keys: AuditKeys, tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    sink = FileAuditSink(other, keys=keys)
    sink.write({"event_type": "authz_fail"})
    sink.close()
    lines = read_lines(trail)
    write_lines(trail, lines[:10] + read_lines(other) + lines[10:])
    assert "inserted" in kinds(trail, keys)


def test_garbage_line_is_detected(trail: Path, keys: AuditKeys) -> None:
    lines = read_lines(trail)
    lines[8] = b"}{ not json"
    write_lines(trail, lines)
    assert "corrupt" in kinds(trail, keys)


def test_truncation_past_a_checkpoint_is_detected(trail: Path, keys: AuditKeys) -> None:
    lines = read_lines(trail)
    write_lines(trail, lines[:-12])
    report = verify_audit_file(trail, keys=keys)
    assert "truncated" in report.kinds()
    assert any("cut off" in i.message for i in report.issues)


def test_truncate_and_rewrite_is_detected(trail: Path, keys: AuditKeys) -> None:
    lines = read_lines(trail)
    # cut back past the last checkpoint, then write a fake tail with the same length
    kept = lines[:-5]
    fake = [json.dumps({"seq": 0, "prev": "", "event_type": "sys_monitor_enabled"}).encode()] * 5
    write_lines(trail, rechain(kept + fake, len(kept)))
    assert "truncated" in kinds(trail, keys)


def test_records_after_the_last_checkpoint_are_counted_as_unanchored(
    tmp_path: Path, keys: AuditKeys
) -> None:
    path = tmp_path / "open.jsonl"
    sink = FileAuditSink(path, keys=keys, checkpoint_every=10)
    for i in range(14):
        sink.write({"event_type": "sensitive_read", "i": i})
    # the process dies without closing: 4 events (+ the checkpoint's successor) unanchored
    report = verify_audit_file(path, keys=keys)
    assert report.ok, report.issues
    assert report.unanchored == 4
    lines = read_lines(path)
    write_lines(path, lines[:-2])  # this truncation cannot be seen: the tail is unanchored
    assert verify_audit_file(path, keys=keys).ok
    sink.close()


def test_forged_head_file_is_detected(trail: Path, keys: AuditKeys) -> None:
    head_path = trail.with_name(trail.name + ".head")
    head = json.loads(head_path.read_text())
    head["seq"] = head["seq"] - 10
    head_path.write_text(json.dumps(head))
    assert "forged" in kinds(trail, keys)
    head_path.write_text("{ broken")
    assert "forged" in kinds(trail, keys)


def test_missing_head_fails_unless_allowed(trail: Path, keys: AuditKeys) -> None:
    trail.with_name(trail.name + ".head").unlink()
    report = verify_audit_file(trail, keys=keys)
    assert not report.ok
    assert [i.kind for i in report.issues] == ["unanchored"]
    report = verify_audit_file(trail, keys=keys, allow_unanchored=True)
    assert report.ok
    assert [i.kind for i in report.issues] == ["unanchored"]


def test_replaced_mac_key_is_detected(trail: Path, keys: AuditKeys, key_name: str) -> None:
    # An attacker swaps the wrapped key in the side file for one wrapped for another purpose:
    # the encryption context refuses it (and a key of their own fails the commitment).
    keys_path = trail.with_name(trail.name + ".keys")
    entries = [json.loads(x) for x in keys_path.read_text().splitlines()]
    service = EncryptionService(FakeKeyProvider(key_name))
    entries[0]["wrapped"] = str(service.encrypt(b"k" * 32, {"purpose": "other"}))
    keys_path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    verifier = AuditKeys(encryption=EncryptionService(FakeKeyProvider(key_name)))  # no cache
    assert "key" in kinds(trail, verifier)
    entries[0]["wrapped"] = str(
        service.encrypt(
            b"k" * 32,
            {
                "purpose": "tigerseal-audit-mac",
                "chain": entries[0]["chain_id"],
                "key_id": entries[0]["key_id"],
            },
        )
    )
    keys_path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    verifier = AuditKeys(encryption=EncryptionService(FakeKeyProvider(key_name)))
    report = verify_audit_file(trail, keys=verifier)
    assert "key" in report.kinds()
    assert any("commitment" in i.message for i in report.issues)


def test_deleted_key_file_fails_closed(trail: Path, keys: AuditKeys, key_name: str) -> None:
    trail.with_name(trail.name + ".keys").unlink()
    verifier = AuditKeys(encryption=EncryptionService(FakeKeyProvider(key_name)))
    assert "key" in kinds(trail, verifier)


def test_verifying_without_the_keys_fails_closed(trail: Path) -> None:
    stranger = AuditKeys(encryption=EncryptionService(FakeKeyProvider("unrelated-key")))
    report = verify_audit_file(trail, keys=stranger)
    assert not report.ok
    assert report.kinds() == {"key"}
    chain_only = verify_audit_file(trail, keys=stranger, check_macs=False)
    assert chain_only.ok
    assert chain_only.kinds() == {"unanchored"}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="cannot read"):
        verify_audit_file(tmp_path / "nope.jsonl")


def test_cli_verify(trail: Path, keys: AuditKeys, monkeypatch: pytest.MonkeyPatch) -> None:
    from tigerseal.cli import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["audit", "verify", str(trail)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output
    lines = read_lines(trail)
    del lines[3]
    write_lines(trail, lines)
    result = runner.invoke(cli, ["audit", "verify", str(trail)])
    assert result.exit_code == 1
    assert "deleted" in result.output
    result = runner.invoke(cli, ["audit", "verify", "--json", str(trail)])
    assert json.loads(result.output)["ok"] is False


def test_a_resumed_head_that_lagged_several_checkpoints_is_still_checked(
    tmp_path: Path, keys: AuditKeys
) -> None:
    """The verifier keeps only recent line hashes; an older head is found in a second pass."""
    import shutil

    from tigerseal.audit import FileAuditSink

    path = tmp_path / "audit.jsonl"
    head = tmp_path / "audit.jsonl.head"
    sink = FileAuditSink(path, keys=keys, checkpoint_every=2)
    sink.write({"event_type": "authz_fail"})
    shutil.copy(head, tmp_path / "lagging")  # as if later head updates were lost in crashes
    for _ in range(9):
        sink.write({"event_type": "authz_fail"})
    sink.close()
    (tmp_path / "lagging").replace(head)
    FileAuditSink(path, keys=keys).close()  # resumes, carrying the lagging head
    report = verify_audit_file(path, keys=keys)
    assert report.ok, report.issues
    resume = json.loads(read_lines(path)[-1])
    assert resume["event_type"] == "audit_chain_resume"
    assert resume["head"]["seq"] < resume["seq"] - 6  # older than the last two checkpoints
