"""Built-in plugin: the ``file://`` (hash-chained JSONL) and ``logging://`` audit sinks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tigerseal.hookspecs import hookimpl
from tigerseal.spi.specs import AuditSinkSpec

if TYPE_CHECKING:
    from tigerseal.keyuse import KeyUse, KeyUseScan


@hookimpl
def register_audit_sinks() -> list[AuditSinkSpec]:
    """Register the built-in sinks."""
    return [
        AuditSinkSpec(
            name="file",
            factory="tigerseal.audit._filesink:from_uri",
            description="keyed hash chain in a JSONL file (tamper-evident)",
        ),
        AuditSinkSpec(
            name="logging",
            factory="tigerseal.audit._logsink:from_uri",
            description="stdlib logging, one JSON message per event",
        ),
    ]


@hookimpl
def report_key_uses(scan: KeyUseScan) -> list[KeyUse]:
    """The provider key versions the MAC keys of the ``file://`` audit sinks in ``scan`` use."""
    from tigerseal.audit.keystore import file_key_uses, file_target_path

    uses: list[KeyUse] = []
    for uri in scan.audit_sinks:
        if not uri.startswith("file:"):
            continue
        path = file_target_path(uri.split("?", 1)[0])
        if path is not None and "{pid}" not in path:
            uses += file_key_uses(path, uri)
        elif path is not None:
            # One file per process: every file the template matches.
            from pathlib import Path

            template = Path(path)
            for match in sorted(template.parent.glob(template.name.replace("{pid}", "*"))):
                if match.suffix not in (".head", ".keys", ".tmp"):
                    uses += file_key_uses(match, f"file://{match}")
    return uses
