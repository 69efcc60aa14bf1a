"""Fixtures for the Redis plugin tests (the server itself is tests/services/redis.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from tigerseal.spi.services import AuditSink


class CaptureSink(AuditSink):
    """Keeps audit records in memory."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, record: Mapping[str, Any]) -> None:
        self.records.append(dict(record))

    def events(self) -> list[str]:
        return [r["event_type"] for r in self.records]


@pytest.fixture
def audit_capture() -> Iterator[CaptureSink]:
    """Route the process auditor to an in-memory sink for the test."""
    from tigerseal.audit import Auditor, set_auditor

    sink = CaptureSink()
    previous = set_auditor(Auditor([sink], notify=False))
    yield sink
    set_auditor(previous)


@pytest.fixture
def closing() -> Iterator[Callable[[Any], Any]]:
    """Register stores to close at teardown: ``store = closing(from_uri(...))``."""
    made: list[Any] = []

    def add(obj: Any) -> Any:
        made.append(obj)
        return obj

    yield add
    for obj in made:
        obj.close()
