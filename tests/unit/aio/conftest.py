"""Fixtures of the tigerseal.aio tests: a real asyncio loop (anyio plugin), isolated state."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from tigerseal.spi import AuditSink

from tests.unit.config.isolation import isolate


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class CaptureSink(AuditSink):
    """Keeps audit records in memory."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, record: Mapping[str, Any]) -> None:
        self.records.append(dict(record))

    def events(self) -> list[str]:
        return [r["event_type"] for r in self.records]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No tigerseal variable, no .env, fresh settings, limiter and services."""
    from tigerseal.envelope import reset_encryption_service
    from tigerseal.ratelimit import reset_rate_limiter

    reset_rate_limiter()
    yield from isolate(monkeypatch, tmp_path)
    reset_rate_limiter()
    reset_encryption_service()


@pytest.fixture
def audit_capture() -> Iterator[CaptureSink]:
    """Route the process auditor to an in-memory sink for the test."""
    from tigerseal.audit import Auditor, set_auditor

    sink = CaptureSink()
    previous = set_auditor(Auditor([sink], notify=False))
    yield sink
    set_auditor(previous)


class Ticker:
    """A coroutine that counts event-loop turns: it only advances while the loop is free."""

    def __init__(self) -> None:
        self.ticks = 0
        self.running = True

    async def run(self) -> None:
        import asyncio

        while self.running:
            self.ticks += 1
            await asyncio.sleep(0)
