"""The limiter and the seed's functions: defaults, status, headers, penalties, metrics, audit."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from tigerseal import get_security_metrics, verify_rate_limit
from tigerseal.audit import Auditor, set_auditor
from tigerseal.config import reset_settings
from tigerseal.errors import ConfigError, RateLimitExceeded, UnknownProviderError
from tigerseal.ratelimit import (
    MemoryRateLimitStorage,
    ProgressivePenalty,
    RateLimiter,
    RateLimitPolicy,
    get_rate_limit_status,
    get_rate_limiter,
    ratelimit_headers,
    reset_rate_limiter,
)
from tigerseal.spi import AuditSink

from .conftest import Clock


def audit_records(tmp_path: Path) -> list[dict[str, Any]]:
    from tigerseal.audit import get_auditor

    get_auditor().flush()
    path = tmp_path / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_seed_flow_limit_then_status() -> None:
    assert all(
        verify_rate_limit("api_key_12345", max_requests=100, window_size=3600) for _ in range(40)
    )
    status = get_rate_limit_status("api_key_12345")
    assert status["requests_remaining"] == 60
    assert status["requests_made"] == 40
    assert status["limit"] == 100
    assert status["window_size"] == 3600
    for _ in range(60):
        assert verify_rate_limit("api_key_12345", max_requests=100, window_size=3600)
    assert not verify_rate_limit("api_key_12345", max_requests=100, window_size=3600)
    status = get_rate_limit_status("api_key_12345")
    assert status["requests_remaining"] == 0
    assert not status["allowed"]
    assert 3599 <= status["reset_after"] <= 3600
    assert status["retry_after"] > 3500


def test_default_limit_comes_from_default_rate_limit_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_RATE_LIMIT_HOUR", "5")
    reset_settings()
    reset_rate_limiter()
    assert [verify_rate_limit("u") for _ in range(6)] == [True] * 5 + [False]
    assert get_rate_limit_status("u")["limit"] == 5
    # another window scales the hourly default (rounded up, at least one)
    limiter = get_rate_limiter()
    assert limiter.policy(None, 60).limit == 1
    assert limiter.policy(None, 7200).limit == 10


def test_algorithm_and_storage_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIGERSEAL_RATE_LIMIT_ALGORITHM", "gcra")
    reset_settings()
    reset_rate_limiter()
    limiter = get_rate_limiter()
    assert limiter.algorithm == "gcra"
    assert isinstance(limiter.storage, MemoryRateLimitStorage)
    assert get_rate_limit_status("x")["algorithm"] == "gcra"


def test_unknown_storage_scheme_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIGERSEAL_RATE_LIMIT_STORAGE", "memcached://localhost")
    reset_settings()
    reset_rate_limiter()
    with pytest.raises(UnknownProviderError, match="memory"):
        verify_rate_limit("k")


def test_status_is_a_pure_read_and_reports_headers(clock: Clock) -> None:
    limiter = RateLimiter(
        MemoryRateLimitStorage(clock=clock), algorithm="sliding_window_log", default_limit=10
    )
    for _ in range(3):
        limiter.hit("k", 10, 60)
    before = limiter.status("k")
    after = limiter.status("k")
    assert before["requests_remaining"] == after["requests_remaining"] == 7
    assert before["reset_time"] == pytest.approx(after["reset_time"], abs=1)
    assert before["headers"] == {
        "RateLimit-Policy": '"default";q=10;w=60',
        "RateLimit": '"default";r=7;t=60',
    }
    # explicit policy wins over the remembered one
    assert limiter.status("k", 100, 60)["requests_remaining"] == 97


def test_headers_of_a_rejection() -> None:
    policy = RateLimitPolicy(2, 30)
    storage = MemoryRateLimitStorage(clock=Clock())
    storage.acquire("k", policy, 2)
    d = storage.acquire("k", policy)
    h = ratelimit_headers(d, policy, name="api", partition_key=b"\x01\x02")
    assert h == {
        "RateLimit-Policy": '"api";q=2;w=30;pk=:AQI=:',
        "RateLimit": '"api";r=0;t=30;pk=:AQI=:',
        "Retry-After": "30",
    }


def test_header_values_round_up_and_escape() -> None:
    policy = RateLimitPolicy(5, 0.5)
    d = MemoryRateLimitStorage(clock=Clock()).acquire("k", policy)
    h = ratelimit_headers(d, policy, name='a "quoted" \\ name')
    assert h["RateLimit-Policy"] == '"a \\"quoted\\" \\\\ name";q=5;w=1'
    assert h["RateLimit"].endswith(";r=4;t=1")
    with pytest.raises(ConfigError, match="ASCII"):
        ratelimit_headers(d, policy, name="caf\u00e9")
    never = MemoryRateLimitStorage(clock=Clock()).acquire("k", policy, 6)
    assert "Retry-After" not in ratelimit_headers(never, policy)


def test_enforce_raises_with_retry_after(clock: Clock) -> None:
    limiter = RateLimiter(MemoryRateLimitStorage(clock=clock), algorithm="gcra", default_limit=10)
    policy = limiter.policy(2, 10)
    limiter.enforce("k", policy)
    limiter.enforce("k", policy)
    with pytest.raises(RateLimitExceeded, match=r"retry in 5\.0s") as info:
        limiter.enforce("k", policy)
    assert info.value.retry_after == pytest.approx(5.0)


def test_progressive_penalty_shrinks_then_recovers(clock: Clock) -> None:
    limiter = RateLimiter(
        MemoryRateLimitStorage(clock=clock),
        algorithm="sliding_window_log",
        default_limit=100,
        penalty=ProgressivePenalty(strikes_per_level=2, divisor=2, max_level=3, decay=600),
        audit_rejections=False,
    )
    assert sum(limiter.hit("abuser", 8, 60) for _ in range(8)) == 8
    assert limiter.penalty_level("abuser") == 0
    assert not limiter.hit("abuser", 8, 60)
    assert not limiter.hit("abuser", 8, 60)
    assert limiter.penalty_level("abuser") == 1
    status = limiter.status("abuser")
    assert status["limit"] == 4
    assert status["penalty_level"] == 1
    clock.advance(61)  # the window passed: a penalised key now gets 4, not 8
    assert sum(limiter.hit("abuser", 8, 60) for _ in range(8)) == 4
    assert limiter.penalty_level("abuser") == 3  # four more strikes, capped at max_level
    assert limiter.status("abuser")["limit"] == 1
    # others are untouched
    assert limiter.status("polite", 8, 60)["limit"] == 8
    clock.advance(1300)  # strikes age out
    assert limiter.penalty_level("abuser") == 0
    assert sum(limiter.hit("abuser", 8, 60) for _ in range(10)) == 8
    limiter.reset("abuser")
    assert limiter.penalty_level("abuser") == 0


def test_bad_penalty_settings() -> None:
    with pytest.raises(ConfigError):
        ProgressivePenalty(divisor=1)
    with pytest.raises(ConfigError):
        ProgressivePenalty(decay=0)


def test_rejections_are_counted_and_audited_once_per_window(tmp_path: Path) -> None:
    for _ in range(3):
        verify_rate_limit("api_key_9", max_requests=1, window_size=3600)
    summary = get_security_metrics()["security_summary"]
    assert summary["rate_limit_rejections"] == 2
    events = [r for r in audit_records(tmp_path) if r["event_type"] == "excess_rate_limit_exceeded"]
    assert len(events) == 1
    assert events[0]["risk_level"] == "medium"
    assert events[0]["details"]["subject"] == "api_key_9"
    assert events[0]["details"]["limit"] == 1
    assert get_security_metrics()["rate_limiting"]["algorithm"] == "sliding_window_log"


class BrokenSink(AuditSink):
    def write(self, record: Mapping[str, Any]) -> None:
        raise OSError("disk full")


def test_a_broken_audit_trail_does_not_break_rate_limiting() -> None:
    previous = set_auditor(Auditor([BrokenSink()], notify=False))
    try:
        assert verify_rate_limit("k", max_requests=1)
        assert not verify_rate_limit("k", max_requests=1)
        assert get_security_metrics()["security_summary"]["audit_write_failures"] == 1
    finally:
        set_auditor(previous)


def test_limiter_rejects_unknown_algorithm() -> None:
    with pytest.raises(ConfigError, match="algorithm"):
        RateLimiter(MemoryRateLimitStorage(), algorithm="leaky", default_limit=5)  # type: ignore[arg-type]
