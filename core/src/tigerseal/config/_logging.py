"""Logging with secrets redacted: text or one JSON object per line (:func:`configure_logging`)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from tigerseal.errors import ConfigError

if TYPE_CHECKING:
    from tigerseal.config._settings import Settings

__all__ = [
    "JsonFormatter",
    "RedactingFormatter",
    "configure_logging",
    "redact_text",
    "redact_value",
]


_STD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


def _log_marker(kind: str, secret: str) -> str:
    # Logs are for people: a marker that says what was there (the audit trail hashes instead).
    if kind == "jwt":
        return "[REDACTED-JWT]"
    if kind == "url_password":
        return "***"
    if kind == "prefixed" and "_" in secret:
        return secret.split("_", 1)[0] + "_[REDACTED]"
    return "[REDACTED]"


def redact_text(text: str) -> str:
    """Replace secret-shaped parts of free text (the rules of :mod:`tigerseal._redact`)."""
    from tigerseal._redact import scrub

    return scrub(text, _log_marker)


def redact_value(key: str, value: Any, _depth: int = 0) -> Any:
    """Redact a structured field: by name (``password``, ``pw``, ``token``...) or by shape.

    Keys are redacted by shape too (a map of token -> user); bytes become ``[bytes N]``,
    other objects their redacted text, and nesting stops at 8 levels.
    """
    from tigerseal._redact import KEEP, name_rule

    if name_rule(key) != KEEP:
        return "[REDACTED]"
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return f"[bytes {len(value)}]"
    if _depth >= 8:
        return "[nested too deep]"
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            name = redact_text(str(k))
            out[name] = redact_value(name, v, _depth + 1)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(key, v, _depth + 1) for v in value]
    return redact_text(str(value))


class RedactingFormatter(logging.Formatter):
    """A text formatter that redacts token-, key- and password-shaped substrings."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, and extra fields.

    Fields passed with ``extra=`` are included; those whose names look secret (``password``,
    ``token``, ``api_key``...) are replaced by ``[REDACTED]``, and token- or key-shaped text is
    redacted everywhere.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                entry[key] = redact_value(key, value)
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


_HANDLER_MARK = "_tigerseal_handler"


def configure_logging(
    level: str | int | None = None,
    *,
    json_format: bool | None = None,
    stream: IO[str] | None = None,
    logger: str | None = None,
    root: bool = False,
    settings: Settings | None = None,
) -> logging.Handler:
    """Configure tigerseal's logging: text or structured JSON lines, with secrets redacted.

    By default the handler goes on the ``tigerseal`` logger only: the host application's root
    logger, its handlers and its level are left alone (tigerseal's records still propagate to
    them as usual). ``root=True`` installs the handler on the root logger instead, for a
    script or service that wants every record formatted and redacted this way. Calling it
    again replaces the handler it installed before on that logger (never stacks handlers).

    Args:
        level: level name or number; default ``TIGERSEAL_LOG_LEVEL`` (INFO).
        json_format: one JSON object per line; default ``TIGERSEAL_LOG_FORMAT == "json"``.
        stream: where to write; default ``sys.stderr``.
        logger: the logger to configure (a name); default ``"tigerseal"``.
        root: configure the root logger (takes precedence over ``logger``).
        settings: the settings to read the defaults from; default the process-wide ones.

    Returns:
        The installed handler.
    """
    if settings is None:
        from tigerseal.config._settings import get_settings

        try:
            settings = get_settings()
        except ConfigError:
            settings = None  # logging must come up even when the rest of the config is broken
    if level is None:
        level = settings.log_level if settings else "INFO"
    if json_format is None:
        json_format = bool(settings and settings.log_format == "json")
    target = logging.getLogger() if root else logging.getLogger(logger or "tigerseal")
    for old in [h for h in target.handlers if getattr(h, _HANDLER_MARK, False)]:
        target.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    target.addHandler(handler)
    target.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
