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
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key_name: str) -> Iterator[None]:
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
