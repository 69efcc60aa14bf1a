"""Engines from database URLs given on the command line or in ``DATABASE_URL``."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from tigerseal._text import escape_control
from tigerseal.errors import ConfigError

__all__ = ["display_url", "engine_from_url"]


def display_url(engine: Engine) -> str:
    """The engine's URL for messages and reprs: no password, in the userinfo or the query.

    SQLAlchemy's ``hide_password`` masks only ``user:password@``; libpq also reads
    ``?password=`` (and ``sslpassword=``), which :func:`tigerseal._redact.redact_uri` hides.
    """
    from tigerseal._redact import redact_uri

    return redact_uri(engine.url.render_as_string(hide_password=False))


def engine_from_url(url: str, *, must_exist: bool = False, **options: Any) -> Engine:
    """An engine for ``url``; a bare ``postgresql://`` URL uses psycopg 3, not psycopg2.

    tigerseal-sql installs psycopg 3; SQLAlchemy's default PostgreSQL driver is psycopg2, so the
    seed's ``DATABASE_URL=postgresql://...`` would otherwise fail to import a driver. An
    explicit driver (``postgresql+psycopg2://``) is kept.

    Args:
        url: the database URL.
        must_exist: refuse a SQLite file that does not exist instead of creating it empty
            (checks and rewraps: a mistyped path must not read as "nothing stored here").
        options: passed to :func:`sqlalchemy.create_engine`.

    Raises:
        ConfigError: the URL is not a database URL or its driver is not installed (the message
            never quotes the URL, which may hold a password), or ``must_exist`` and the SQLite
            file does not exist.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ConfigError("not a database URL; expected e.g. postgresql://user@host/db") from None
    if (
        parsed.get_backend_name() == "postgresql"
        and "+" not in url.split(":", 1)[0]
        and parsed.get_driver_name() == "psycopg2"
    ):
        parsed = parsed.set(drivername="postgresql+psycopg")
    database = parsed.database or ""
    if (
        must_exist
        and parsed.get_backend_name() == "sqlite"
        and database not in ("", ":memory:")
        and not database.startswith("file:")  # URI filenames (mode=memory, ...): the driver's
        and not os.path.exists(database)
    ):
        raise ConfigError(
            f"SQLite database {escape_control(database, limit=300)} does not exist, so nothing "
            "in it can be checked or rewrapped; check the path in the URL"
        )
    try:
        return create_engine(parsed, **options)
    except NoSuchModuleError:
        raise ConfigError(
            f"no SQLAlchemy dialect for {parsed.drivername}://; expected e.g. "
            "postgresql://user@host/db or sqlite:///path"
        ) from None
    except ImportError as exc:
        raise ConfigError(
            f"the driver of {parsed.drivername}:// is not installed ({exc.name}); install it "
            "or name another driver in the URL"
        ) from None
