"""Pepper files follow key-provider rotation: rewrap, and retire refuses while a pepper is old."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from tigerseal.cli import cli
from tigerseal.errors import ConfigError, KeyVersionRetired
from tigerseal.keyuse import KeyUseScan, KeyVersionInUse, key_uses, retire
from tigerseal.passwords import add_pepper, load_pepper_file
from tigerseal.passwords._pepper import pepper_key_uses, rewrap_pepper_file
from tigerseal.providers.file import FileKeyProvider, create_keyring

from tests.unit.passwords.conftest import make_context


@pytest.fixture
def keyring(tmp_path: Path) -> FileKeyProvider:
    return create_keyring(tmp_path / "keyring.json")


def _min_version(keyring: FileKeyProvider) -> int:
    """What the keyring file says (another process, the CLI, may have changed it)."""
    doc = json.loads(Path(keyring.uri.removeprefix("file://")).read_text())
    return int(doc["min_decryption_version"])


def _versions(path: Path) -> dict[str, int]:
    doc = json.loads(path.read_text())
    return {pid: e["key_version"] for pid, e in doc["peppers"].items()}


def test_retiring_the_version_a_pepper_is_wrapped_under_breaks_it(
    tmp_path: Path, keyring: FileKeyProvider
) -> None:
    """The defect: the raw provider method retires blindly, and the pepper file dies."""
    path = tmp_path / "peppers.json"
    add_pepper(path, keyring, "p1")
    keyring.rotate()
    keyring.retire_below(2)  # the raw provider method: not guarded (documented)
    with pytest.raises(KeyVersionRetired):
        load_pepper_file(path, [keyring])


def test_rewrap_then_retire_keeps_peppered_hashes_verifying(
    tmp_path: Path, keyring: FileKeyProvider
) -> None:
    path = tmp_path / "peppers.json"
    add_pepper(path, keyring, "p1")
    ctx = make_context(pepper=load_pepper_file(path, [keyring]))
    stored = ctx.hash("correct horse battery")
    keyring.rotate()

    scan = KeyUseScan(pepper_files=(str(path),))
    with pytest.raises(KeyVersionInUse, match=r"pepper 'p1' in .*peppers\.json.*version 1") as ei:
        retire(keyring, 2, scan)
    assert [(u.version, u.key_id) for u in ei.value.uses] == [(1, keyring.key_id)]
    assert keyring.min_decryption_version == 0  # refused: nothing was retired

    assert rewrap_pepper_file(path, [keyring]) == (1, 0, 0)
    assert _versions(path) == {"p1": 2}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert rewrap_pepper_file(path, [keyring]) == (0, 1, 0)  # idempotent

    retire(keyring, 2, scan)
    assert keyring.min_decryption_version == 2
    again = make_context(pepper=load_pepper_file(path, [keyring]))
    assert again.verify("correct horse battery", stored)
    assert not again.verify("correct horse batterY", stored)


def test_pepper_key_uses_lists_every_pepper(tmp_path: Path, keyring: FileKeyProvider) -> None:
    path = tmp_path / "peppers.json"
    add_pepper(path, keyring, "p1")
    keyring.rotate()
    add_pepper(path, keyring, "p2")
    uses = pepper_key_uses(path)
    assert sorted((u.what.split()[1], u.version) for u in uses) == [("'p1'", 1), ("'p2'", 2)]
    assert key_uses(KeyUseScan(pepper_files=(str(path),))) == uses
    # a configured file that does not exist cannot be checked: never "no uses"
    with pytest.raises(ConfigError, match="does not exist"):
        pepper_key_uses(tmp_path / "none.json")


def test_rewrap_keeps_other_providers_peppers(tmp_path: Path, keyring: FileKeyProvider) -> None:
    other = create_keyring(tmp_path / "other.json")
    path = tmp_path / "peppers.json"
    add_pepper(path, keyring, "p1")
    add_pepper(path, other, "p2")
    keyring.rotate()
    # only the configured provider's peppers are rewrapped; the other's stay as they are
    assert rewrap_pepper_file(path, [keyring]) == (1, 0, 1)
    assert _versions(path) == {"p1": 2, "p2": 1}
    assert load_pepper_file(path, [keyring, other]).ids == ("p1", "p2")


def test_cli_pepper_rewrap_and_guarded_retire(
    tmp_path: Path, keyring: FileKeyProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tigerseal.config import reset_settings

    path = tmp_path / "peppers.json"
    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", keyring.uri)
    monkeypatch.setenv("TIGERSEAL_PASSWORD_PEPPER_FILE", str(path))
    monkeypatch.setenv("TIGERSEAL_AUDIT_SINKS", "logging://")
    reset_settings()
    runner = CliRunner()
    result = runner.invoke(cli, ["pepper", "add", "--id", "p1"])
    assert result.exit_code == 0, result.output
    keyring.rotate()

    result = runner.invoke(cli, ["retire", "--below", "2"])
    assert result.exit_code == 1, result.output
    assert "pepper 'p1'" in result.output
    assert "tigerseal pepper rewrap" in result.output
    assert _min_version(keyring) == 0

    result = runner.invoke(cli, ["pepper", "rewrap"])
    assert result.exit_code == 0, result.output
    assert "1 rewrapped" in result.output

    result = runner.invoke(cli, ["retire", "--below", "2"])
    assert result.exit_code == 0, result.output
    assert _min_version(keyring) == 2
    assert load_pepper_file(path, [keyring]).ids == ("p1",)


def test_pepper_writes_are_fsynced_and_a_failed_write_keeps_the_old_file(
    tmp_path: Path, keyring: FileKeyProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "peppers.json"
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    add_pepper(path, keyring, "p1")
    assert len(synced) >= 2  # the file, then its directory
    before = path.read_bytes()
    keyring.rotate()

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(ConfigError, match=r"could not write pepper file.*unchanged"):
        rewrap_pepper_file(path, [keyring])
    assert path.read_bytes() == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_concurrent_add_and_rewrap_lose_no_pepper(tmp_path: Path, keyring: FileKeyProvider) -> None:
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "peppers.json"
    add_pepper(path, keyring, "p0")
    keyring.rotate()
    with ThreadPoolExecutor(4) as pool:
        adds = [pool.submit(add_pepper, path, keyring, f"a{i}") for i in range(6)]
        rewraps = [pool.submit(rewrap_pepper_file, path, [keyring]) for _ in range(6)]
        for f in [*adds, *rewraps]:
            f.result()
    loaded = load_pepper_file(path, [keyring])
    assert sorted(loaded.ids) == ["a0", "a1", "a2", "a3", "a4", "a5", "p0"]
    assert set(_versions(path).values()) == {2}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_pepper_file_in_a_missing_directory_is_a_config_error(
    tmp_path: Path, keyring: FileKeyProvider
) -> None:
    with pytest.raises(ConfigError, match="cannot lock pepper file"):
        add_pepper(tmp_path / "missing" / "peppers.json", keyring)
