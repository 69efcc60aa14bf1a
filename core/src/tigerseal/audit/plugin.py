"""Built-in plugin: the ``file://`` (hash-chained JSONL) and ``logging://`` audit sinks."""

from __future__ import annotations

from tigerseal.hookspecs import hookimpl
from tigerseal.spi.specs import AuditSinkSpec


@hookimpl
def register_audit_sinks() -> list[AuditSinkSpec]:
    """Register the built-in sinks."""
    return [
        AuditSinkSpec(
            name="file",
            factory="tigerseal.audit.filesink:from_uri",
            description="hash-chained JSONL file with HMAC checkpoints (tamper-evident)",
        ),
        AuditSinkSpec(
            name="logging",
            factory="tigerseal.audit.logsink:from_uri",
            description="stdlib logging, one JSON message per event",
        ),
    ]
