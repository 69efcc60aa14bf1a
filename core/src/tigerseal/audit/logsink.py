"""Audit sink writing to stdlib ``logging`` (``logging://[logger.name][?level=INFO]``).

Each record is one log call whose message is the record as compact JSON and whose
``extra={"audit": record}`` lets structured handlers (JSON formatters, OpenTelemetry) take the
fields directly. Without ``level``, the level follows the risk: low -> INFO, medium -> WARNING,
high -> ERROR, critical -> CRITICAL. Ship these logs off the host to anchor the trail outside
the machine that writes it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tigerseal.errors import ConfigError
from tigerseal.spi.services import AuditSink

__all__ = ["LoggingAuditSink", "from_uri"]

_BY_RISK = {
    "low": logging.INFO,
    "medium": logging.WARNING,
    "high": logging.ERROR,
    "critical": logging.CRITICAL,
}
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str, check_circular=False)


class LoggingAuditSink(AuditSink):
    """Send audit records to a logger.

    Args:
        logger: logger name (default ``tigerseal.audit.events``) or a ``logging.Logger``.
        level: a fixed level for every record, instead of one derived from the risk level.
    """

    def __init__(
        self, logger: str | logging.Logger = "tigerseal.audit.events", *, level: int | None = None
    ) -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.level = level

    def write(self, record: Mapping[str, Any]) -> None:
        level = self.level
        if level is None:
            level = _BY_RISK.get(str(record.get("risk_level")), logging.INFO)
        if self.logger.isEnabledFor(level):
            self.logger.log(level, "%s", _ENCODER.encode(record), extra={"audit": dict(record)})

    def __repr__(self) -> str:
        return f"<LoggingAuditSink {self.logger.name}>"


def from_uri(uri: str, **options: Any) -> LoggingAuditSink:
    """Factory of the ``logging`` spec: ``logging://`` or ``logging://name?level=WARNING``."""
    parts = urlsplit(uri)
    if parts.scheme != "logging" or parts.path not in ("", "/"):
        raise ConfigError(f"expected logging://[logger.name][?level=INFO], got {uri!r}")
    kwargs: dict[str, Any] = {}
    if parts.netloc:
        kwargs["logger"] = parts.netloc
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name != "level":
            raise ConfigError(f"unknown option {name!r} in {uri!r}; known: level")
        level = logging.getLevelName(value.upper())
        if not isinstance(level, int):
            raise ConfigError(
                f"unknown log level {value!r} in {uri!r}; use DEBUG, INFO, WARNING, ERROR or "
                "CRITICAL"
            )
        kwargs["level"] = level
    kwargs.update(options)
    return LoggingAuditSink(**kwargs)
