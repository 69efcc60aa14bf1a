"""``tigerseal demo`` in a fresh clone, and ``tigerseal env-template``."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tigerseal.cli import cli

TIGERSEAL = str(Path(sys.executable).with_name("tigerseal"))


def clean_env(home: Path) -> dict[str, str]:
    """A developer's shell with nothing of tigerseal's configured."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TIGERSEAL_")
        and k not in ("ENCRYPTION_MASTER_KEY", "JWT_SECRET", "ENVIRONMENT", "DATABASE_URL")
    }
    env["HOME"] = str(home)
    return env


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TIGERSEAL, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_demo_in_a_fresh_clone(tmp_path: Path) -> None:
    result = run(["demo"], tmp_path, clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for fact in (
        "Encrypted with key version: 1",
        "Decrypted: sensitive data",
        "a message with one flipped bit is refused (DecryptionError)",
        "the same row read as account 43 is refused (ContextMismatchError)",
        "a token copied into the tiger_id column is refused (ContextMismatchError)",
        "verify('user_password'): True",
        "verify('user_passw0rd'): False",
        "Token subject: user_id",
        "Token scopes: ['read', 'write']",
        "expires in: 3600 s",
        "verify(key): True",
        "verify(key with one typo): False",
        "7 requests: 5 allowed, 2 refused",
        "Requests remaining: 0",
        'RateLimit-Policy: "default";q=5;w=60',
        "Total events: 7",
        "'authn_login_fail': 1",  # the quick start's wrong password is audited
        "'authn_token_invalid': 2",  # a forged token and the mistyped API key
        "Critical events: 0",
        "rate-limit rejections: 2",
        "the 'password' detail was redacted before writing",
        "tigerseal audit verify: OK",
    ):
        assert fact in out, fact
    assert re.search(r"hash: \$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$\.\.\.", out)
    # nothing left behind in the clone, and no secret printed whole
    assert list(tmp_path.iterdir()) == []
    assert not re.search(r"\btk_[A-Za-z0-9]{20,}", out)
    assert not re.search(r"\b[0-9a-f]{64}\b", out)


def test_demo_ignores_a_hostile_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "ENVIRONMENT=production\n"
        f"TIGERSEAL_AUDIT_SINKS=file://{tmp_path}/elsewhere.jsonl\n"
        "TIGERSEAL_KEY_PROVIDERS=vault://transit/nowhere\n"
        "TIGERSEAL_RATE_LIMIT_STORAGE=redis://127.0.0.1:1/0\n"
    )
    result = run(["demo"], tmp_path, clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "tigerseal audit verify: OK" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_demo_state_dir_is_kept_and_verifies(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = clean_env(tmp_path)
    result = run(["demo", "--state-dir", str(state)], tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert (state / "keyring.json").exists()
    assert stat.S_IMODE((state / "keyring.json").stat().st_mode) == 0o600
    keyring = f"file://{state / 'keyring.json'}"
    check = run(
        ["audit", "verify", "--key-provider", keyring, str(state / "audit.jsonl")], tmp_path, env
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "OK - 9 records" in check.stdout
    again = run(["demo", "--state-dir", str(state)], tmp_path, env)  # reuses the keyring
    assert again.returncode == 0, again.stderr
    check = run(
        ["audit", "verify", "--key-provider", keyring, str(state / "audit.jsonl")], tmp_path, env
    )
    assert check.returncode == 0, check.stdout


def test_demo_in_process_restores_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TIGERSEAL_AUDIT_SINKS", "logging://mine")
    monkeypatch.delenv("JWT_SECRET", raising=False)
    before = dict(os.environ)
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert "Decrypted: sensitive data" in result.output
    assert dict(os.environ) == before
    from tigerseal.config import get_settings, reset_settings

    reset_settings()
    assert get_settings().audit_sinks == "logging://mine"


def test_env_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["env-template", "--generate"])
    assert result.exit_code == 0, result.output
    target = tmp_path / ".env.template"
    assert "wrote .env.template (mode 0600)" in result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    first = target.read_text()
    key = re.search(r"^TIGERSEAL_ENCRYPTION_MASTER_KEY=([0-9a-f]{64})$", first, re.M)
    assert key is not None
    assert key.group(1) not in result.output  # the secret is in the file, not on screen

    refused = runner.invoke(cli, ["env-template", "--generate"])
    assert refused.exit_code == 2
    assert "already exists" in refused.output
    assert target.read_text() == first

    forced = runner.invoke(cli, ["env-template", "--generate", "--force"])
    assert forced.exit_code == 0
    assert target.read_text() != first

    prod = runner.invoke(cli, ["env-template", "prod.env", "--environment", "production"])
    assert prod.exit_code == 0, prod.output
    assert re.search(
        r"^TIGERSEAL_ENVIRONMENT=production$", (tmp_path / "prod.env").read_text(), re.M
    )


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "demo" in result.output
    assert "env-template" in result.output
    assert "audit" in result.output
    audit_help = CliRunner().invoke(cli, ["audit", "--help"]).output
    for sub in ("verify", "tail", "stats"):
        assert sub in audit_help
