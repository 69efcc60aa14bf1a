"""Security audit: risk-classified events, redaction, a tamper-evident trail and metrics.

The seed's API::

    from tigerseal import audit_security_event, get_security_metrics

    audit_security_event(
        event_type="api_key_created",
        api_key_id="key_123",
        details={"scopes": ["read", "write"]},
        risk_level="low",
        source_ip="192.168.1.1",
    )
    metrics = get_security_metrics()
    print(metrics["security_summary"]["total_events"])

Records go to the sinks named in ``TIGERSEAL_AUDIT_SINKS`` (default: the hash-chained file
``file://./.tigerseal/audit.jsonl``; also ``logging://``, and ``postgresql://`` from
tigerseal-sql). Check a file with ``tigerseal audit verify FILE``. See ``docs/audit.md``.
"""

from __future__ import annotations

import atexit
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tigerseal._defaults import ProcessDefault
from tigerseal._lazy import lazy_exports
from tigerseal.audit import _metrics as metrics

if TYPE_CHECKING:
    from tigerseal.audit._auditor import Auditor
    from tigerseal.audit._chain import AuditKeys
    from tigerseal.audit._events import OWASP_EVENTS, SEED_ALIASES, RiskLevel
    from tigerseal.audit._filesink import FileAuditSink
    from tigerseal.audit._logsink import LoggingAuditSink
    from tigerseal.audit._redact import Redactor
    from tigerseal.audit._verify import Issue, VerifyReport, verify_audit_file
    from tigerseal.config import Settings

# Lazy: the rate limiter and the plugin registry import this package for its counters; the
# auditor, sinks and verifier load when first used.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Auditor": "tigerseal.audit._auditor",
        "AuditKeys": "tigerseal.audit._chain",
        "OWASP_EVENTS": "tigerseal.audit._events",
        "SEED_ALIASES": "tigerseal.audit._events",
        "RiskLevel": "tigerseal.audit._events",
        "FileAuditSink": "tigerseal.audit._filesink",
        "LoggingAuditSink": "tigerseal.audit._logsink",
        "Redactor": "tigerseal.audit._redact",
        "Issue": "tigerseal.audit._verify",
        "VerifyReport": "tigerseal.audit._verify",
        "verify_audit_file": "tigerseal.audit._verify",
    },
)

__all__ = [
    "OWASP_EVENTS",
    "SEED_ALIASES",
    "AuditKeys",
    "Auditor",
    "FileAuditSink",
    "Issue",
    "LoggingAuditSink",
    "Redactor",
    "RiskLevel",
    "VerifyReport",
    "audit_security_event",
    "get_auditor",
    "get_security_metrics",
    "metrics",
    "reset_auditor",
    "set_auditor",
    "verify_audit_file",
]


def _close(auditor: Auditor) -> None:
    auditor.close()


def _build() -> Auditor:
    from tigerseal.audit._auditor import Auditor

    global _atexit_registered
    auditor = Auditor()
    if not _atexit_registered:
        # Final checkpoint and flush when the interpreter exits normally.
        atexit.register(_close_at_exit)
        _atexit_registered = True
    return auditor


_AUDITOR: ProcessDefault[Auditor] = ProcessDefault("auditor", _build, close=_close)
_atexit_registered = False


def _close_at_exit() -> None:
    auditor = _AUDITOR.peek()
    if auditor is not None:
        auditor.close()


def get_auditor(settings: Settings | None = None) -> Auditor:
    """The process-wide auditor, built from ``TIGERSEAL_AUDIT_SINKS`` on first use.

    Args:
        settings: build a new auditor from these settings instead (not shared, not cached:
            ``close()`` it when done).
    """
    if settings is not None:
        from tigerseal.audit._auditor import Auditor

        return Auditor(settings=settings)
    return _AUDITOR.get()


def set_auditor(auditor: Auditor | None) -> Auditor | None:
    """Install ``auditor`` as the process-wide one; returns the previous one (not closed)."""
    return _AUDITOR.set(auditor)


def reset_auditor() -> None:
    """Close and forget the process-wide auditor (tests, or after changing settings)."""
    _AUDITOR.reset()


def audit_security_event(
    event_type: str,
    user_id: Any = None,
    api_key_id: Any = None,
    details: Mapping[str, Any] | None = None,
    risk_level: str = "low",
    source_ip: Any = None,
    *,
    account_id: Any = None,
    session_id: Any = None,
    user_agent: Any = None,
    resource: Any = None,
    action: Any = None,
    outcome: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    """Record a security event in the audit trail.

    Args:
        event_type: what happened; an OWASP Logging Vocabulary name where one fits
            (``authn_login_fail``, ``authz_fail``, ``authn_token_created``,
            ``excess_rate_limit_exceeded``...) or any lowercase name (``api_key_created``).
        user_id: the acting user.
        api_key_id: the API key's id (never the key: secret-looking values are redacted).
        details: further facts (JSON-like); secrets in it are redacted before writing.
        risk_level: ``low``, ``medium``, ``high`` or ``critical``.
        source_ip: the client address.
        account_id: the account acted upon.
        session_id: the session (always stored as a keyed hash).
        user_agent: the client's user agent.
        resource: the object acted upon.
        action: the operation.
        outcome: e.g. ``success`` or ``failure``.
        **extra: merged into ``details``.

    Returns:
        The record as written (redacted; the file sink adds ``seq`` and ``prev``).

    Raises:
        AuditError: a bad event type or risk level, or a sink could not write the record.
    """
    return _AUDITOR.get().record(
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


def get_security_metrics() -> dict[str, Any]:
    """Security counters of this process, shaped as the seed's metrics.

    Returns:
        ``{"security_summary": {...}, "audit": {...}, "rate_limiting": {...},
        "encryption": {...}}``. ``security_summary`` has ``total_events``,
        ``critical_events_count``, ``high_risk_events_count``, ``events_by_type``,
        ``events_by_risk_level``, ``rate_limit_rejections``, ``failed_decryptions``,
        ``failed_logins``, ``token_failures``, ``authorization_failures``,
        ``audit_write_failures``, ``since`` and ``last_event``. ``encryption`` holds the
        default encryption service's provider-call counters once it has been used.
    """
    import sys

    summary = metrics.snapshot()
    auditor = _AUDITOR.peek()
    result: dict[str, Any] = {
        "security_summary": summary,
        "audit": {
            "sinks": [repr(s) for s in auditor.sinks] if auditor is not None else [],
            "events_recorded": summary["total_events"],
            "write_failures": summary["audit_write_failures"],
        },
        "rate_limiting": {"rejections": summary["rate_limit_rejections"]},
        "encryption": {},
    }
    ratelimit = sys.modules.get("tigerseal.ratelimit")
    limiter = ratelimit._LIMITER.peek() if ratelimit is not None else None
    if limiter is not None:
        result["rate_limiting"].update(
            {
                "storage": repr(limiter.storage),
                "algorithm": limiter.algorithm,
                "default_limit_per_hour": limiter.default_policy.limit,
            }
        )
    # Report the default encryption service only if something already built it: metrics must
    # not create keys or call a KMS.
    envelope = sys.modules.get("tigerseal.envelope._default")
    service = envelope._SERVICE.peek() if envelope is not None else None
    if service is not None:
        result["encryption"] = service.metrics
    return result
