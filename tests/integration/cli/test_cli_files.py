"""The CLI and files on disk: rewrap of every form, races, backups, leftovers with secrets.

Most tests run the real ``tigerseal`` script in subprocesses; the lost-update races use an
in-process run with a hook between read and replace, so they are deterministic.
"""

from __future__ import annotations

import io
import json
import os
import select
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tigerseal.envelope import EncryptedData, EncryptionService
from tigerseal.providers.file import FileKeyProvider

from ._cli import EXE, run


def _wait_for(predicate: object, what: str, timeout: float = 60.0) -> None:
    """Poll until ``predicate()`` holds (a liveness bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _parts(d: Path) -> list[Path]:
    return [p for p in d.iterdir() if p.name.endswith((".part", ".tmp"))]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- item 2: every form ------------------------------------------------------------------------
def _keyring(tmp_path: Path) -> FileKeyProvider:
    """The keyring the CLI uses in these tests, for set-up and checks in this process."""
    from tigerseal.providers.file import create_keyring

    return create_keyring(tmp_path / "keyring.json", exist_ok=True)


def test_rewrap_keeps_text_and_json_forms(tmp_path: Path, env: dict[str, str]) -> None:
    d = tmp_path / "data"
    d.mkdir()
    kr = _keyring(tmp_path)
    svc = EncryptionService(kr)
    (d / "a.txt").write_text(str(svc.encrypt(b"text form", {"k": "t"})) + "\n")  # encrypt --text
    (d / "b.json").write_text(svc.encrypt(b"json form", {"k": "j"}).json() + "\n")
    pretty = json.dumps(json.loads(svc.encrypt(b"pretty", {}).json()) | {"mine": 1}, indent=2)
    (d / "p.json").write_text(pretty)
    (d / "c.tsl").write_bytes(bytes(svc.encrypt(b"binary", {})))
    (d / "notes.txt").write_text("plain notes\n")
    kr.rotate()

    out = run("rewrap", "data", cwd=tmp_path, env=env)
    assert b"4 rewrapped" in out.stdout, out.stdout
    assert b"1 not tigerseal" in out.stdout
    new_text = (d / "a.txt").read_bytes()
    assert new_text.startswith(b"ts1.")
    assert new_text.endswith(b"\n")
    assert EncryptedData.parse(new_text).key_version == 2
    obj = json.loads((d / "b.json").read_text())
    assert obj["format"] == "tigerseal/1"
    assert obj["key_version"] == 2
    assert (d / "b.json").read_text().endswith("\n")
    kept = json.loads((d / "p.json").read_text())
    assert kept["mine"] == 1  # the file's own members survive
    assert kept["key_version"] == 2
    assert "\n  " in (d / "p.json").read_text()  # still indented
    assert svc.decrypt(new_text, {"k": "t"}) == b"text form"
    assert svc.decrypt((d / "b.json").read_text(), {"k": "j"}) == b"json form"
    assert svc.decrypt((d / "p.json").read_text()) == b"pretty"
    assert svc.decrypt((d / "c.tsl").read_bytes()) == b"binary"
    assert b"0 rewrapped, 4 already current" in run("rewrap", "data", cwd=tmp_path, env=env).stdout


def test_rewrap_fails_loudly_on_damaged_tigerseal_files(
    tmp_path: Path, env: dict[str, str]
) -> None:
    d = tmp_path / "data"
    d.mkdir()
    (d / "bad.txt").write_text("ts1.this-is-not-base64!!\n")
    (d / "bad.json").write_text('{"format": "tigerseal/1", "message": "ts1.AAAA"}')
    (d / "bad.tsl").write_bytes(b"TSL\x01garbage")
    (d / "plain.json").write_text('{"hello": "world"}')
    proc = run("rewrap", "data", cwd=tmp_path, env=env, check=False)
    assert proc.returncode == 1, proc.stdout
    out = proc.stdout.decode()
    assert "3 failed" in out
    assert "1 not tigerseal" in out
    for name in ("bad.txt", "bad.json", "bad.tsl"):
        assert name in out


# -- item 5: races -----------------------------------------------------------------------------
def test_rewrap_skips_the_part_file_of_a_running_encrypt(
    tmp_path: Path, env: dict[str, str]
) -> None:
    d = tmp_path / "data"
    d.mkdir()
    kr = _keyring(tmp_path)
    chunk = os.urandom(1024 * 1024 + 100)
    with subprocess.Popen(
        [EXE, "encrypt", "-", "-o", "data/big.tsl"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as enc:
        assert enc.stdin is not None
        enc.stdin.write(chunk)
        enc.stdin.flush()
        # The first frame (and the header, wrapped under version 1) reach the .part file.
        _wait_for(lambda: any(p.stat().st_size > 1024 * 1024 for p in _parts(d)), "encrypt's .part")
        kr.rotate()
        (d / "other.tsl").write_bytes(
            bytes(
                EncryptionService(kr).encrypt(
                    b"x",
                    {},
                )
            )
        )
        kr.rotate()
        out = run("rewrap", "data", cwd=tmp_path, env=env, check=False)
        enc.stdin.write(chunk)
        enc.stdin.close()
        assert enc.wait(timeout=120) == 0
    assert b"1 rewrapped" in out.stdout, out.stdout
    assert b"1 temporary files skipped" in out.stdout
    assert EncryptionService(kr).decrypt((d / "big.tsl").read_bytes()) == chunk + chunk


def _svc(tmp_path: Path) -> EncryptionService:
    return EncryptionService(FileKeyProvider(tmp_path / "keyring.json"))


@pytest.fixture
def in_process(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[EncryptionService]:
    from tigerseal.seed import KeyManager

    KeyManager.create_keyring(tmp_path / "keyring.json")
    svc = _svc(tmp_path)
    monkeypatch.setattr("tigerseal.cli._crypto._service", lambda: svc)
    yield svc
    svc.close()


def _write(svc: EncryptionService, path: Path, data: bytes) -> None:
    out = io.BytesIO()
    svc.encrypt_stream(io.BytesIO(data), out, {})
    path.write_bytes(out.getvalue())


def test_rewrap_never_replaces_a_file_rewritten_during_the_provider_call(
    tmp_path: Path, in_process: EncryptionService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tigerseal.cli._crypto import rewrap

    svc = in_process
    target = tmp_path / "row.tsl"
    _write(svc, target, b"old value")
    svc.providers[0].rotate()  # type: ignore[attr-defined]
    real = EncryptionService.rewrap_headers
    rewrites: list[int] = []

    def app_writes_meanwhile(self: EncryptionService, headers: object) -> object:
        if not rewrites:  # the application stores a new value once, mid-rewrap
            rewrites.append(1)
            _write(svc, target, b"NEW value written by the app")
        return real(self, headers)  # type: ignore[arg-type]

    monkeypatch.setattr(EncryptionService, "rewrap_headers", app_writes_meanwhile)
    result = CliRunner().invoke(rewrap, [str(target)])
    assert rewrites
    assert svc.decrypt(target.read_bytes()) == b"NEW value written by the app", result.output


def test_rewrap_checks_again_just_before_replacing(
    tmp_path: Path, in_process: EncryptionService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tigerseal.cli import _crypto as crypto

    svc = in_process
    target = tmp_path / "row.tsl"

    def sealed(data: bytes) -> bytes:
        out = io.BytesIO()
        svc.encrypt_stream(io.BytesIO(data), out, {})
        return out.getvalue()

    target.write_bytes(sealed(b"old value"))
    os.chmod(target, 0o640)
    owner = (4321, 4321) if os.getuid() == 0 else (os.getuid(), os.getgid())
    os.chown(target, *owner)
    # What the application writes meanwhile, still under key version 1.
    newer, busy = sealed(b"app's newer value"), [sealed(b"busy 1"), sealed(b"busy 2")]
    svc.providers[0].rotate()  # type: ignore[attr-defined]
    seen: list[Path] = []

    def app_writes_once(path: Path) -> None:
        seen.append(path)
        if len(seen) == 1:
            target.write_bytes(newer)

    monkeypatch.setattr(crypto, "_before_replace", app_writes_once)
    result = CliRunner().invoke(crypto.rewrap, [str(target)])
    assert result.exit_code == 0, result.output
    assert "1 rewrapped" in result.output
    assert len(seen) == 2  # changed once: read again, and the new content was rewrapped
    assert svc.decrypt(target.read_bytes()) == b"app's newer value"
    assert EncryptedData.parse(target.read_bytes()).key_version == 2
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # mode kept
    assert (target.stat().st_uid, target.stat().st_gid) == owner  # owner kept

    def app_keeps_writing(path: Path) -> None:
        seen.append(path)
        target.write_bytes(busy[len(seen) % 2])

    svc.providers[0].rotate()  # type: ignore[attr-defined]
    monkeypatch.setattr(crypto, "_before_replace", app_keeps_writing)
    result = CliRunner().invoke(crypto.rewrap, [str(target)])
    assert result.exit_code == 1
    assert "changed while" in result.output
    assert svc.decrypt(target.read_bytes()) in (b"busy 1", b"busy 2")
    assert EncryptedData.parse(target.read_bytes()).key_version == 1
    assert not _parts(tmp_path)


# -- item 6: --force backs up ------------------------------------------------------------------
def _backups(d: Path, name: str) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.name.startswith(name + ".") and p.suffix == ".bak")


def test_keygen_force_writes_a_private_backup_first(tmp_path: Path) -> None:
    from tigerseal.cli._keygen import keygen

    kr = str(tmp_path / "kr.json")
    assert CliRunner().invoke(keygen, [kr]).exit_code == 0
    old = (tmp_path / "kr.json").read_bytes()
    assert CliRunner().invoke(keygen, [kr]).exit_code != 0  # refused without --force
    result = CliRunner().invoke(keygen, [kr, "--force"])
    assert result.exit_code == 0, result.output
    (backup,) = _backups(tmp_path, "kr.json")
    assert backup.read_bytes() == old
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert str(backup) in result.output
    assert (tmp_path / "kr.json").read_bytes() != old


def test_env_template_force_writes_a_private_backup_first(tmp_path: Path) -> None:
    from tigerseal.cli._demo import env_template

    path = str(tmp_path / ".env")
    assert CliRunner().invoke(env_template, ["--generate", path]).exit_code == 0
    old = (tmp_path / ".env").read_bytes()
    assert CliRunner().invoke(env_template, ["--generate", path]).exit_code != 0
    result = CliRunner().invoke(env_template, ["--generate", path, "--force"])
    assert result.exit_code == 0, result.output
    (backup,) = _backups(tmp_path, ".env")
    assert backup.read_bytes() == old
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert str(backup) in result.output
    assert (tmp_path / ".env").read_bytes() != old
    assert not _parts(tmp_path)


# -- item 10: leftovers ------------------------------------------------------------------------
def _framed(tmp_path: Path, env: dict[str, str], size: int) -> bytes:
    sealed = io.BytesIO()
    EncryptionService(_keyring(tmp_path)).encrypt_stream(io.BytesIO(os.urandom(size)), sealed)
    (tmp_path / "msg.tsl").write_bytes(sealed.getvalue())
    return sealed.getvalue()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signalled_decrypt_leaves_no_plaintext_part_file(
    tmp_path: Path, env: dict[str, str], sig: signal.Signals
) -> None:
    blob = _framed(tmp_path, env, 3 * 1024 * 1024)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with subprocess.Popen(
        [EXE, "decrypt", "-", "-o", "out/plain.bin"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as proc:
        assert proc.stdin is not None
        proc.stdin.write(blob[: 2 * 1024 * 1024])  # header and the first frame(s), then it waits
        proc.stdin.flush()
        _wait_for(lambda: any(p.stat().st_size > 0 for p in _parts(out_dir)), "plaintext")
        proc.send_signal(sig)
        proc.wait(timeout=60)
        proc.stdin.close()
    # SIGTERM/SIGHUP: died of the signal, as without the cleanup; SIGINT: KeyboardInterrupt,
    # "Aborted." and exit 1, as before.
    assert proc.returncode == (130 if sig == signal.SIGINT else -sig)
    assert not _parts(out_dir), _parts(out_dir)
    assert not (out_dir / "plain.bin").exists()


def test_the_next_run_sweeps_part_files_of_killed_processes(
    tmp_path: Path, env: dict[str, str]
) -> None:
    blob = _framed(tmp_path, env, 3 * 1024 * 1024)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with subprocess.Popen(
        [EXE, "decrypt", "-", "-o", "out/plain.bin"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as proc:
        assert proc.stdin is not None
        proc.stdin.write(blob[: 2 * 1024 * 1024])
        proc.stdin.flush()
        _wait_for(lambda: any(p.stat().st_size > 0 for p in _parts(out_dir)), "plaintext")
        proc.kill()  # SIGKILL: nothing can clean up now
        proc.wait(timeout=60)
        proc.stdin.close()
    (left,) = _parts(out_dir)
    assert str(proc.pid) in left.name  # temp names carry the pid
    someone_elses = out_dir / f".other.ts{os.getpid()}-0badcafe.part"  # a live pid: kept
    someone_elses.write_bytes(b"in progress")
    run("decrypt", "msg.tsl", "-o", "out/plain.bin", cwd=tmp_path, env=env)
    assert _parts(out_dir) == [someone_elses]
    assert (out_dir / "plain.bin").stat().st_size == 3 * 1024 * 1024


def test_keyring_writes_sweep_stale_tmp_copies(tmp_path: Path, env: dict[str, str]) -> None:
    run("keygen", "kr.json", cwd=tmp_path, env=env)
    stale = tmp_path / f".kr.json.ts{_dead_pid()}-0123abcd.tmp"
    stale.write_text('{"key material": "..."}')
    stale.chmod(0o600)
    run("rotate", "--keyring", "kr.json", cwd=tmp_path, env=env)
    assert not stale.exists()
    assert not _parts(tmp_path)
    stale.write_text('{"key material": "..."}')
    FileKeyProvider(tmp_path / "kr.json")  # a reader (application start) sweeps too
    assert not stale.exists()


def test_decrypt_to_stdout_streams_verified_frames_without_a_spool_file(
    tmp_path: Path, env: dict[str, str]
) -> None:
    from tigerseal.seed import KeyManager

    KeyManager.create_keyring(tmp_path / "keyring.json")
    fs = 48 * 1024  # two frames are more than the 64 KiB header read-ahead
    svc = EncryptionService(FileKeyProvider(tmp_path / "keyring.json"), frame_size=fs)
    plain = os.urandom(fs * 5 + 7)
    sealed = io.BytesIO()
    svc.encrypt_stream(io.BytesIO(plain), sealed, {})
    blob = sealed.getvalue()
    header_size = EncryptedData.parse(blob).header.size
    with subprocess.Popen(
        [EXE, "decrypt", "-"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdin.write(blob[: header_size + 2 * (4 + fs + 16)])  # two full frames
        proc.stdin.flush()
        got = b""
        deadline = time.monotonic() + 60
        while len(got) < fs and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if ready:
                got += os.read(proc.stdout.fileno(), 65536)
        assert got[:fs] == plain[:fs]  # the first frame arrived before the input ended
        fds = Path(f"/proc/{proc.pid}/fd")
        links = [os.readlink(f) for f in fds.iterdir() if f.is_symlink()]
        assert not [link for link in links if "(deleted)" in link], links
        proc.stdin.close()  # truncated: no final frame
        rest = proc.stdout.read()
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 3
    assert (got + rest) == plain[: len(got + rest)]
    assert b"truncated" in err
    assert b"incomplete" in err


@pytest.mark.parametrize("damage", ["truncated", "appended"])
def test_decrypt_to_stdout_says_what_is_wrong_with_what_it_wrote(
    tmp_path: Path, env: dict[str, str], damage: str
) -> None:
    """A missing final frame leaves an incomplete output; appended data a complete one."""
    from tigerseal.seed import KeyManager

    KeyManager.create_keyring(tmp_path / "keyring.json")
    fs = 48 * 1024  # more than the 64 KiB read-ahead, whose framing is checked before output
    svc = EncryptionService(FileKeyProvider(tmp_path / "keyring.json"), frame_size=fs)
    plain = os.urandom(fs * 3 + 7)
    sealed = io.BytesIO()
    svc.encrypt_stream(io.BytesIO(plain), sealed, {})
    blob = sealed.getvalue()
    # Without the final frame (length, 7 bytes, tag), or with a second message appended.
    damaged = blob[: -(4 + 7 + 16)] if damage == "truncated" else blob + blob
    proc = run("decrypt", "-", cwd=tmp_path, env=env, input=damaged, check=False)
    assert proc.returncode == 3
    err = proc.stderr.decode()
    if damage == "truncated":
        assert proc.stdout == plain[: fs * 3]
        assert "truncated" in err
        assert (
            f"the {fs * 3} bytes already written to stdout were authentic but are incomplete" in err
        )
        assert "appended" not in err
    else:
        assert proc.stdout == plain
        assert "data follows the final frame" in err
        assert (
            f"the {len(plain)} bytes written to stdout are the complete authentic message, "
            "but the input has extra bytes appended: treat it as tampered"
        ) in err
        assert "incomplete" not in err
