"""tigerseal audit tail|stats, and the default file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tigerseal import audit_security_event
from tigerseal.audit import reset_auditor
from tigerseal.cli import cli


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    for i in range(12):
        audit_security_event(
            "authn_login_fail" if i % 3 else "authz_fail",
            user_id=f"u{i}",
            risk_level="critical" if i == 11 else "medium",
            details={"attempt": i},
        )
    reset_auditor()
    return tmp_path / ".tigerseal" / "audit.jsonl"


def test_tail(trail: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["audit", "tail", "-n", "3"])  # default file from settings
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 3
    assert "user_id=u11" in lines[-1]
    assert "critical" in lines[-1]
    result = runner.invoke(cli, ["audit", "tail", "-n", "2", "--json", str(trail)])
    assert [json.loads(x)["details"]["attempt"] for x in result.output.splitlines()] == [10, 11]
    result = runner.invoke(cli, ["audit", "tail", "-n", "1", "--all", str(trail)])
    assert "audit_checkpoint" in result.output


def test_stats(trail: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["audit", "stats", "--json", str(trail)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["total_events"] == 12
    assert summary["critical_events_count"] == 1
    assert summary["events_by_type"] == {"authn_login_fail": 8, "authz_fail": 4}
    assert summary["checkpoints"] == 1
    text = runner.invoke(cli, ["audit", "stats", str(trail)]).output
    assert "total events: 12" in text


def test_verify_default_file_and_missing_file(trail: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "OK - 14 records" in result.output
    result = runner.invoke(cli, ["audit", "verify", str(tmp_path / "none.jsonl")])
    assert result.exit_code != 0


def test_verify_strict_fails_on_warnings(trail: Path) -> None:
    with trail.open("ab") as f:
        f.write(b'{"seq":99,')
    runner = CliRunner()
    assert runner.invoke(cli, ["audit", "verify", str(trail)]).exit_code == 0
    result = runner.invoke(cli, ["audit", "verify", "--strict", str(trail)])
    assert result.exit_code == 1
    assert "torn" in result.output


def test_verify_with_an_explicit_key_provider(trail: Path, key_name: str) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify", "--key-provider", f"fake://{key_name}", str(trail)])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(cli, ["audit", "verify", "--key-provider", "fake://stranger", str(trail)])
    assert bad.exit_code == 1
    assert "[key]" in bad.output


def test_verify_accepts_a_file_uri(trail: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["audit", "verify", f"file://{trail}?durability=group"])
    assert result.exit_code == 0, result.output
    assert "OK - 14 records" in result.output


def test_tail_and_stats_escape_attacker_controlled_fields(tmp_path: Path) -> None:
    forged = "curl\n2025-01-01T00:00:00Z critical authz_change user_id=admin granted"
    audit_security_event(
        "authn_login_fail",
        user_agent=forged + "\x1b[2J\x1b]0;pwned\x07",
        details={"note\x1b[31m": "\u202egnp.exe"},
    )
    reset_auditor()
    runner = CliRunner()
    out = runner.invoke(cli, ["audit", "tail", "-n", "5"]).output
    assert len(out.splitlines()) == 1  # one record, one line: no forged second line
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\u202e" not in out
    assert "\\n2025-01-01" in out
    assert "\\x1b[2J" in out
    stats = runner.invoke(cli, ["audit", "stats"]).output
    assert "\x1b" not in stats
