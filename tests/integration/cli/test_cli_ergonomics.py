"""CLI ergonomics (issue 13, item 9): exit codes, --force, terminals, --json, NO_COLOR, doctor.

Every test runs the installed ``tigerseal`` script in a subprocess, as a shell would. Terminal
behaviour is tested on a real pseudo-terminal (``pty.openpty``), not by faking ``isatty``.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.cli._cli import EXE, run

# The documented exit-code table (docs/cli.md, "Exit codes").
OK, CHECK_FAILED, USAGE, AUTH, CONFIG, UNAVAILABLE, IO = 0, 1, 2, 3, 4, 5, 6


def _on_pty(
    args: list[str], *, cwd: Path, env: dict[str, str], stdout_tty: bool, stderr_tty: bool
) -> tuple[int, bytes, bytes]:
    """Run ``tigerseal ARGS`` with stdout and/or stderr on a pseudo-terminal."""
    primary, secondary = pty.openpty()
    pipe_out = subprocess.PIPE
    proc = subprocess.Popen(
        [EXE, *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=secondary if stdout_tty else pipe_out,
        stderr=secondary if stderr_tty else pipe_out,
    )
    os.close(secondary)
    tty = bytearray()
    while True:
        ready, _, _ = select.select([primary], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError("no output from the terminal for 60 s")
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        tty += chunk
    os.close(primary)
    out = b"" if stdout_tty or proc.stdout is None else proc.stdout.read()
    err = b"" if stderr_tty or proc.stderr is None else proc.stderr.read()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    proc.wait(60)
    if stdout_tty:
        out = bytes(tty)
    if stderr_tty:
        err = bytes(tty) if not stdout_tty else err
    return proc.returncode, out, err


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    p = tmp_path / "plain.txt"
    p.write_text("attack at dawn\n")
    return p


def test_output_file_is_not_overwritten_without_force(
    tmp_path: Path, env: dict[str, str], plain: Path
) -> None:
    out = tmp_path / "msg.ts"
    out.write_bytes(b"precious")
    proc = run("encrypt", str(plain), "-o", str(out), cwd=tmp_path, env=env, check=False)
    assert proc.returncode == USAGE
    assert b"--force" in proc.stderr
    assert out.read_bytes() == b"precious"
    run("encrypt", str(plain), "-o", str(out), "--force", cwd=tmp_path, env=env)
    assert out.read_bytes() != b"precious"
    dec = tmp_path / "plain.out"
    dec.write_bytes(b"keep me")
    proc = run("decrypt", str(out), "-o", str(dec), cwd=tmp_path, env=env, check=False)
    assert proc.returncode == USAGE
    assert dec.read_bytes() == b"keep me"
    run("decrypt", str(out), "-o", str(dec), "--force", cwd=tmp_path, env=env)
    assert dec.read_text() == "attack at dawn\n"


def test_exit_codes_tell_failures_apart(tmp_path: Path, env: dict[str, str], plain: Path) -> None:
    msg = tmp_path / "msg.ts"
    run("encrypt", str(plain), "-o", str(msg), "-c", "table=cards", cwd=tmp_path, env=env)

    # Authentication / tampering: a flipped byte, a wrong context.
    data = bytearray(msg.read_bytes())
    data[-5] ^= 1
    bad = tmp_path / "bad.ts"
    bad.write_bytes(bytes(data))
    for args in (["decrypt", str(bad), "-c", "table=cards"], ["decrypt", str(msg), "-c", "t=x"]):
        proc = run(*args, cwd=tmp_path, env=env, check=False)
        assert proc.returncode == AUTH, proc.stderr
        assert b"Traceback" not in proc.stderr

    # Configuration: an unknown provider scheme.
    cfg = {**env, "TIGERSEAL_KEY_PROVIDERS": "nosuch://key"}
    proc = run("encrypt", str(plain), cwd=tmp_path, env=cfg, check=False)
    assert proc.returncode == CONFIG, proc.stderr

    # Provider unavailable: Vault on a port nobody listens on.
    down = {
        **env,
        "TIGERSEAL_KEY_PROVIDERS": "vault://transit/app?addr=http://127.0.0.1:9&timeout=1",
        "VAULT_TOKEN": "not-a-real-token",
    }
    proc = run("encrypt", str(plain), cwd=tmp_path, env=down, check=False)
    assert proc.returncode == UNAVAILABLE, proc.stderr

    # Usage: an unknown option.
    proc = run("encrypt", "--no-such-option", cwd=tmp_path, env=env, check=False)
    assert proc.returncode == USAGE


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["encrypt", "{tmp}/missing.txt"], IO),
        (["encrypt", "{plain}", "-o", "{plain}/below-a-file"], IO),
        (["decrypt", "{tmp}/missing.ts"], IO),
        (["inspect", "{tmp}/missing.ts"], IO),
        (["audit", "verify", "{tmp}/missing.jsonl"], IO),
        (["encrypt", "{tmp}"], USAGE),  # a directory where a file is expected: click says so
    ],
)
def test_io_errors_are_one_line_not_a_traceback(
    tmp_path: Path, env: dict[str, str], plain: Path, args: list[str], code: int
) -> None:
    argv = [a.format(tmp=tmp_path, plain=plain) for a in args]
    proc = run(*argv, cwd=tmp_path, env=env, check=False)
    assert proc.returncode == code, proc.stderr
    assert b"Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith((b"error: ", b"Error: "))


def test_binary_output_to_a_terminal_is_refused(
    tmp_path: Path, env: dict[str, str], plain: Path
) -> None:
    code, out, err = _on_pty(
        ["encrypt", str(plain)], cwd=tmp_path, env=env, stdout_tty=True, stderr_tty=False
    )
    assert code == USAGE
    assert b"terminal" in err
    assert b"TSE1" not in out
    assert b"\x00" not in out
    # --text output is printable: allowed on a terminal.
    code, out, _ = _on_pty(
        ["encrypt", "--text", str(plain)], cwd=tmp_path, env=env, stdout_tty=True, stderr_tty=False
    )
    assert code == OK
    assert b"ts1." in out


def test_decrypted_control_bytes_are_not_sent_to_a_terminal(
    tmp_path: Path, env: dict[str, str]
) -> None:
    hostile = tmp_path / "hostile.bin"
    hostile.write_bytes(b"\x1b]0;pwned\x07\x1b[2J\x00binary")
    msg = tmp_path / "hostile.ts"
    run("encrypt", str(hostile), "-o", str(msg), cwd=tmp_path, env=env)
    code, out, err = _on_pty(
        ["decrypt", str(msg)], cwd=tmp_path, env=env, stdout_tty=True, stderr_tty=False
    )
    assert code == USAGE
    assert b"\x1b" not in out
    assert b"-o" in err
    # Piped, the same bytes pass through untouched.
    proc = run("decrypt", str(msg), cwd=tmp_path, env=env)
    assert proc.stdout == hostile.read_bytes()


def test_progress_bar_only_on_a_terminal(tmp_path: Path, env: dict[str, str]) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    out = tmp_path / "big.ts"
    code, _, err = _on_pty(
        ["encrypt", str(big), "-o", str(out)],
        cwd=tmp_path,
        env=env,
        stdout_tty=False,
        stderr_tty=True,
    )
    assert code == OK
    assert b"%" in err  # click's progress bar shows a percentage
    proc = run("decrypt", str(out), "-o", str(tmp_path / "big.out"), cwd=tmp_path, env=env)
    assert b"%" not in proc.stderr  # stderr is a pipe: no bar
    assert (tmp_path / "big.out").read_bytes() == big.read_bytes()


def test_no_color_is_honoured(tmp_path: Path, env: dict[str, str]) -> None:
    ansi = re.compile(rb"\x1b\[[0-9;]*m")
    code, out, _ = _on_pty(["demo"], cwd=tmp_path, env=env, stdout_tty=True, stderr_tty=True)
    assert code == OK
    assert ansi.search(out)
    code, out, _ = _on_pty(
        ["demo"], cwd=tmp_path, env={**env, "NO_COLOR": "1"}, stdout_tty=True, stderr_tty=True
    )
    assert code == OK
    assert not ansi.search(out)


@pytest.mark.parametrize(
    "args",
    [
        ["doctor", "--json"],
        ["plugins", "--json"],
        ["inspect", "--json", "{msg}"],
        ["rewrap", "--json", "--dry-run", "{msg}"],
        ["pepper", "list", "--json", "--file", "{tmp}/peppers.json"],
        ["audit", "verify", "--json", "{tmp}/audit.jsonl"],
    ],
)
def test_reporting_commands_speak_json(
    tmp_path: Path, env: dict[str, str], plain: Path, args: list[str]
) -> None:
    msg = tmp_path / "msg.ts"
    run("encrypt", str(plain), "-o", str(msg), cwd=tmp_path, env=env)
    trail = {**env, "TIGERSEAL_AUDIT_SINKS": f"file://{tmp_path}/audit.jsonl"}
    subprocess.run(
        [sys.executable, "-c", "import tigerseal as t; "
         "t.audit_security_event('login_failed', user_id='u1', risk_level='medium')"],
        cwd=tmp_path, env=trail, check=True, timeout=120,
    )  # fmt: skip
    argv = [a.format(msg=msg, tmp=tmp_path) for a in args]
    proc = run(*argv, cwd=tmp_path, env=trail, check=False)
    assert proc.returncode in (OK, CHECK_FAILED), proc.stderr
    doc = json.loads(proc.stdout)
    assert isinstance(doc, dict | list)


def test_paths_complete_in_the_shell(tmp_path: Path, env: dict[str, str]) -> None:
    comp = {
        **env,
        "_TIGERSEAL_COMPLETE": "bash_complete",
        "COMP_WORDS": "tigerseal encrypt pla",
        "COMP_CWORD": "2",
    }
    proc = subprocess.run([EXE], cwd=tmp_path, env=comp, capture_output=True, timeout=60)
    assert proc.returncode == 0
    # click answers "file" for click.Path arguments, so bash completes file names.
    assert proc.stdout.split(b"\n")[0].startswith(b"file")


def test_env_template_placeholders_and_stdout(tmp_path: Path, env: dict[str, str]) -> None:
    proc = run("env-template", "-", cwd=tmp_path, env=env)
    assert not (tmp_path / "-").exists()
    text = proc.stdout.decode()
    assert "ENCRYPTION_MASTER_KEY=" in text
    assert not re.search(r"ENCRYPTION_MASTER_KEY=[0-9a-f]{64}", text)  # a placeholder, no secret
    run("env-template", cwd=tmp_path, env=env)
    written = next(tmp_path.glob(".env*")).read_text()
    assert not re.search(r"ENCRYPTION_MASTER_KEY=[0-9a-f]{64}", written)
    # --generate fills in fresh secrets, in a private file.
    target = tmp_path / ".env"
    run("env-template", "--generate", str(target), cwd=tmp_path, env=env)
    assert re.search(r"ENCRYPTION_MASTER_KEY=[0-9a-f]{64}", target.read_text())
    assert target.stat().st_mode & 0o777 == 0o600


def test_doctor_in_a_fresh_directory_reports_the_keyring_it_will_create(
    tmp_path: Path, env: dict[str, str]
) -> None:
    fresh = {k: v for k, v in env.items() if k != "TIGERSEAL_KEYRING_PATH"}
    proc = run("doctor", cwd=tmp_path, env=fresh, check=False)
    out = proc.stdout.decode()
    assert proc.returncode == OK, out
    assert "FAIL" not in out
    assert "will be created" in out
    assert not (tmp_path / ".tigerseal" / "keyring.json").exists()  # doctor only looks


def test_a_reader_that_goes_away_is_not_an_error_message(
    tmp_path: Path, env: dict[str, str]
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"line\n" * 2_000_000)
    msg = tmp_path / "big.ts"
    run("encrypt", str(big), "-o", str(msg), cwd=tmp_path, env=env)
    # `tigerseal decrypt big.ts | head -c 10`: head exits after 10 bytes.
    proc = subprocess.Popen(
        [EXE, "decrypt", str(msg)], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdout.read(10) == b"line\nline\n"[:10]
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    # click's rule for a closed stdout: status 1, nothing on stderr.
    assert proc.wait(60) == CHECK_FAILED
    assert b"Traceback" not in err
    assert b"BrokenPipe" not in err


def test_two_encrypts_to_one_new_output_never_clobber_each_other(
    tmp_path: Path, env: dict[str, str], plain: Path
) -> None:
    """Two admins run `encrypt -o same.ts` at once without --force: the name is linked into
    place, so exactly one wins and the other is refused with the usage status; the file left is
    one whole message that decrypts."""
    run("keygen", env["TIGERSEAL_KEYRING_PATH"], cwd=tmp_path, env=env)  # no creation race
    out = tmp_path / "same.ts"
    procs = [
        subprocess.Popen(
            [EXE, "encrypt", str(plain), "-o", str(out)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    codes = []
    for p in procs:
        p.communicate(timeout=120)
        codes.append(p.returncode)
    assert sorted(codes) == [OK, USAGE, USAGE, USAGE]
    assert run("decrypt", str(out), cwd=tmp_path, env=env).stdout == plain.read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
