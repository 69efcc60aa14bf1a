"""Events tigerseal records about its own operations (key rotations, rewraps).

Each is emitted from the one place the operation happens, through these functions. The
operation already succeeded (or failed for its own reason) when they run, so a trail that
cannot be written is logged (and counted in ``audit_write_failures``), never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

__all__ = ["audit_key_rotated", "audit_quietly", "audit_rewrap"]

log = logging.getLogger("tigerseal.audit")


def audit_quietly(event_type: str, risk_level: str = "low", **fields: Any) -> None:
    """Record an event; a failing audit trail is logged instead of raised."""
    try:
        from tigerseal.audit import audit_security_event

        audit_security_event(event_type, risk_level=risk_level, **fields)
    except Exception:
        log.warning("could not audit %s", event_type, exc_info=True)


def audit_key_rotated(provider: str, previous: int, version: int) -> None:
    """``crypto_key_rotated``: a provider's key got a new current version."""
    audit_quietly(
        "crypto_key_rotated",
        "medium",
        details={"provider": provider, "previous_version": previous, "version": version},
    )


def audit_rewrap(rewrapped: int, versions: Iterable[tuple[str, int]]) -> None:
    """``crypto_rewrap``: ``rewrapped`` wrapped data keys moved to the newest versions."""
    audit_quietly(
        "crypto_rewrap",
        "low",
        details={"rewrapped": rewrapped, "versions": dict(versions)},
    )
