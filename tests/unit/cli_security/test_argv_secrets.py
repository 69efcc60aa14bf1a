"""Secrets are read from stdin or a file; argv still works, with a warning (issue 12, item 20)."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tigerseal.cli import cli

EXE = str(Path(sys.executable).parent / "tigerseal")
# PBKDF2 of "password" (1212 rounds): the seed's example hash.
STORED = "$pbkdf2-sha256$1212$4vjV83LKPjQzk31VI4E0Vw$hsYF68OiOUPdDZ1Fg.fJPeq1h/gXXY7acBp9/6c.tmQ"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("JWT_SECRET", "C" + secrets.token_urlsafe(40))
    return CliRunner()


@pytest.fixture
def token(runner: CliRunner) -> str:
    issued = runner.invoke(cli, ["token", "issue", "-s", "alice", "--scope", "read"])
    assert issued.exit_code == 0, issued.output
    return issued.stdout.strip()


# -- token verify ---------------------------------------------------------------------------------
def test_token_on_argv_works_with_a_warning(runner: CliRunner, token: str) -> None:
    result = runner.invoke(cli, ["token", "verify", token])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sub"] == "alice"
    assert "warning: the token was given on the command line" in result.stderr
    assert "--from-file" in result.stderr
    assert token not in result.stderr


@pytest.mark.parametrize("args", [[], ["-"]])
def test_token_from_stdin_by_default(runner: CliRunner, token: str, args: list[str]) -> None:
    result = runner.invoke(cli, ["token", "verify", *args], input=token + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sub"] == "alice"
    assert "warning" not in result.stderr


def test_token_from_a_file(runner: CliRunner, token: str, tmp_path: Path) -> None:
    path = tmp_path / "token.txt"
    path.write_text(token + "\n")
    result = runner.invoke(cli, ["token", "verify", "--from-file", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sub"] == "alice"
    assert "warning" not in result.stderr


def test_token_argument_and_file_together_is_a_usage_error(
    runner: CliRunner, token: str, tmp_path: Path
) -> None:
    path = tmp_path / "token.txt"
    path.write_text(token)
    result = runner.invoke(cli, ["token", "verify", token, "--from-file", str(path)])
    assert result.exit_code == 2
    assert "not both" in result.stderr


@pytest.mark.parametrize("content", ["", "\n", "x" * (70 * 1024)])
def test_an_empty_or_huge_file_is_refused(runner: CliRunner, tmp_path: Path, content: str) -> None:
    path = tmp_path / "token.txt"
    path.write_text(content)
    result = runner.invoke(cli, ["token", "verify", "--from-file", str(path)])
    assert result.exit_code == 2
    assert str(path) in result.stderr
    assert "x" * 100 not in result.stderr


@pytest.mark.parametrize(
    ("args", "head"),
    [
        (["token", "verify"], b""),
        (["verify-password"], b""),
        (["verify-password"], STORED.encode() + b"\n"),
        (["verify-password", STORED, "--stdin"], b""),
    ],
)
def test_stdin_is_read_with_a_bound(runner: CliRunner, args: list[str], head: bytes) -> None:
    # `tigerseal token verify < /dev/zero` read until memory ran out (readline has no limit).
    endless = io.BytesIO(head + b"x" * (4 * 1024 * 1024))
    result = runner.invoke(cli, args, input=endless)
    assert result.exit_code == 2, result.output
    assert "longer than 64 KiB" in result.stderr
    assert "x" * 100 not in result.output
    assert endless.tell() < 256 * 1024


def test_a_missing_file_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["token", "verify", "--from-file", str(tmp_path / "none")])
    assert result.exit_code == 2


# -- verify-password ------------------------------------------------------------------------------
def test_hash_on_argv_works_with_a_warning(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["verify-password", STORED], input="password\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "valid\n"
    assert "warning: the password hash was given on the command line" in result.stderr


@pytest.mark.parametrize("args", [[], ["-"]])
def test_hash_then_password_on_stdin(runner: CliRunner, args: list[str]) -> None:
    ok = runner.invoke(cli, ["verify-password", *args], input=f"{STORED}\npassword\n")
    assert ok.exit_code == 0, ok.output
    assert ok.stdout == "valid\n"
    assert "warning" not in ok.stderr
    bad = runner.invoke(cli, ["verify-password", *args], input=f"{STORED}\nwrong\n")
    assert bad.exit_code == 1
    assert "invalid" in bad.stderr


def test_hash_on_stdin_without_a_password_line(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["verify-password"], input=f"{STORED}\n")
    assert result.exit_code == 2
    assert "password" in result.stderr
    assert STORED not in result.output


def test_hash_from_a_file(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "hash.txt"
    path.write_text(STORED + "\n")
    result = runner.invoke(cli, ["verify-password", "--from-file", str(path)], input="password\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "valid\n"
    assert "warning" not in result.stderr
    both = runner.invoke(cli, ["verify-password", STORED, "--from-file", str(path)])
    assert both.exit_code == 2


# -- a real process -------------------------------------------------------------------------------
def test_in_a_real_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIGERSEAL_", "JWT_"))}
    env.update(
        JWT_SECRET="C" + secrets.token_urlsafe(40),
        ENVIRONMENT="development",
        TIGERSEAL_AUDIT_SINKS=f"file://{tmp_path}/audit.jsonl",
    )

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [EXE, *args], input=stdin, capture_output=True, text=True, env=env, cwd=tmp_path,
            timeout=120,
        )  # fmt: skip

    issued = run("token", "issue", "-s", "carol")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    piped = run("token", "verify", stdin=token + "\n")
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["sub"] == "carol"
    assert "warning" not in piped.stderr
    (tmp_path / "t").write_text(token)
    from_file = run("token", "verify", "--from-file", str(tmp_path / "t"))
    assert from_file.returncode == 0, from_file.stderr
    on_argv = run("token", "verify", token)
    assert on_argv.returncode == 0
    assert "warning: the token was given on the command line" in on_argv.stderr
    password = run("verify-password", stdin=f"{STORED}\npassword\n")
    assert password.returncode == 0, password.stderr
    assert password.stdout == "valid\n"
