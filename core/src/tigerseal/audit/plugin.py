"""Built-in plugin: audit sinks."""

from __future__ import annotations

from tigerseal.hookspecs import hookimpl
from tigerseal.spi.specs import AuditSinkSpec


@hookimpl
def register_audit_sinks() -> list[AuditSinkSpec]:
    return []
