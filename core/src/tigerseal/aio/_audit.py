"""Audit events from ``async def`` code, written off the event loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tigerseal.aio._pools import run_io_to_completion

__all__ = ["audit_security_event"]


async def audit_security_event(
    event_type: str,
    user_id: Any = None,
    api_key_id: Any = None,
    details: Mapping[str, Any] | None = None,
    risk_level: str = "low",
    source_ip: Any = None,
    **fields: Any,
) -> dict[str, Any]:
    """Record a security event (see :func:`tigerseal.audit_security_event`) in the I/O pool.

    The file sink may ``fsync`` and a network sink may block: neither runs on the event loop.
    Awaiting returns once the record is written, so a failure surfaces here as
    :class:`~tigerseal.AuditError`, as in the synchronous call. Cancelling the caller does not
    cancel the write (a client disconnecting after a failed login cannot suppress its record).
    """
    from tigerseal.audit import audit_security_event as emit

    def call() -> dict[str, Any]:
        return emit(
            event_type,
            user_id,
            api_key_id,
            details,
            risk_level,
            source_ip,
            **fields,
        )

    return await run_io_to_completion(call)
