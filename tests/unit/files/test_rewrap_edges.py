"""``tigerseal rewrap`` at the edges: hard links, signals between copy and rename."""

from __future__ import annotations

import io
import json
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
    monkeypatch.setattr("tigerseal.cli._crypto._service", lambda: service)
    yield service
    service.close()


def test_a_hard_linked_file_is_not_split_silently(tmp_path: Path, svc: EncryptionService) -> None:
    from tigerseal.cli._crypto import rewrap

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


_KILLED_BETWEEN_COPY_AND_RENAME = """
import os, signal, sys
from tigerseal.cli import _crypto as crypto
from tigerseal.cli import main
def killed(path):
    os.kill(os.getpid(), signal.SIG{sig})
crypto._before_replace = killed
main(["rewrap", sys.argv[1]])
"""


@pytest.mark.parametrize("sig", ["TERM", "INT", "HUP"])
def test_a_signal_between_copy_and_rename_leaves_the_original_and_no_copy(
    tmp_path: Path, svc: EncryptionService, sig: str
) -> None:
    import subprocess
    import sys

    d = tmp_path / "data"
    d.mkdir()
    original = bytes(svc.encrypt(b"keep me"))
    (d / "a.tsl").write_bytes(original)
    svc.providers[0].rotate()  # type: ignore[attr-defined]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIGERSEAL_", "ENCRYPTION_"))}
    env |= {"TIGERSEAL_KEYRING_PATH": str(tmp_path / "keyring.json"), "ENVIRONMENT": "development"}
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_BETWEEN_COPY_AND_RENAME.format(sig=sig), str(d)],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode != 0, proc.stdout
    assert sorted(p.name for p in d.iterdir()) == ["a.tsl"], proc.stderr  # no .part copy left
    assert (d / "a.tsl").read_bytes() == original


# -- keyrings and .env files reached through a symlink (a secrets volume) ----------------------
def test_keyring_writes_through_a_symlink_keep_the_link(tmp_path: Path) -> None:
    from tigerseal.cli._keygen import keygen

    real = tmp_path / "volume" / "keyring.json"
    create_keyring(real)
    link = tmp_path / "keyring.json"
    link.symlink_to(real)
    FileKeyProvider(link).rotate()
    # Every name sees the rotation: the link was not replaced by a file of its own.
    assert link.is_symlink()
    assert FileKeyProvider(real).key_version == 2

    result = CliRunner().invoke(keygen, [str(link), "--force"])
    assert result.exit_code == 0, result.output
    assert link.is_symlink()
    assert FileKeyProvider(real).key_version == 1  # the new keyring is on the volume
    (backup,) = [p for p in tmp_path.iterdir() if p.name.endswith(".bak")]
    assert json.loads(backup.read_text())  # the previous keyring, as a file
    assert backup.stat().st_mode & 0o777 == 0o600


def test_env_template_force_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    from tigerseal.config import generate_env_template

    real = tmp_path / "volume" / ".env"
    real.parent.mkdir()
    real.write_text("ENCRYPTION_MASTER_KEY=old\n")
    link = tmp_path / ".env"
    link.symlink_to(real)
    generate_env_template(link, overwrite=True, backup_to=tmp_path / ".env.bak")
    assert link.is_symlink()
    assert "ENCRYPTION_MASTER_KEY=" in real.read_text()
    assert "=old" not in real.read_text()
    assert (tmp_path / ".env.bak").read_text() == "ENCRYPTION_MASTER_KEY=old\n"


def test_files_of_providers_not_configured_are_not_called_current(
    tmp_path: Path, svc: EncryptionService
) -> None:
    from tigerseal.cli._crypto import rewrap

    other = create_keyring(tmp_path / "other.json")
    d = tmp_path / "data"
    d.mkdir()
    (d / "theirs.tsl").write_bytes(bytes(EncryptionService(other).encrypt(b"theirs")))
    (d / "ours.tsl").write_bytes(bytes(svc.encrypt(b"ours")))
    other.rotate()
    for flags in ([], ["--force"], ["--dry-run"]):
        result = CliRunner().invoke(rewrap, [*flags, str(d)])
        # A misconfigured run must not tell the operator the file is safe to leave behind.
        assert result.exit_code == 1, (flags, result.output)
        assert "1 already current" in result.output or "1 rewrapped" in result.output
        assert "1 not wrapped by a configured provider" in result.output
        assert "theirs.tsl" in result.output
    assert EncryptedData.parse((d / "theirs.tsl").read_bytes()).key_version == 1


@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
def test_an_output_that_cannot_be_written_is_a_clear_error(
    tmp_path: Path, svc: EncryptionService, command: str
) -> None:
    from tigerseal.cli import _crypto as crypto

    src = tmp_path / "in"
    src.write_bytes(bytes(svc.encrypt(b"x")) if command == "decrypt" else b"x")
    out = tmp_path / "missing-dir" / "out"
    result = CliRunner().invoke(getattr(crypto, command), [str(src), "-o", str(out)])
    assert result.exit_code == 6, result.output  # the I/O status of docs/cli.md
    assert f"cannot write {out}" in result.output
    assert "No such file or directory" in result.output


def test_files_with_names_near_the_length_limit_are_rewrapped(
    tmp_path: Path, svc: EncryptionService
) -> None:
    from tigerseal.cli._crypto import decrypt, rewrap

    name = "n" * 240 + ".tsl"  # NAME_MAX is 255 bytes: the temp name must not outgrow it
    (tmp_path / name).write_bytes(bytes(svc.encrypt(b"long")))
    svc.providers[0].rotate()  # type: ignore[attr-defined]
    result = CliRunner().invoke(rewrap, [str(tmp_path / name)])
    assert result.exit_code == 0, result.output
    assert EncryptedData.parse((tmp_path / name).read_bytes()).key_version == 2
    out = tmp_path / ("o" * 250)
    result = CliRunner().invoke(decrypt, [str(tmp_path / name), "-o", str(out)])
    assert result.exit_code == 0, result.exception
    assert out.read_bytes() == b"long"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_temp_names_of_long_multibyte_names_fit_and_are_recognised(tmp_path: Path) -> None:
    from tigerseal import _files

    fd, tmp = _files.create_temp(tmp_path / ("\u00e9" * 127 + "x"), "part")  # 255 bytes
    os.close(fd)
    try:
        assert len(os.fsencode(tmp.name)) <= 255
        assert _files.is_temp_name(tmp.name)
        assert [e.name for e in os.scandir(tmp_path)] == [tmp.name]
    finally:
        _files.discard(tmp)


def test_opening_a_linked_keyring_sweeps_where_its_writers_write(tmp_path: Path) -> None:
    import subprocess
    import sys

    real = tmp_path / "volume" / "keyring.json"
    create_keyring(real)
    link = tmp_path / "keyring.json"
    link.symlink_to(real)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = real.with_name(f".keyring.json.ts{dead.pid}-0123abcd.tmp")  # a killed rotate's copy
    stale.write_text("key material")
    # A fresh process: each sweeps a directory once, and this one already swept volume/.
    code = "import sys; from tigerseal.providers.file import FileKeyProvider as P; P(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, str(link)], check=True, timeout=120)
    assert not stale.exists()


def test_a_full_disk_while_writing_output_is_a_clear_error_and_leaves_nothing(
    tmp_path: Path, svc: EncryptionService
) -> None:
    import resource
    import signal
    import subprocess
    import sys

    src = tmp_path / "big.tsl"
    out = io.BytesIO()
    svc.encrypt_stream(io.BytesIO(os.urandom(300_000)), out, {})
    src.write_bytes(out.getvalue())

    def small_disk() -> None:  # writes past 64 KiB fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (65_536, 65_536))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIGERSEAL_", "ENCRYPTION_"))}
    env |= {"TIGERSEAL_KEYRING_PATH": str(tmp_path / "keyring.json"), "ENVIRONMENT": "development"}
    exe = str(Path(sys.executable).parent / "tigerseal")
    for args in (["decrypt", str(src), "-o", "plain"], ["encrypt", str(src), "-o", "again"]):
        proc = subprocess.run(
            [exe, *args], cwd=tmp_path, env=env, capture_output=True, timeout=120,
            preexec_fn=small_disk,
        )  # fmt: skip
        err = proc.stderr.decode()
        assert proc.returncode == 6, err
        assert "Traceback" not in err
        assert f"cannot write {args[-1]}: File too large" in err
        assert not [p for p in tmp_path.iterdir() if p.name.endswith((".part", ".tmp"))]
        assert not (tmp_path / args[-1]).exists()


@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
def test_an_output_file_is_durable_with_its_directory_entry(
    tmp_path: Path, svc: EncryptionService, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-o FILE fsyncs the file and then its directory (the new name lives there)."""
    from tigerseal import _files
    from tigerseal.cli import _crypto as crypto

    synced: list[Path] = []
    real = _files.fsync_dir
    monkeypatch.setattr(_files, "fsync_dir", lambda d: (synced.append(Path(d)), real(d))[1])
    src = tmp_path / "in"
    src.write_bytes(bytes(svc.encrypt(b"x")) if command == "decrypt" else b"x")
    out = tmp_path / "sub" / "out"
    out.parent.mkdir()
    result = CliRunner().invoke(getattr(crypto, command), [str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.parent.absolute() in synced
