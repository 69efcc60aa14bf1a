"""Process-wide security counters behind :func:`tigerseal.get_security_metrics`.

Counts are kept in memory since the process started (or since :func:`reset`): events by type
and risk level, plus counters other modules bump (rate-limit rejections, failed decryptions,
failed logins, audit write failures). For history across processes, read the audit trail
(``tigerseal audit stats FILE``).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["RISK_LEVELS", "SecurityMetrics", "count", "metrics", "reset", "snapshot"]

RISK_LEVELS = ("low", "medium", "high", "critical")

# Event types (OWASP Logging Vocabulary names and the seed's) that feed the named counters.
_COUNTED_EVENTS = {
    "authn_login_fail": "failed_logins",
    "authn_login_fail_max": "failed_logins",
    "login_failed": "failed_logins",
    "authn_token_invalid": "token_failures",
    "authn_token_reuse": "token_failures",
    "authn_token_revoked_use": "token_failures",
    "token_validation_failed": "token_failures",
    "authz_fail": "authorization_failures",
    "crypto_decrypt_fail": "failed_decryptions",
    "decryption_failed": "failed_decryptions",
}


class SecurityMetrics:
    """Thread-safe counters of security events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (event type, risk level) -> count: one dict update per event; totals are derived
        # when read, which is rare.
        self._events: dict[tuple[str, str], int] = {}
        self._counters: Counter[str] = Counter()
        self._since = time.time()
        self._last_event: str | None = None
        # Objects that keep their own counters on a hot path (rate limiters): polled on read.
        self._sources: weakref.WeakKeyDictionary[object, Callable[[Any], Mapping[str, int]]] = (
            weakref.WeakKeyDictionary()
        )

    def add_source(self, owner: object, read: Callable[[Any], Mapping[str, int]]) -> None:
        """Poll ``read(owner)`` for counters on every snapshot, while ``owner`` lives.

        For hot paths that count with their own lock instead of calling :meth:`count`.
        """
        with self._lock:
            self._sources[owner] = read

    def record_event(self, event_type: str, risk_level: str, timestamp: str) -> None:
        """Count one audit event."""
        key = (event_type, risk_level)
        events = self._events
        with self._lock:
            events[key] = events.get(key, 0) + 1
            self._last_event = timestamp

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``name`` (e.g. ``"rate_limit_rejections"``)."""
        with self._lock:
            self._counters[name] += n

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._events.clear()
            self._counters.clear()
            for owner in list(self._sources):
                reset = getattr(owner, "reset_counters", None)
                if reset is not None:
                    reset()
            self._since = time.time()
            self._last_event = None

    def snapshot(self) -> dict[str, Any]:
        """The seed's ``security_summary`` mapping (a copy)."""
        with self._lock:
            events = dict(self._events)
            counters = Counter(self._counters)
            sources = list(self._sources.items())
            since, last = self._since, self._last_event
        for owner, read in sources:
            counters.update(read(owner))
        by_type: Counter[str] = Counter()
        levels: Counter[str] = Counter()
        for (event_type, level), n in events.items():
            by_type[event_type] += n
            levels[level] += n
            named = _COUNTED_EVENTS.get(event_type)
            if named is not None:
                counters[named] += n
        by_level = {level: levels.get(level, 0) for level in RISK_LEVELS}
        return {
            "total_events": sum(events.values()),
            "critical_events_count": by_level["critical"],
            "high_risk_events_count": by_level["high"],
            "events_by_type": dict(by_type.most_common()),
            "events_by_risk_level": by_level,
            "rate_limit_rejections": counters.get("rate_limit_rejections", 0),
            "failed_decryptions": counters.get("failed_decryptions", 0),
            "failed_logins": counters.get("failed_logins", 0),
            "token_failures": counters.get("token_failures", 0),
            "authorization_failures": counters.get("authorization_failures", 0),
            "audit_write_failures": counters.get("audit_write_failures", 0),
            "counters": dict(counters),
            "since": datetime.fromtimestamp(since, UTC).isoformat(),
            "last_event": last,
        }


#: The process-wide metrics.
metrics = SecurityMetrics()


def count(name: str, n: int = 1) -> None:
    """Add ``n`` to the process-wide counter ``name``."""
    metrics.count(name, n)


def snapshot() -> dict[str, Any]:
    """The process-wide ``security_summary``."""
    return metrics.snapshot()


def reset() -> None:
    """Zero the process-wide counters (tests)."""
    metrics.reset()
