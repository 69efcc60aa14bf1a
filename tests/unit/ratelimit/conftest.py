from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tigerseal.audit import _metrics as metrics
from tigerseal.audit import reset_auditor
from tigerseal.config import reset_settings
from tigerseal.ratelimit import MemoryRateLimitStorage, reset_rate_limiter


class Clock:
    """A hand-driven clock for the storage."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def storage(clock: Clock) -> MemoryRateLimitStorage:
    return MemoryRateLimitStorage(clock=clock)


@pytest.fixture(autouse=True)
def isolated(
    fake_provider_registered: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    """Settings, limiter, auditor and metrics of this test only; audit trail in tmp_path."""
    for var in (
        "TIGERSEAL_RATE_LIMIT_STORAGE",
        "TIGERSEAL_RATE_LIMIT_ALGORITHM",
        "DEFAULT_RATE_LIMIT_HOUR",
        "TIGERSEAL_KEY_PROVIDERS",
        "ENCRYPTION_MASTER_KEY",
        "ENVIRONMENT",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", "fake://ratelimit-tests")
    monkeypatch.setenv("TIGERSEAL_AUDIT_SINKS", f"file://{tmp_path}/audit.jsonl")
    reset_settings()
    reset_rate_limiter()
    reset_auditor()
    metrics.reset()
    yield
    reset_rate_limiter()
    reset_auditor()
    reset_settings()
    from tigerseal.envelope import reset_encryption_service

    reset_encryption_service()
