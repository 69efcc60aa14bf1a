"""What a Redis-backed store does while Redis is unreachable, and how it comes back.

Three policies, chosen per store (URI ``?on_outage=``, the ``on_outage`` option, or
``TIGERSEAL_REDIS_ON_OUTAGE``):

``fail_closed``
    Rate limits deny every hit; the revocation store raises
    :class:`~tigerseal.errors.ProviderUnavailable` (so no token verifies).
``fail_open``
    Rate limits admit every hit; revocation checks pass (writes are queued and replayed).
``local``
    Each process falls back to core's in-memory storage: limits hold per process (so the
    effective limit is multiplied by the number of processes) and revocations made during the
    outage are replayed to Redis when it returns.

The switch to degraded mode and the way back are each audited once (``redis_unavailable`` /
``redis_recovered``) and counted in :attr:`OutageGuard.metrics`. While degraded, one caller at a
time probes Redis every ``retry_interval`` seconds; the others go straight to the fallback, so
an outage costs no more than one socket timeout per interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tigerseal.errors import ConfigError

__all__ = ["OutageGuard", "audit", "is_outage_error"]

log = logging.getLogger("tigerseal_redis")

T = TypeVar("T")


def _outage_types() -> tuple[type[BaseException], ...]:
    import redis.exceptions as rx

    # ConnectionError covers refused/reset sockets, AuthenticationError, BusyLoadingError and
    # sentinel's MasterNotFoundError; the rest are states in which the server cannot answer.
    return (
        rx.ConnectionError,
        rx.TimeoutError,
        rx.ClusterDownError,
        rx.MasterDownError,
        rx.TryAgainError,
        rx.ReadOnlyError,
        rx.SlotNotCoveredError,
        rx.MaxConnectionsError,
        ConnectionError,  # builtin: OSError family raised by sockets
        TimeoutError,
    )


_OUTAGE: tuple[type[BaseException], ...] | None = None


def is_outage_error(exc: BaseException) -> bool:
    """Whether ``exc`` means "Redis cannot answer now" (as opposed to a bug or bad data)."""
    global _OUTAGE
    if _OUTAGE is None:
        _OUTAGE = _outage_types()
    return isinstance(exc, _OUTAGE)


def audit(event_type: str, risk_level: str, details: dict[str, Any]) -> None:
    """Record the switch in the audit trail if core's audit is available; never raise."""
    try:
        from tigerseal.audit import audit_security_event
    except ImportError:
        log.warning("%s %s (audit unavailable)", event_type, details)
        return
    try:
        audit_security_event(event_type, risk_level=risk_level, details=details)
    except Exception:  # an audit failure must not turn an outage into a crash
        log.exception("could not audit %s", event_type)


class OutageGuard:
    """Runs remote calls, switches to a fallback on outage errors and probes for recovery.

    Args:
        component: what is guarded, for audit and logs (``"rate_limit"``, ``"revocation"``).
        server: where Redis is (no credentials).
        policy: ``fail_closed``, ``fail_open`` or ``local``.
        retry_interval: seconds between probes while degraded.
        on_recover: called (under the guard's lock, before the switch back is announced) when
            Redis answers again, e.g. to replay writes queued during the outage.
    """

    def __init__(
        self,
        *,
        component: str,
        server: str,
        policy: str,
        retry_interval: float,
        on_recover: Callable[[], None] | None = None,
    ) -> None:
        if policy not in ("fail_closed", "fail_open", "local"):
            raise ConfigError(f"unknown outage policy {policy!r}")
        self.component = component
        self.server = server
        self.policy = policy
        self.retry_interval = retry_interval
        self._on_recover = on_recover
        self._lock = threading.Lock()
        self._probe = threading.Lock()
        self._degraded = False
        self._next_probe = 0.0
        self._since: float | None = None
        self._counts = {
            "remote_calls": 0,
            "fallback_calls": 0,
            "errors": 0,
            "outages": 0,
            "recoveries": 0,
        }
        self._last_error: str | None = None

    @property
    def degraded(self) -> bool:
        """Whether the fallback is in use."""
        return self._degraded

    @property
    def metrics(self) -> dict[str, Any]:
        """State and counters (a copy); safe to export to a metrics system."""
        with self._lock:
            return {
                "component": self.component,
                "server": self.server,
                "policy": self.policy,
                "state": "degraded" if self._degraded else "connected",
                "degraded_since": self._since,
                "last_error": self._last_error,
                **self._counts,
            }

    def call(self, remote: Callable[[], T], fallback: Callable[[], T]) -> T:
        """Run ``remote``; on an outage error (or while degraded) return ``fallback()``."""
        if self._degraded:
            return self._degraded_call(remote, fallback)
        try:
            result = remote()
        except Exception as exc:
            if not is_outage_error(exc):
                raise
            self._trip(exc)
            return self._fallback(fallback)
        self._bump("remote_calls")
        return result

    async def acall(self, remote: Callable[[], Awaitable[T]], fallback: Callable[[], T]) -> T:
        """:meth:`call` for an async ``remote`` (``redis.asyncio``); same state and counters.

        The sync and async twins of a store share one guard, so an outage seen by either
        degrades both and one probe serves both.
        """
        if self._degraded:
            now = time.monotonic()
            if now >= self._next_probe and self._probe.acquire(blocking=False):
                try:
                    if self._degraded and time.monotonic() >= self._next_probe:
                        try:
                            result = await remote()
                            self._recover()
                        except Exception as exc:
                            if not is_outage_error(exc):
                                raise
                            self._probe_failed(exc)
                        else:
                            self._bump("remote_calls")
                            return result
                finally:
                    self._probe.release()
            return self._fallback(fallback)
        try:
            result = await remote()
        except Exception as exc:
            if not is_outage_error(exc):
                raise
            self._trip(exc)
            return self._fallback(fallback)
        self._bump("remote_calls")
        return result

    def _bump(self, counter: str) -> None:
        with self._lock:
            self._counts[counter] += 1

    def _degraded_call(self, remote: Callable[[], T], fallback: Callable[[], T]) -> T:
        now = time.monotonic()
        # Only one thread probes; the rest must not queue behind a socket timeout.
        if now >= self._next_probe and self._probe.acquire(blocking=False):
            try:
                if self._degraded and time.monotonic() >= self._next_probe:
                    try:
                        result = remote()
                        self._recover()
                    except Exception as exc:
                        if not is_outage_error(exc):
                            raise
                        self._probe_failed(exc)
                    else:
                        self._bump("remote_calls")
                        return result
            finally:
                self._probe.release()
        return self._fallback(fallback)

    def _probe_failed(self, exc: BaseException) -> None:
        """A probe found Redis still down: stay degraded, probe again after the interval."""
        with self._lock:
            self._counts["errors"] += 1
            self._last_error = type(exc).__name__
            self._next_probe = time.monotonic() + self.retry_interval

    def _fallback(self, fallback: Callable[[], T]) -> T:
        self._bump("fallback_calls")
        return fallback()

    def _trip(self, exc: BaseException) -> None:
        with self._lock:
            self._counts["errors"] += 1
            self._last_error = type(exc).__name__
            if self._degraded:
                return
            self._degraded = True
            self._since = time.time()
            self._next_probe = time.monotonic() + self.retry_interval
            self._counts["outages"] += 1
        log.warning(
            "Redis %s unreachable (%s); %s storage now %s",
            self.server,
            type(exc).__name__,
            self.component,
            self.policy,
        )
        audit(
            "redis_unavailable",
            "high",
            {
                "component": self.component,
                "server": self.server,
                "policy": self.policy,
                "error": type(exc).__name__,
            },
        )

    def _recover(self) -> None:
        if self._on_recover is not None:
            # Replay before declaring recovery: a failure here keeps us degraded.
            self._on_recover()
        with self._lock:
            if not self._degraded:
                return
            since = self._since
            self._degraded = False
            self._since = None
            self._counts["recoveries"] += 1
        down_for = round(time.time() - since, 3) if since is not None else None
        log.warning("Redis %s reachable again; %s storage back", self.server, self.component)
        audit(
            "redis_recovered",
            "medium",
            {
                "component": self.component,
                "server": self.server,
                "policy": self.policy,
                "outage_seconds": down_for,
            },
        )
