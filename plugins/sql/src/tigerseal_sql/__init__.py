"""SQL plugin for tigerseal: encrypted columns, blind index, bulk rewrap and a SQL audit sink.

* :class:`EncryptedString`, :class:`EncryptedBytes`, :class:`EncryptedJSON`: SQLAlchemy 2
  column types storing tigerseal envelopes bound to their table, column and primary key;
* :class:`BlindIndex`: keyed HMAC columns for equality search on encrypted values;
* :func:`rewrap_table` / :func:`key_version_report`: move a table to the newest key versions
  after a rotation, resumably; ``tigerseal-sql rewrap`` on the command line;
* :func:`install`: registers the ORM events that encrypt on flush and decrypt on load (the
  ``Encrypted*`` types call it when constructed; importing registers nothing);
* the ``postgresql://`` and ``sqlite://`` audit sinks (:class:`SQLAuditSink`): one hash chain
  shared by every process.

Importing this module imports nothing heavy; SQLAlchemy loads with the first name used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tigerseal._lazy import lazy_exports
from tigerseal.hookspecs import hookimpl
from tigerseal.spi.specs import AuditSinkSpec, CommandSpec

if TYPE_CHECKING:
    from tigerseal.keyuse import KeyUse, KeyUseScan

    from tigerseal_sql.audit import SQLAuditSink
    from tigerseal_sql.blind_index import BlindIndex
    from tigerseal_sql.orm import install
    from tigerseal_sql.rewrap import RewrapReport, VersionReport, key_version_report, rewrap_table
    from tigerseal_sql.types import (
        EncryptedBytes,
        EncryptedJSON,
        EncryptedString,
        EncryptedType,
        Sealed,
        decrypt_value,
        seal,
    )

__all__ = [
    "BlindIndex",
    "EncryptedBytes",
    "EncryptedJSON",
    "EncryptedString",
    "EncryptedType",
    "RewrapReport",
    "SQLAuditSink",
    "Sealed",
    "VersionReport",
    "decrypt_value",
    "install",
    "key_version_report",
    "register_audit_sinks",
    "register_commands",
    "report_key_uses",
    "rewrap_table",
    "seal",
]

_LAZY = {
    "SQLAuditSink": "tigerseal_sql.audit",
    "BlindIndex": "tigerseal_sql.blind_index",
    "install": "tigerseal_sql.orm",
    "RewrapReport": "tigerseal_sql.rewrap",
    "VersionReport": "tigerseal_sql.rewrap",
    "key_version_report": "tigerseal_sql.rewrap",
    "rewrap_table": "tigerseal_sql.rewrap",
    "EncryptedBytes": "tigerseal_sql.types",
    "EncryptedJSON": "tigerseal_sql.types",
    "EncryptedString": "tigerseal_sql.types",
    "EncryptedType": "tigerseal_sql.types",
    "Sealed": "tigerseal_sql.types",
    "decrypt_value": "tigerseal_sql.types",
    "seal": "tigerseal_sql.types",
}


@hookimpl
def register_audit_sinks() -> list[AuditSinkSpec]:
    """Register the ``postgresql`` and ``sqlite`` audit sinks."""
    factory = "tigerseal_sql.audit:from_uri"
    return [
        AuditSinkSpec(
            name="postgresql",
            factory=factory,
            description="PostgreSQL table, one hash chain shared by all processes",
            aliases=("postgresql+psycopg",),
        ),
        AuditSinkSpec(
            name="sqlite",
            factory=factory,
            description="SQLite table, one hash chain shared by all processes",
        ),
    ]


@hookimpl
def register_commands() -> list[CommandSpec]:
    """Register ``tigerseal sql`` (the same commands as the ``tigerseal-sql`` script)."""
    return [
        CommandSpec(
            name="sql",
            factory="tigerseal_sql.cli:main",
            description="Maintain tables whose columns hold tigerseal envelopes.",
        )
    ]


@hookimpl
def report_key_uses(scan: KeyUseScan) -> list[KeyUse]:
    """The wrapped keys stored in ``scan.database_urls`` and the SQL audit sinks.

    Blind-index root keys, the envelopes of the encrypted columns in ``scan.sql_columns``, and
    the MAC keys of the SQL audit sinks in ``scan.audit_sinks``.
    """
    from tigerseal.errors import ConfigError

    from tigerseal_sql.audit import audit_key_uses
    from tigerseal_sql.blind_index import blind_index_key_uses
    from tigerseal_sql.rewrap import column_key_uses

    by_table: dict[str, list[str]] = {}
    for name in scan.sql_columns:
        table, _, column = name.rpartition(".")
        if not table or not column:
            raise ConfigError(f"{name!r} is not table.column; name encrypted columns so")
        by_table.setdefault(table, []).append(column)
    found: list[KeyUse] = []
    for url in scan.database_urls:
        found += blind_index_key_uses(url)
        for table, columns in by_table.items():
            found += column_key_uses(url, table, columns)
    for uri in scan.audit_sinks:  # the SQL audit sinks' MAC keys (keys table)
        if uri.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "sqlite"):
            found += audit_key_uses(uri)
    return found


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
