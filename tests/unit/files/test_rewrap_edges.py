"""``tigerseal rewrap`` at the edges: hard links, signals between copy and rename."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tigerseal.envelope import EncryptedData, EncryptionService
from tigerseal.providers.file import FileKeyProvider, create_keyring


@pytest.fixture
def svc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EncryptionService]:
    create_keyring(tmp_path / "keyring.json")
    service = EncryptionService(FileKeyProvider(tmp_path / "keyring.json"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("tigerseal.cli.crypto._service", lambda: service)
    yield service
    service.close()


def test_a_hard_linked_file_is_not_split_silently(tmp_path: Path, svc: EncryptionService) -> None:
    from tigerseal.cli.crypto import rewrap

    d, elsewhere = tmp_path / "data", tmp_path / "backups"
    d.mkdir()
    elsewhere.mkdir()
    (d / "a.tsl").write_bytes(bytes(svc.encrypt(b"linked")))
    os.link(d / "a.tsl", elsewhere / "a.tsl")
    svc.providers[0].rotate()  # type: ignore[attr-defined]

    result = CliRunner().invoke(rewrap, [str(d)])
    # Replacing one name would leave the other on the old key version, unseen by a retire scan
    # of data/: refused and reported, both names left as they are.
    assert result.exit_code == 1, result.output
    assert "hard link" in result.output
    assert os.stat(d / "a.tsl").st_ino == os.stat(elsewhere / "a.tsl").st_ino
    assert EncryptedData.parse((d / "a.tsl").read_bytes()).key_version == 1

    # Once the links are broken (cp), the file is rewrapped.
    data = (d / "a.tsl").read_bytes()
    (d / "a.tsl").unlink()
    (d / "a.tsl").write_bytes(data)
    result = CliRunner().invoke(rewrap, [str(d)])
    assert result.exit_code == 0, result.output
    assert EncryptedData.parse((d / "a.tsl").read_bytes()).key_version == 2
