"""Attacks on the pepper rotation path: crashes, missing files, hostile ids."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tigerseal.cli import cli
from tigerseal.errors import ConfigError
from tigerseal.keyuse import KeyUseScan, key_uses, retire
from tigerseal.passwords import add_pepper, load_pepper_file
from tigerseal.passwords._pepper import rewrap_pepper_file
from tigerseal.providers.file import FileKeyProvider, create_keyring


@pytest.fixture
def keyring(tmp_path: Path) -> FileKeyProvider:
    return create_keyring(tmp_path / "keyring.json")


def test_a_named_pepper_file_that_does_not_exist_refuses_the_retire(
    tmp_path: Path, keyring: FileKeyProvider
) -> None:
    """A mistyped or unmounted pepper path must not read as "no peppers" and let retire run."""
    keyring.rotate()
    scan = KeyUseScan(pepper_files=(str(tmp_path / "elsewhere" / "peppers.json"),))
    with pytest.raises(ConfigError, match=r"pepper file .* does not exist"):
        key_uses(scan)
    with pytest.raises(ConfigError, match=r"does not exist"):
        retire(keyring, 2, scan)
    assert keyring.min_decryption_version == 0


_KILL_DURING_REWRAP = """
import os, signal, sys
from tigerseal.providers.file import FileKeyProvider
from tigerseal.passwords._pepper import rewrap_pepper_file
def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
os.replace = die
rewrap_pepper_file(sys.argv[1], [FileKeyProvider(sys.argv[2])])
"""


_REWRAP = """
import sys
from tigerseal.providers.file import FileKeyProvider
from tigerseal.passwords._pepper import rewrap_pepper_file
assert rewrap_pepper_file(sys.argv[1], [FileKeyProvider(sys.argv[2])]).rewrapped == 1
"""


def test_kill_9_during_rewrap_keeps_the_old_file_and_the_next_writer_sweeps(
    tmp_path: Path, keyring: FileKeyProvider
) -> None:
    path = tmp_path / "peppers.json"
    add_pepper(path, keyring, "p1")
    before = path.read_bytes()
    keyring.rotate()
    keyring_path = keyring.uri.removeprefix("file://")
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_DURING_REWRAP, str(path), keyring_path],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr
    assert path.read_bytes() == before  # the old file, whole
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".peppers.json.")]
    assert left, "the killed writer's temporary file should be there to sweep"
    # The next writer is another process (sweeping is once per directory and process).
    proc = subprocess.run(
        [sys.executable, "-c", _REWRAP, str(path), keyring_path],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".peppers.json.")]
    assert load_pepper_file(path, [keyring]).ids == ("p1",)


def test_hostile_pepper_ids_are_escaped_by_pepper_list(
    tmp_path: Path, keyring: FileKeyProvider
) -> None:
    path = tmp_path / "peppers.json"
    add_pepper(path, keyring, "p1")
    doc = json.loads(path.read_text())
    doc["peppers"]["x\x1b]0;owned\x07\u202e\nforged line"] = doc["peppers"]["p1"]
    doc["peppers"]["p1"]["key_id"] = "kr\x1b[2J\rfake"
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(cli, ["pepper", "list", "--file", str(path)])
    assert result.exit_code == 0, result.output
    for bad in ("\x1b", "\x07", "\u202e", "\r"):
        assert bad not in result.output
    assert len(result.output.splitlines()) == 2


def test_env_provider_retire_explains_and_check_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tigerseal.config import reset_settings

    monkeypatch.setenv("TS_RT_KEY", "ab" * 32)
    monkeypatch.setenv("TIGERSEAL_AUDIT_SINKS", "logging://")
    monkeypatch.delenv("TIGERSEAL_PASSWORD_PEPPER_FILE", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    reset_settings()
    runner = CliRunner()
    result = runner.invoke(cli, ["retire", "--below", "1", "--uri", "env://TS_RT_KEY", "--check"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["retire", "--below", "1", "--uri", "env://TS_RT_KEY"])
    assert result.exit_code == 1, result.output
    assert "cannot retire" in result.output
    assert "Traceback" not in result.output
    reset_settings()


_WRITER = """
import sys
from tigerseal.providers.file import FileKeyProvider
from tigerseal.passwords._pepper import add_pepper, rewrap_pepper_file
role, path, keyring = sys.argv[1], sys.argv[2], sys.argv[3]
for i in range(5):
    provider = FileKeyProvider(keyring)  # a fresh process view each time, as the CLI has
    if role == "add":
        provider.rotate()
        add_pepper(path, provider, f"a{i}", make_current=False)
    else:
        rewrap_pepper_file(path, [provider])
"""


def test_processes_adding_rotating_and_rewrapping_while_an_app_verifies(
    tmp_path: Path, keyring: FileKeyProvider
) -> None:
    """Two rewraps, an add (with rotations) and a reader at once: no torn file, no lost pepper."""
    from tests.unit.passwords.conftest import make_context

    path = tmp_path / "peppers.json"
    add_pepper(path, keyring, "p0")
    stored = make_context(pepper=load_pepper_file(path, [keyring])).hash("tiger stripes")
    keyring_path = keyring.uri.removeprefix("file://")
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, role, str(path), keyring_path])
        for role in ("add", "rewrap", "rewrap")
    ]
    reads = 0
    while any(p.poll() is None for p in procs) or reads < 3:
        # The application: a fresh keyring view and a full load, as at start-up.
        loaded = load_pepper_file(path, [FileKeyProvider(keyring_path)])
        assert make_context(pepper=loaded).verify("tiger stripes", stored)
        reads += 1
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    final = FileKeyProvider(keyring_path)
    rewrap_pepper_file(path, [final])
    loaded = load_pepper_file(path, [final])
    assert sorted(loaded.ids) == ["a0", "a1", "a2", "a3", "a4", "p0"]
    assert loaded.current == "p0"
    doc = json.loads(path.read_text())
    assert {e["key_version"] for e in doc["peppers"].values()} == {final.key_version}
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".peppers.json.")]


def test_peppers_of_other_providers_never_block_and_unconfigured_ones_are_reported(
    tmp_path: Path, keyring: FileKeyProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retiring keyring B ignores peppers of keyring A; retiring A still sees them."""
    from tigerseal.config import reset_settings

    other = create_keyring(tmp_path / "other.json")
    path = tmp_path / "peppers.json"
    add_pepper(path, keyring, "p1")  # keyring A, version 1
    doc = json.loads(path.read_text())
    # a pepper of a provider configured nowhere here (another Vault key)
    doc["peppers"]["v1"] = {**doc["peppers"]["p1"], "provider": "vault", "key_id": "transit/x"}
    path.write_text(json.dumps(doc))
    keyring.rotate()
    other.rotate()
    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", keyring.uri)
    monkeypatch.setenv("TIGERSEAL_PASSWORD_PEPPER_FILE", str(path))
    monkeypatch.setenv("TIGERSEAL_AUDIT_SINKS", "logging://")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    reset_settings()
    runner = CliRunner()
    other_path = other.uri.removeprefix("file://")
    result = runner.invoke(cli, ["retire", "--below", "2", "--keyring", other_path, "--check"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["retire", "--below", "2", "--keyring", other_path])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["retire", "--below", "2", "--check"])
    assert result.exit_code == 1, result.output
    assert "pepper 'p1'" in result.output
    assert "pepper 'v1'" not in result.output
    result = runner.invoke(cli, ["pepper", "rewrap"])
    assert result.exit_code == 1, result.output  # the unconfigured provider's pepper is left
    assert "1 rewrapped" in result.output
    assert "1 wrapped by providers not configured" in result.output
    result = runner.invoke(cli, ["retire", "--below", "2"])
    assert result.exit_code == 0, result.output
    reset_settings()


def test_a_process_with_a_stale_keyring_view_never_wraps_a_pepper_under_a_retired_version(
    tmp_path: Path, keyring: FileKeyProvider
) -> None:
    """An application's provider read the keyring before `tigerseal rotate` elsewhere.

    Within its reload interval it still thinks version 1 is current: a pepper it adds right
    after the guarded retire, or a rewrap it runs, must still land on version 2.
    """
    keyring_path = keyring.uri.removeprefix("file://")
    app = FileKeyProvider(keyring_path)  # long-lived, reload_interval 2 s
    path = tmp_path / "peppers.json"
    add_pepper(path, app, "p0")
    operator = FileKeyProvider(keyring_path)
    operator.rotate()
    assert rewrap_pepper_file(path, [operator]).rewrapped == 1
    retire(operator, 2, KeyUseScan(pepper_files=(str(path),)))
    add_pepper(path, app, "p1")  # a stale add must wrap under version 2
    rewrap_pepper_file(path, [app])  # ...and a stale rewrap must not move peppers back
    versions = {pid: e["key_version"] for pid, e in json.loads(path.read_text())["peppers"].items()}
    assert versions == {"p0": 2, "p1": 2}
    assert sorted(load_pepper_file(path, [FileKeyProvider(keyring_path)]).ids) == ["p0", "p1"]
