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
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from tigerseal._text import escape_control
from tigerseal.errors import ConfigError
from tigerseal.spi.options import build_options, given_options, option, parse_uri
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
        logger: logger name (default ``tigerseal.audit._events``) or a ``logging.Logger``.
        level: a fixed level for every record, instead of one derived from the risk level.
    """

    def __init__(
        self, logger: str | logging.Logger = "tigerseal.audit._events", *, level: int | None = None
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


def _level(name: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    level = logging.getLevelName(str(value).upper())
    if not isinstance(level, int):
        raise ConfigError(
            f"unknown log level {escape_control(str(value), limit=20)!r} for {name}; use DEBUG, "
            "INFO, WARNING, ERROR or CRITICAL"
        )
    return level


@dataclass(frozen=True, slots=True)
class LogSinkOptions:
    """Options of the ``logging`` audit sink (see :mod:`tigerseal.spi.options`)."""

    level: int | None = option(None, parse=_level, help="DEBUG, INFO, WARNING, ERROR, CRITICAL")
    logger: Any = option(None, uri=False, help="logger name or object (the URI's host)")


def from_uri(uri: str, **options: Any) -> LoggingAuditSink:
    """Factory of the ``logging`` spec: ``logging://`` or ``logging://name?level=WARNING``."""
    plugin = "logging audit sink"
    parsed = parse_uri(uri, plugin=plugin, schemes=("logging",), example="logging://app.audit")
    if parsed.path not in ("", "/"):
        raise ConfigError(
            f"expected logging://[logger.name][?level=INFO], got {parsed.redacted()!r}"
        )
    opts = build_options(LogSinkOptions, plugin=plugin, uri=parsed.query, code=options)
    kwargs = given_options(opts)
    if parsed.authority and "logger" not in kwargs:
        kwargs["logger"] = unquote(parsed.authority)
    elif parsed.authority and kwargs["logger"] != unquote(parsed.authority):
        raise ConfigError(
            "logging audit sink: the logger is named both in the URI and in code (logger=) "
            "with different names; give it in one place"
        )
    return LoggingAuditSink(**kwargs)
