"""The auditor: builds, redacts, counts and fans out audit records to the configured sinks."""

from __future__ import annotations

import itertools
import json
import logging
import os
import secrets
import socket
import types
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tigerseal import observe as _observe
from tigerseal.audit import _metrics
from tigerseal.audit._clock import timestamp
from tigerseal.audit._events import SEED_ALIASES, check_event_type, check_risk_level
from tigerseal.audit._redact import BUDGET, MAX_RECORD, Redactor
from tigerseal.errors import AuditError
from tigerseal.plugins import get_registry

if TYPE_CHECKING:
    from tigerseal.config import Settings
    from tigerseal.spi.services import AuditSink

__all__ = ["SUBJECT_FIELDS", "Auditor"]

log = logging.getLogger("tigerseal.audit")

_encode = json.JSONEncoder(separators=(",", ":"), default=str, check_circular=False).encode
# A field bigger than this is dropped from an oversized record.
_FIELD_LIMIT = 1024


def _shrink(record: dict[str, Any]) -> None:
    """Cut a record over :data:`MAX_RECORD` bytes down: its big fields become a note."""
    for name in ("details", *SUBJECT_FIELDS):
        if name in record:
            size = len(_encode(record[name]))
            if size > _FIELD_LIMIT:
                record[name] = f"[dropped: {size} bytes; records are limited to {MAX_RECORD}]"
    record["truncated"] = True


#: Optional subject fields, in the order they appear in a record.
SUBJECT_FIELDS = (
    "user_id",
    "api_key_id",
    "account_id",
    "session_id",
    "source_ip",
    "user_agent",
    "resource",
    "action",
    "outcome",
)


_AUDITORS: weakref.WeakSet[Auditor] = weakref.WeakSet()


def _auditors_after_fork() -> None:
    for auditor in list(_AUDITORS):
        auditor._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_auditors_after_fork)


class Auditor:
    """Writes security events to sinks after redaction.

    Args:
        sinks: where records go; default: the URIs in ``TIGERSEAL_AUDIT_SINKS`` (a hash-chained
            file at ``.tigerseal/audit.jsonl``).
        redactor: the secret redactor (default: one with a per-process random HMAC key).
        notify: whether to call ``audit_event`` hook implementations (plugins observing events).
        app: an optional application name recorded in every record.
        settings: where the default sinks come from (``TIGERSEAL_AUDIT_SINKS``); default the
            process-wide settings.

    Thread-safe.
    """

    def __init__(
        self,
        sinks: Iterable[AuditSink] | None = None,
        *,
        redactor: Redactor | None = None,
        notify: bool = True,
        app: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        if sinks is None:
            from tigerseal.plugins import audit_sink_from_uri

            if settings is None:
                from tigerseal.config import get_settings

                settings = get_settings()
            sinks = [audit_sink_from_uri(uri) for uri in settings.audit_sinks.split()]
        self.sinks: tuple[AuditSink, ...] = tuple(sinks)
        self.redactor = redactor or Redactor()
        self.notify = notify
        self._app = app
        self._host = socket.gethostname()
        self._pid = os.getpid()
        # Event ids: a random process prefix and a counter (unique, sortable within a process,
        # and far cheaper than uuid4 per event). next() on a count is atomic under the GIL.
        self._id_prefix = secrets.token_hex(6)
        self._ids = itertools.count(1)
        self._closed = False
        _AUDITORS.add(self)

    def _after_fork(self) -> None:
        # A forked child is another process: its own pid and event ids (no duplicates).
        self._pid = os.getpid()
        self._id_prefix = secrets.token_hex(6)
        self._ids = itertools.count(1)

    def log(
        self,
        event_type: str,
        *,
        risk_level: str = "low",
        details: Mapping[str, Any] | None = None,
        user_id: Any = None,
        api_key_id: Any = None,
        account_id: Any = None,
        session_id: Any = None,
        source_ip: Any = None,
        user_agent: Any = None,
        resource: Any = None,
        action: Any = None,
        outcome: Any = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Record one event; see :func:`tigerseal.audit.audit_security_event`."""
        return self.record(
            event_type,
            risk_level,
            details,
            (
                user_id,
                api_key_id,
                account_id,
                session_id,
                source_ip,
                user_agent,
                resource,
                action,
                outcome,
            ),
            extra,
        )

    def record(
        self,
        event_type: str,
        risk_level: str,
        details: Mapping[str, Any] | None,
        subject: tuple[Any, ...],
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Positional form of :meth:`log` (``subject`` in the order of ``SUBJECT_FIELDS``)."""
        event_type = check_event_type(event_type)
        level = check_risk_level(risk_level)
        ts = timestamp()
        record: dict[str, Any] = {
            "ts": ts,
            "event_id": f"{self._id_prefix}-{next(self._ids):x}",
            "event_type": event_type,
            "risk_level": level,
        }
        owasp = SEED_ALIASES.get(event_type)
        if owasp is not None:
            record["owasp"] = owasp
        field = self.redactor.field
        budget = [BUDGET]  # one size budget for the whole record
        for name, value in zip(SUBJECT_FIELDS, subject, strict=True):
            if value is not None:
                record[name] = field(name, value, 0, budget)
        if extra:
            merged = dict(details or {})
            merged.update(extra)
            details = merged
        if details:
            if not isinstance(details, Mapping):
                raise AuditError("audit details must be a mapping (a dict of name -> value)")
            record["details"] = self.redactor.any(details, 0, budget)
        if self._app is not None:
            record["app"] = self._app
        record["host"] = self._host
        record["pid"] = self._pid
        # The budget counts (roughly) the characters the fields produced; JSON escapes one
        # character into up to 12 bytes (a surrogate pair), so measure records above 1/12.
        if BUDGET - budget[0] > MAX_RECORD // 12 and len(_encode(record)) > MAX_RECORD:
            _shrink(record)
        _metrics.metrics.record_event(event_type, level, ts)
        if self.notify:
            get_registry().notify_audit_event(types.MappingProxyType(record))
        self._write(record)
        if _observe.on:
            _observe.audit_event(event_type, level)
        return record

    def _write(self, record: Mapping[str, Any]) -> None:
        failed: list[tuple[AuditSink, Exception]] = []
        for sink in self.sinks:
            try:
                sink.write(record)
            except Exception as exc:  # try every sink, then report
                failed.append((sink, exc))
        if failed:
            _metrics.count("audit_write_failures", len(failed))
            bad_sink, error = failed[0]
            log.error(
                "audit record %s (%s) not written to %r: %s",
                record.get("event_id"),
                record.get("event_type"),
                bad_sink,
                error,
            )
            raise AuditError(
                f"audit record could not be written to {bad_sink!r}: {error}"
                + (f" (and {len(failed) - 1} more sinks failed)" if len(failed) > 1 else "")
            ) from error

    def flush(self) -> None:
        """Make every sink's records durable."""
        for sink in self.sinks:
            sink.flush()

    def close(self) -> None:
        """Flush and close every sink (final checkpoints). Idempotent."""
        if self._closed:
            return
        self._closed = True
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:  # close the others
                log.exception("closing audit sink %r failed", sink)

    def __repr__(self) -> str:
        return f"<Auditor sinks={list(self.sinks)!r}>"
