"""The security commands: secrets from prompt/stdin, clean exit codes."""

from __future__ import annotations

import json
import secrets
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from tigerseal.cli import cli
from tigerseal.passwords import verify_password


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("JWT_SECRET", "C" + secrets.token_urlsafe(40))
    return CliRunner()


def test_hash_password_from_stdin(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["hash-password", "-a", "bcrypt"], input="s3cret-Pass\n")
    assert result.exit_code == 0, result.output
    stored = result.stdout.strip()
    assert stored.startswith("$2b$12$")
    assert verify_password("s3cret-Pass", stored)
    assert "s3cret-Pass" not in result.output


def test_hash_password_default_scheme(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["hash-password", "--stdin"], input="another-pass\n")
    assert result.stdout.startswith("$argon2id$")


def test_hash_password_policy(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["hash-password", "--check-policy"], input="Password123!\n")
    assert result.exit_code == 1
    assert "commonly used password" in result.stderr


def test_hash_password_needs_input(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["hash-password"], input="")
    assert result.exit_code != 0
    assert "stdin" in result.output


def test_verify_password(runner: CliRunner) -> None:
    stored = (
        "$pbkdf2-sha256$1212$4vjV83LKPjQzk31VI4E0Vw$hsYF68OiOUPdDZ1Fg.fJPeq1h/gXXY7acBp9/6c.tmQ"
    )
    ok = runner.invoke(cli, ["verify-password", stored], input="password\n")
    assert ok.exit_code == 0
    assert ok.stdout == "valid\n"
    assert "outdated" in ok.stderr  # PBKDF2 at 1212 rounds is not the argon2 default
    bad = runner.invoke(cli, ["verify-password", stored], input="wrong\n")
    assert bad.exit_code == 1
    assert "invalid" in bad.stderr


def test_verify_password_malformed_hash_exits_2(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from tigerseal.cli import main

    # the hash, then the password, on stdin (a hash argument would add a warning first)
    monkeypatch.setattr("sys.stdin", io.StringIO("$2b$12$nope\npw-typed\n"))
    with pytest.raises(SystemExit) as info:
        main(["verify-password", "--stdin"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the stored bcrypt hash is malformed")
    assert "pw-typed" not in err


def test_token_issue_and_verify(runner: CliRunner) -> None:
    issued = runner.invoke(
        cli,
        ["token", "issue", "-s", "alice", "--scope", "read", "--account", "12345",
         "--claim", "tier=\"gold\"", "--claim", "level=3"],
    )  # fmt: skip
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    verified = runner.invoke(cli, ["token", "verify", "--require-scope", "read"], input=token)
    assert verified.exit_code == 0, verified.output
    claims = json.loads(verified.stdout)
    assert claims["sub"] == "alice"
    assert claims["accounts"] == ["12345"]
    assert (claims["tier"], claims["level"]) == ("gold", 3)
    as_arg = runner.invoke(cli, ["token", "verify", token])
    assert as_arg.exit_code == 0


def test_token_verify_failures(runner: CliRunner) -> None:
    token = runner.invoke(cli, ["token", "issue", "-s", "bob"]).stdout.strip()
    scope = runner.invoke(cli, ["token", "verify", "--require-scope", "admin", token])
    assert scope.exit_code == 1
    assert "admin" in scope.stderr
    garbage = runner.invoke(cli, ["token", "verify", "-"], input="not.a.token\n")
    assert garbage.exit_code == 1
    assert garbage.stderr.startswith("invalid:")


def test_token_claim_syntax(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["token", "issue", "-s", "a", "--claim", "novalue"])
    assert result.exit_code == 2
    assert "NAME=VALUE" in result.output


def test_token_keygen_rotate_and_jwks(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "jwt.json"
    first = runner.invoke(cli, ["token", "keygen", "-a", "ES256", "--out", str(path)])
    assert first.exit_code == 0, first.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = runner.invoke(cli, ["token", "keygen", "--out", str(path)])
    assert again.exit_code == 2
    assert "--rotate" in again.stderr
    rotated = runner.invoke(cli, ["token", "keygen", "-a", "ES256", "--out", str(path), "--rotate"])
    assert "2 key(s)" in rotated.stdout
    monkeypatch.setenv("JWT_ALGORITHM", "ES256")
    monkeypatch.setenv("TIGERSEAL_JWT_KEYS_FILE", str(path))
    jwks = json.loads(runner.invoke(cli, ["token", "jwks"]).stdout)
    assert len(jwks["keys"]) == 2
    assert all("d" not in k for k in jwks["keys"])


def test_apikey_create_and_verify(runner: CliRunner) -> None:
    created = runner.invoke(cli, ["apikey", "create", "--scope", "read", "--json"])
    assert created.exit_code == 0, created.output
    data = json.loads(created.stdout)
    key, record = data["api_key"], data["record"]
    assert key.startswith("tk_")
    assert record["scopes"] == ["read"]
    ok = runner.invoke(cli, ["apikey", "verify", "--hash", record["key_hash"]], input=key + "\n")
    assert ok.exit_code == 0
    assert ok.stdout.startswith("valid (tk_")
    typo = key[:-1] + ("A" if key[-1] != "A" else "B")
    bad = runner.invoke(cli, ["apikey", "verify"], input=typo + "\n")
    assert bad.exit_code == 1
    assert "checksum" in bad.stderr
    other = runner.invoke(cli, ["apikey", "create", "--json"])
    wrong = runner.invoke(
        cli,
        ["apikey", "verify", "--hash", record["key_hash"]],
        input=json.loads(other.stdout)["api_key"],
    )
    assert wrong.exit_code == 1


def test_apikey_create_plain_output(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIGERSEAL_API_KEY_PREFIX", "tiger")
    result = runner.invoke(cli, ["apikey", "create"])
    assert result.exit_code == 0
    assert result.stdout.startswith("api_key:  tiger_")
    assert "copy it now" in result.stderr


def test_commands_are_listed_in_help(runner: CliRunner) -> None:
    out = runner.invoke(cli, ["--help"]).output
    for name in ("hash-password", "verify-password", "token", "apikey"):
        assert name in out
