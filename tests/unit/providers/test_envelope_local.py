"""The built-in providers under the envelope: several providers, rotation and rewrap."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from tigerseal.envelope import EncryptedData, EncryptionService
from tigerseal.errors import DecryptionError, KeyVersionRetired
from tigerseal.providers.env import EnvKeyProvider
from tigerseal.providers.file import FileKeyProvider, create_keyring
from tigerseal.testing import FakeKeyProvider

CONTEXT = {"table": "accounts", "row": "42"}


def test_env_primary_file_backup(tmp_path: Path) -> None:
    env = EnvKeyProvider("MK", environ={"MK": secrets.token_hex(32)})
    keyring = create_keyring(tmp_path / "backup.json")
    message = EncryptionService([env, keyring]).encrypt("broker secret", CONTEXT)
    assert [w.provider for w in message.wrapped_keys] == ["env", "file"]
    # Either provider alone can decrypt (the backup is an offline recovery key).
    for alone in (env, FileKeyProvider(tmp_path / "backup.json")):
        plain = EncryptionService([alone]).decrypt_to_string(str(message), CONTEXT)
        assert plain == "broker secret"
    with pytest.raises(DecryptionError):
        EncryptionService([env]).decrypt(message, {"table": "accounts", "row": "43"})


def test_file_rotation_and_rewrap(tmp_path: Path) -> None:
    keyring = create_keyring(tmp_path / "k.json")
    service = EncryptionService([keyring])
    old = service.encrypt(b"payload", CONTEXT)
    assert old.key_version == 1
    keyring.rotate()
    assert service.encrypt(b"new", CONTEXT).key_version == 2
    moved = service.rewrap(old)
    assert moved.key_version == 2
    keyring.retire_below(2)
    with pytest.raises(KeyVersionRetired):
        service.decrypt(old, CONTEXT)
    assert service.decrypt(EncryptedData.parse(str(moved)), CONTEXT) == b"payload"


def test_env_versions_through_envelope() -> None:
    v1 = secrets.token_hex(32)
    old = EncryptionService([EnvKeyProvider("MK", environ={"MK": v1})]).encrypt("x", CONTEXT)
    rotated = EnvKeyProvider(
        "MK", environ={"MK": secrets.token_hex(32), "MK_VERSION": "2", "MK_V1": v1}
    )
    service = EncryptionService([rotated])
    assert service.decrypt_to_string(old, CONTEXT) == "x"
    assert service.rewrap(old).key_version == 2


def test_fake_counts_envelope_calls() -> None:
    fake = FakeKeyProvider(f"envelope-{secrets.token_hex(4)}")
    service = EncryptionService([fake])
    message = service.encrypt("x", CONTEXT)
    service.decrypt(message, CONTEXT)
    assert fake.calls["unwrap"] + fake.calls["unwrap_many"] >= 1
    assert fake.calls["generate"] + fake.calls["wrap"] >= 1
