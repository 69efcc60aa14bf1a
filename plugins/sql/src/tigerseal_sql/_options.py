"""Options of the SQL audit sink, parsed by :mod:`tigerseal.spi.options`.

The database URL is SQLAlchemy's (``postgresql[+driver]://user:pw@host/db`` or
``sqlite:///path``; its own query parameters go to the driver, repeated ones included, e.g.
psycopg's multi-host ``?host=a&host=b``). tigerseal's options in that query, or as keywords,
follow the one rule of :mod:`tigerseal.spi.options`: typed, each given once, and an option
given in the URI and in code must have the same value there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tigerseal.errors import ConfigError, OptionError
from tigerseal.spi.options import build_options, option, option_names

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = ["PLUGIN", "SqlAuditOptions", "split_audit_url"]

PLUGIN = "sql audit sink"


@dataclass(frozen=True, slots=True)
class SqlAuditOptions:
    """tigerseal's options of the SQL audit sink (query of the database URL, or keywords)."""

    table: str | None = option(None, help="table name prefix (default tigerseal_audit)")
    durability: str | None = option(None, help="commit or batch")
    batch_size: int | None = option(None, help="records per batch (durability=batch)")
    checkpoint_every: int | None = option(None, help="records between signed checkpoints")
    checkpoint_interval: float | None = option(None, help="seconds between checkpoints")
    keys: Any = option(None, uri=False, help="AuditKeys (keyword only)")
    engine_options: Any = option(None, uri=False, help="create_engine keywords (keyword only)")


def split_audit_url(uri: str, options: dict[str, Any]) -> tuple[URL, SqlAuditOptions]:
    """The database URL without tigerseal's options, and those options, typed.

    Raises:
        ConfigError: not a database URL, an unsupported backend, or a bad option.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(uri)
    except ArgumentError as exc:
        raise ConfigError(f"not a database URL: {exc}") from None
    except ValueError:  # make_url's int() of the port; the URL (and password) is not quoted
        raise ConfigError(
            "the database URL's port is not a number (or its [IPv6] host is not closed); "
            "expected e.g. postgresql://user@host:5432/db"
        ) from None
    base = url.get_backend_name()
    if base not in ("postgresql", "sqlite"):
        raise ConfigError(
            f"the SQL audit sink takes postgresql://... or sqlite:///path URIs, got {base!r}"
        )
    own_names = set(option_names(SqlAuditOptions))
    pairs: list[tuple[str, str]] = []
    for name, value in url.query.items():
        if name not in own_names:
            # Only to refuse near-misses of ours (typos); the driver's parameters stay.
            build_options(SqlAuditOptions, plugin=PLUGIN, uri=[(name, "")], passthrough=[])
            continue
        if not isinstance(value, str):  # SQLAlchemy folds a repeated parameter into a tuple
            raise OptionError(
                f"{PLUGIN}: option {name!r} is given twice in the URI; keep one",
                plugin=PLUGIN,
                option=name,
            )
        pairs.append((name, value))
    url = url.difference_update_query([name for name, _ in pairs])
    return url, build_options(SqlAuditOptions, plugin=PLUGIN, uri=pairs, code=options)
