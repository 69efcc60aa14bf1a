"""Audit MAC keys can be rewrapped after a rotation; retire sees which versions they use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tigerseal.audit import AuditKeys, FileAuditSink, verify_audit_file
from tigerseal.audit.keystore import file_key_uses
from tigerseal.cli import cli
from tigerseal.envelope import EncryptionService
from tigerseal.keyuse import KeyUseScan, KeyVersionInUse, retire
from tigerseal.testing.fake import FakeKeyProvider

from .conftest import read_lines, write_legacy_trail


def _trail(path: Path, keys: AuditKeys) -> None:
    for _ in range(2):  # two writers: two MAC keys
        sink = FileAuditSink(path, keys=keys, checkpoint_every=4)
        for i in range(6):
            sink.write({"event_type": "authz_fail", "i": i})
        sink.close()


def _fresh(key_name: str) -> AuditKeys:
    return AuditKeys(encryption=EncryptionService(FakeKeyProvider(key_name)))


def test_rotate_rewrap_retire_then_verify(tmp_path: Path, keys: AuditKeys, key_name: str) -> None:
    path = tmp_path / "audit.jsonl"
    _trail(path, keys)
    chained = path.read_bytes()
    provider = FakeKeyProvider(key_name)
    provider.rotate()
    uri = f"file://{path}"
    scan = KeyUseScan(audit_sinks=(uri,))
    assert sorted(u.version for u in file_key_uses(path)) == [1, 1]
    with pytest.raises(KeyVersionInUse, match="rewrap-keys") as refused:
        retire(provider, 2, scan)
    assert len(refused.value.uses) == 2
    out = CliRunner().invoke(cli, ["audit", "rewrap-keys", uri])
    assert out.exit_code == 0, out.output
    assert "2 MAC keys rewrapped" in out.output
    assert path.read_bytes() == chained  # the chain is not touched
    assert sorted(u.version for u in file_key_uses(path)) == [2, 2]
    retire(provider, 2, scan)
    report = verify_audit_file(path, keys=_fresh(key_name))
    assert report.ok, report.issues
    assert report.issues == []
    again = CliRunner().invoke(cli, ["audit", "rewrap-keys", str(path)])
    assert "0 MAC keys rewrapped, 2 already current" in again.output


def test_legacy_trails_verify_with_a_warning_and_their_keys_can_be_rewrapped(
    tmp_path: Path, keys: AuditKeys, key_name: str
) -> None:
    path = tmp_path / "old.jsonl"
    write_legacy_trail(path, keys)
    report = verify_audit_file(path, keys=_fresh(key_name))
    assert report.ok, report.issues
    assert report.legacy
    assert report.kinds() == {"legacy"}
    provider = FakeKeyProvider(key_name)
    provider.rotate()
    uses = file_key_uses(path)
    assert [u.version for u in uses] == [1]
    assert "legacy" in uses[0].what
    out = CliRunner().invoke(cli, ["audit", "rewrap-keys", str(path)])
    assert "1 MAC keys rewrapped" in out.output, out.output
    retire(provider, 2, KeyUseScan(audit_sinks=(f"file://{path}",)))
    report = verify_audit_file(path, keys=_fresh(key_name))
    assert report.ok, report.issues
    # a writer of this version continues the legacy chain with keyed lines
    sink = FileAuditSink(path, keys=_fresh(key_name))
    sink.write({"event_type": "authz_fail"})
    sink.close()
    report = verify_audit_file(path, keys=_fresh(key_name))
    assert report.ok, report.issues
    assert json.loads(read_lines(path)[-1])["mac"]


def test_rewrapping_the_trail_that_audits_the_rewrap(tmp_path: Path, key_name: str) -> None:
    """The rewrap is audited (crypto_rewrap) into the very trail whose keys it rewraps."""
    from tigerseal import audit_security_event
    from tigerseal.audit import get_auditor, reset_auditor

    audit_security_event("authz_fail")
    get_auditor().flush()
    FakeKeyProvider(key_name).rotate()
    out = CliRunner().invoke(cli, ["audit", "rewrap-keys"])  # the default sinks
    assert out.exit_code == 0, out.output
    assert "1 MAC keys rewrapped" in out.output
    reset_auditor()
    path = tmp_path / ".tigerseal" / "audit.jsonl"
    assert b'"crypto_rewrap"' in path.read_bytes()
    assert verify_audit_file(path, keys=_fresh(key_name)).ok
