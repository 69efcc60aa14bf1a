from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tigerseal.audit import AuditKeys, metrics, reset_auditor
from tigerseal.config import reset_settings
from tigerseal.envelope import EncryptionService, reset_encryption_service
from tigerseal.testing.fake import FakeKeyProvider, reset_fake_keys


@pytest.fixture
def key_name() -> Iterator[str]:
    name = "audit-" + secrets.token_hex(4)
    yield name
    reset_fake_keys(name)


@pytest.fixture
def keys(key_name: str) -> AuditKeys:
    """Checkpoint keys wrapped by a fake KMS key."""
    return AuditKeys(encryption=EncryptionService(FakeKeyProvider(key_name)))


@pytest.fixture(autouse=True)
def isolated(
    fake_provider_registered: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key_name: str
) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    for var in ("ENCRYPTION_MASTER_KEY", "ENVIRONMENT", "TIGERSEAL_AUDIT_SINKS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", f"fake://{key_name}")
    reset_settings()
    reset_encryption_service()
    reset_auditor()
    metrics.reset()
    yield
    reset_auditor()
    reset_encryption_service()
    reset_settings()


def read_lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def rechain(lines: list[bytes], start: int = 0) -> list[bytes]:
    """What an attacker with write access does: recompute every hash from ``start`` on."""
    out = list(lines[:start])
    prev = hashlib.sha256(out[-1]).hexdigest() if out else "0" * 64
    for seq, line in enumerate(lines[start:], start):
        rec: dict[str, Any] = json.loads(line)
        rec["seq"] = seq
        rec["prev"] = prev
        new = json.dumps(rec, separators=(",", ":")).encode()
        out.append(new)
        prev = hashlib.sha256(new).hexdigest()
    return out


def write_legacy_trail(path: Path, keys: AuditKeys, n: int = 10, every: int = 5) -> None:
    """A trail as the previous version (format tigerseal-audit/1) wrote it."""
    from tigerseal.audit._chain import LEGACY_HEAD_FORMAT, checkpoint_mac, head_mac

    chain_id = secrets.token_hex(8)
    mac = keys.new_key(chain_id)
    assert mac.wrapped is not None
    lines: list[bytes] = []
    prev = "0" * 64
    ts = "2025-01-01T00:00:00.000000Z"

    def add(rec: dict[str, Any]) -> None:
        nonlocal prev
        line = json.dumps({"seq": len(lines), "prev": prev, **rec}, separators=(",", ":"))
        lines.append(line.encode())
        prev = hashlib.sha256(lines[-1]).hexdigest()

    add(
        {
            "ts": ts,
            "event_type": "audit_chain_start",
            "risk_level": "low",
            "format": "tigerseal-audit/1",
            "chain_id": chain_id,
            "pid": 1,
            "mac_key_id": mac.key_id,
            "mac_key": mac.wrapped,
        }
    )
    for i in range(n):
        add({"ts": ts, "event_type": "authz_fail", "risk_level": "low", "i": i})
        if (i + 1) % every == 0:
            seq = len(lines)
            add(
                {
                    "ts": ts,
                    "event_type": "audit_checkpoint",
                    "risk_level": "low",
                    "chain_id": chain_id,
                    "mac_key_id": mac.key_id,
                    "mac": checkpoint_mac(mac.key, chain_id, seq, prev, ts),
                }
            )
            head = {
                "format": LEGACY_HEAD_FORMAT,
                "chain_id": chain_id,
                "seq": seq,
                "sha256": prev,
                "ts": ts,
                "mac_key_id": mac.key_id,
                "mac_key": mac.wrapped,
                "mac": head_mac(mac.key, chain_id, seq, prev, ts, LEGACY_HEAD_FORMAT),
            }
    write_lines(path, lines)
    path.with_name(path.name + ".head").write_text(json.dumps(head, indent=1))
