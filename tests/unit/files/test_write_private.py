"""``_files.write_private``: the one atomic, durable, private write for files holding secrets."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from tigerseal import _files
from tigerseal.config import generate_env_template


def test_replaces_with_mode_0600_and_fsyncs_file_and_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "secret.json"
    target.write_text("old")
    os.chmod(target, 0o644)
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    _files.write_private(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert synced == ["file", "dir"]
    assert [p.name for p in tmp_path.iterdir()] == ["secret.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "secret.json"
    target.write_text("old")

    def broken(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="No space"):
        _files.write_private(target, b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["secret.json"]


def test_env_template_is_written_durably(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The template holds a fresh master key: a crash right after writing must not lose it.
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    target = tmp_path / ".env"
    generate_env_template(target)
    assert target.exists()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert len(synced) >= 2


def test_jwt_key_set_save_is_written_durably_through_write_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A JWT key file holds private keys: it is replaced atomically, 0600, file and directory
    # fsynced (it had its own copy of the atomic write, without any fsync).
    from tigerseal.tokens import JWTKey, KeySet

    calls: list[Path] = []
    real = _files.write_private

    def spy(path: Path, data: bytes) -> None:
        calls.append(path)
        real(path, data)

    monkeypatch.setattr(_files, "write_private", spy)
    target = tmp_path / "jwt-keys.json"
    target.write_text("{}")
    os.chmod(target, 0o644)
    keys = KeySet([JWTKey.generate("EdDSA")])
    assert keys.save(target) == target
    assert calls == [target]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert KeySet.load(target).current.kid == keys.current.kid
    assert [p.name for p in tmp_path.iterdir()] == ["jwt-keys.json"]
