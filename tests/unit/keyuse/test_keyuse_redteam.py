"""Attacks on the retire scan of encrypted files: links out of the tree, temporary files."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tigerseal.envelope import EncryptionService
from tigerseal.errors import ConfigError
from tigerseal.keyuse import KeyUseScan, file_key_uses, retire
from tigerseal.providers.file import FileKeyProvider, create_keyring

from tests.unit.config.isolation import isolate


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    yield from isolate(monkeypatch, tmp_path)


@pytest.fixture
def keyring(tmp_path: Path) -> FileKeyProvider:
    return create_keyring(tmp_path / "keyring.json")


def test_links_out_of_the_tree_and_dead_temporaries_are_not_read(
    tmp_path: Path, keyring: FileKeyProvider
) -> None:
    svc = EncryptionService(keyring)
    old = bytes(svc.encrypt(b"old", {"p": "t"}))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.bin").write_bytes(old)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "link.bin").symlink_to(outside / "secret.bin")
    (tree / "linkdir").symlink_to(outside, target_is_directory=True)
    # a temporary file left by a killed writer (pid 999999999 is not running): garbage
    (tree / ".m.bin.ts999999999-0123abcd.part").write_bytes(old)
    keyring.rotate()
    (tree / "new.bin").write_bytes(bytes(svc.encrypt(b"new", {"p": "t"})))
    assert [(u.what, u.version) for u in file_key_uses([str(tree)])] == [
        (f"message file {tree / 'new.bin'}", 2)
    ]


def test_a_message_still_being_written_refuses_the_retire(
    tmp_path: Path, keyring: FileKeyProvider
) -> None:
    """An ``encrypt -o`` started before the rotation renames a v1 message into place later."""
    svc = EncryptionService(keyring)
    tree = tmp_path / "tree"
    tree.mkdir()
    writer = subprocess.Popen(["sleep", "60"])  # the running `tigerseal encrypt -o big.bin`
    try:
        part = tree / f".big.bin.ts{writer.pid}-0123abcd.part"
        part.write_bytes(bytes(svc.encrypt(b"x" * 100, {"p": "t"}))[:60])  # header so far
        keyring.rotate()
        with pytest.raises(ConfigError, match=r"still being written"):
            retire(keyring, 2, KeyUseScan(paths=(str(tree),)))
        assert keyring.min_decryption_version == 0
    finally:
        writer.kill()
        writer.wait()
    retire(keyring, 2, KeyUseScan(paths=(str(tree),)))  # the writer is gone: garbage
    assert keyring.min_decryption_version == 2
