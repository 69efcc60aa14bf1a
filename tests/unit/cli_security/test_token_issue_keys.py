"""``tigerseal token issue`` refuses to print a token nobody could verify (issue 12 item 13)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner
from tigerseal.cli import cli


def test_issue_without_jwt_secret_is_refused() -> None:
    result = CliRunner().invoke(cli, ["token", "issue", "-s", "alice"])
    assert result.exit_code != 0
    assert "JWT_SECRET" in result.stderr
    assert result.stdout.count(".") < 2, "no token is printed"


def test_issue_with_an_asymmetric_algorithm_needs_a_key_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JWT_ALGORITHM", "EdDSA")
    result = CliRunner().invoke(cli, ["token", "issue", "-s", "alice"])
    assert result.exit_code != 0
    assert "TIGERSEAL_JWT_KEYS_FILE" in result.stderr


def test_issue_with_a_key_file_verifies_in_another_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "jwt-keys.json"
    runner = CliRunner()
    assert runner.invoke(cli, ["token", "keygen", "--out", str(path)]).exit_code == 0
    monkeypatch.setenv("JWT_ALGORITHM", "EdDSA")
    monkeypatch.setenv("TIGERSEAL_JWT_KEYS_FILE", str(path))
    issued = runner.invoke(cli, ["token", "issue", "-s", "alice"])
    assert issued.exit_code == 0, issued.stderr
    from tigerseal.config import reset_settings

    reset_settings()  # a fresh process: settings and managers rebuilt
    from tigerseal.tokens import set_token_manager

    set_token_manager(None)
    verified = runner.invoke(cli, ["token", "verify", issued.stdout.strip()])
    assert verified.exit_code == 0, verified.stderr


def test_issue_with_jwt_secret_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "C" + secrets.token_urlsafe(40))
    result = CliRunner().invoke(cli, ["token", "issue", "-s", "alice"])
    assert result.exit_code == 0
    assert result.stdout.count(".") == 2


@pytest.mark.parametrize(
    "claim",
    ['scp=["admin"]', 'scopes=["admin"]', "token_type=refresh", "audience=other", "now=1"],
)
def test_issue_refuses_claims_that_would_set_protected_values(
    monkeypatch: pytest.MonkeyPatch, claim: str
) -> None:
    # --claim NAME=VALUE goes into create(**claims): a name that is a protected claim or one of
    # create()'s own arguments (token_type, audience, now...) must not become one silently,
    # nor crash with a TypeError.
    monkeypatch.setenv("JWT_SECRET", "C" + secrets.token_urlsafe(40))
    result = CliRunner().invoke(cli, ["token", "issue", "-s", "alice", "--claim", claim])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert claim.partition("=")[0] in result.stderr
    assert result.stdout.count(".") < 2, "no token is printed"
