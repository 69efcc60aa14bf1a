"""audit_security_event, metrics, the audit_event hook and the logging sink."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from tigerseal import audit_security_event, get_security_metrics, hookimpl
from tigerseal.audit import (
    Auditor,
    LoggingAuditSink,
    RiskLevel,
    get_auditor,
    reset_auditor,
    verify_audit_file,
)
from tigerseal.config import reset_settings
from tigerseal.errors import AuditError, ConfigError
from tigerseal.plugins import audit_sink_from_uri, get_registry
from tigerseal.spi import AuditSink

from .conftest import read_lines


class ListSink(AuditSink):
    def __init__(self) -> None:
        self.records: list[Mapping[str, Any]] = []

    def write(self, record: Mapping[str, Any]) -> None:
        self.records.append(record)


def test_seed_example_writes_a_chained_redacted_record(tmp_path: Path) -> None:
    record = audit_security_event(
        event_type="api_key_created",
        api_key_id="key_123",
        details={"scopes": ["read", "write"]},
        risk_level="low",
        source_ip="192.168.1.1",
    )
    assert record["event_type"] == "api_key_created"
    assert record["owasp"] == "authn_token_created"
    assert record["api_key_id"] == "key_123"
    assert record["details"] == {"scopes": ["read", "write"]}
    metrics = get_security_metrics()
    assert metrics["security_summary"]["total_events"] == 1
    assert metrics["security_summary"]["critical_events_count"] == 0
    reset_auditor()  # close: final checkpoint
    path = tmp_path / ".tigerseal" / "audit.jsonl"  # the default sink
    lines = [json.loads(x) for x in read_lines(path)]
    assert [x["event_type"] for x in lines] == [
        "audit_chain_start",
        "api_key_created",
        "audit_checkpoint",
    ]
    assert lines[1]["event_id"] == record["event_id"]
    assert lines[1]["seq"] == 1
    assert verify_audit_file(path).ok


def test_metrics_count_types_levels_and_named_counters() -> None:
    sink = ListSink()
    auditor = Auditor([sink], notify=False)
    for level in ("low", "medium", "high", "critical", "CRITICAL", RiskLevel.HIGH):
        auditor.log("authn_login_fail", risk_level=level, user_id="alice")
    auditor.log("crypto_decrypt_fail", risk_level="high")
    auditor.log("authz_fail", risk_level="medium")
    auditor.log("authn_token_invalid", risk_level="medium")
    summary = get_security_metrics()["security_summary"]
    assert summary["total_events"] == 9
    assert summary["critical_events_count"] == 2
    assert summary["high_risk_events_count"] == 3
    assert summary["events_by_risk_level"] == {"low": 1, "medium": 3, "high": 3, "critical": 2}
    assert summary["events_by_type"]["authn_login_fail"] == 6
    assert summary["failed_logins"] == 6
    assert summary["failed_decryptions"] == 1
    assert summary["authorization_failures"] == 1
    assert summary["token_failures"] == 1
    assert [r["risk_level"] for r in sink.records[:6]] == [
        "low", "medium", "high", "critical", "critical", "high",
    ]  # fmt: skip


@pytest.mark.parametrize("event_type", ["", "Login Failed", "x" * 65, "drop table;", 42, None])
def test_bad_event_type(event_type: object) -> None:
    with pytest.raises(AuditError, match="event type"):
        Auditor([ListSink()], notify=False).log(event_type)  # type: ignore[arg-type]


@pytest.mark.parametrize("level", ["severe", "", None, 3])
def test_bad_risk_level(level: object) -> None:
    with pytest.raises(AuditError, match="low, medium, high, critical"):
        Auditor([ListSink()], notify=False).log("authz_fail", risk_level=level)  # type: ignore[arg-type]


def test_fields_extra_and_secret_redaction() -> None:
    sink = ListSink()
    auditor = Auditor([sink], notify=False, app="orders")
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJlc2lnbmF0dXJl"
    record = auditor.log(
        "authn_login_success",
        user_id="alice",
        session_id="s-123",
        user_agent="curl/8.0",
        details={"password": "hunter2", "note": f"Bearer {token}"},
        request_id="r1",
    )
    assert record["session_id"].startswith("[HMAC:")
    assert record["details"]["password"] == "[REDACTED]"
    assert record["details"]["request_id"] == "r1"
    assert token not in json.dumps(record)
    assert record["app"] == "orders"
    assert {"host", "pid", "ts", "event_id"} <= set(record)
    with pytest.raises(AuditError, match="mapping"):
        auditor.log("authz_fail", details=["not", "a", "mapping"])  # type: ignore[arg-type]


def test_event_ids_are_unique_across_threads() -> None:
    sink = ListSink()
    auditor = Auditor([sink], notify=False)

    def work() -> None:
        for _ in range(300):
            auditor.log("sensitive_read")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [r["event_id"] for r in sink.records]
    assert len(ids) == len(set(ids)) == 2400


def test_observers_get_every_event_and_a_failing_one_is_contained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[Mapping[str, Any]] = []

    class Observer:
        @hookimpl
        def audit_event(self, event: Mapping[str, Any]) -> None:
            seen.append(event)

    class Broken:
        @hookimpl
        def audit_event(self, event: Mapping[str, Any]) -> None:
            raise RuntimeError("observer bug")

    registry = get_registry()
    names = [registry.register(Observer(), "observer"), registry.register(Broken(), "broken")]
    try:
        with caplog.at_level(logging.ERROR):
            record = Auditor([ListSink()]).log("authz_fail", risk_level="high")
    finally:
        for name in names:
            registry.unregister(name)
    assert len(seen) == 1
    assert seen[0]["event_id"] == record["event_id"]
    with pytest.raises(TypeError):
        seen[0]["risk_level"] = "low"  # type: ignore[index]
    assert "observer bug" in caplog.text


def test_sink_failure_is_raised_and_counted() -> None:
    class Broken(AuditSink):
        def write(self, record: Mapping[str, Any]) -> None:
            raise OSError("disk full")

    good = ListSink()
    auditor = Auditor([Broken(), good], notify=False)
    with pytest.raises(AuditError, match="disk full"):
        auditor.log("authz_fail")
    assert len(good.records) == 1  # the other sinks still got it
    assert get_security_metrics()["security_summary"]["audit_write_failures"] == 1


def test_logging_sink(caplog: pytest.LogCaptureFixture) -> None:
    sink = audit_sink_from_uri("logging://app.audit")
    assert isinstance(sink, LoggingAuditSink)
    auditor = Auditor([sink], notify=False)
    with caplog.at_level(logging.INFO, logger="app.audit"):
        auditor.log("authn_login_fail", risk_level="high", details={"token": "abc"})
        auditor.log("sensitive_read", risk_level="low")
    rec = caplog.records[0]
    assert rec.name == "app.audit"
    assert rec.levelno == logging.ERROR
    assert json.loads(rec.getMessage())["event_type"] == "authn_login_fail"
    assert rec.audit["details"]["token"].startswith("[HMAC:")  # type: ignore[attr-defined]
    assert caplog.records[1].levelno == logging.INFO
    fixed = audit_sink_from_uri("logging://?level=warning")
    assert isinstance(fixed, LoggingAuditSink)
    assert fixed.level == logging.WARNING
    for bad in ("logging://x?level=LOUD", "logging://x?colour=1", "logging://x/path"):
        with pytest.raises(ConfigError):
            audit_sink_from_uri(bad)


def test_sinks_from_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(
        "TIGERSEAL_AUDIT_SINKS", f"file://{tmp_path}/x.jsonl?durability=group logging://"
    )
    reset_settings()
    reset_auditor()
    auditor = get_auditor()
    assert [type(s).__name__ for s in auditor.sinks] == ["FileAuditSink", "LoggingAuditSink"]
    audit_security_event("sys_startup")
    assert "sys_startup" in (tmp_path / "x.jsonl").read_text()
    assert len(get_security_metrics()["audit"]["sinks"]) == 2


def test_one_call_cannot_write_a_huge_record(tmp_path: Path) -> None:
    """Issue 12 item 5: nested collections of long strings made a 20 MB line."""
    from tigerseal.audit._redact import MAX_RECORD

    chunk = "x" * 2000 + " y"  # long, not secret-shaped
    wide = {f"k{i}": {f"j{j}": chunk for j in range(100)} for i in range(100)}
    long_name = "n" * 100_000
    audit_security_event(
        "sensitive_read",
        details={"wide": wide, long_name: 1},
        user_id={"nested": wide},
        user_agent=chunk * 50,
    )
    reset_auditor()
    path = tmp_path / ".tigerseal" / "audit.jsonl"
    lines = read_lines(path)
    event = next(json.loads(x) for x in lines if b'"sensitive_read"' in x)
    assert max(len(x) for x in lines) <= MAX_RECORD + 512
    assert event["truncated"] is True
    assert verify_audit_file(path).ok


def _keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k in value] + [x for v in value.values() for x in _keys(v)]
    if isinstance(value, list):
        return [x for v in value for x in _keys(v)]
    return []


@pytest.mark.parametrize("char", ["\u00e9", "\x01", "\U0001f600"])
def test_escaped_characters_cannot_inflate_a_record_past_the_bound(
    tmp_path: Path, char: str
) -> None:
    """JSON escapes a character into up to 12 bytes: the bound is on the encoded record."""
    from tigerseal.audit._redact import MAX_RECORD

    audit_security_event("sensitive_read", details={f"f{i}": char * 2000 for i in range(15)})
    reset_auditor()
    path = tmp_path / ".tigerseal" / "audit.jsonl"
    lines = read_lines(path)
    assert max(len(x) for x in lines) <= MAX_RECORD + 512
    assert verify_audit_file(path).ok


@pytest.mark.parametrize(
    "event_type", ["audit_chain_start", "audit_chain_resume", "audit_checkpoint"]
)
def test_the_sinks_own_event_types_are_refused(event_type: str) -> None:
    """An application record posing as a chain start fails `verify` and hides from `tail`."""
    with pytest.raises(AuditError, match="reserved"):
        Auditor([ListSink()], notify=False).log(event_type)
