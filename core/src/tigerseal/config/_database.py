"""Database settings from ``DATABASE_URL``: :class:`DatabaseConfig`, :class:`ConnectionString`.

The password never shows in ``repr``, ``str`` or logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from pydantic import SecretStr

from tigerseal.config._constants import SSL_MODES, url_problem
from tigerseal.errors import ConfigError

if TYPE_CHECKING:
    from tigerseal.config._settings import Settings

__all__ = ["ConnectionString", "DatabaseConfig", "get_database_config", "redact_url"]


class ConnectionString(str):
    """A database URL that redacts its password whenever it is shown.

    The string value is the real URL, so drivers that take a ``str`` (psycopg, SQLAlchemy's
    ``create_engine``, asyncpg) connect with it; ``str()``, ``repr()``, f-strings and ``%s``
    logging show ``user:***@host`` instead. Call :meth:`reveal` when a library insists on
    calling ``str()`` on its argument.
    """

    __slots__ = ()

    def reveal(self) -> str:
        """The full URL, password included, as a plain ``str``."""
        return str.__str__(self)

    @property
    def redacted(self) -> str:
        """The URL with the password replaced by ``***``."""
        return redact_url(str.__str__(self))

    def __str__(self) -> str:
        return self.redacted

    def __repr__(self) -> str:
        return f"ConnectionString({self.redacted!r})"

    def __format__(self, spec: str) -> str:
        return format(self.redacted, spec)


def redact_url(url: str) -> str:
    """The URL with its password and secret-named query values replaced by ``***``.

    The one URI redaction of :func:`tigerseal._redact.redact_uri` (``?sslpassword=`` is hidden
    too).
    """
    from tigerseal._redact import redact_uri

    return redact_uri(url)


@dataclass(frozen=True, repr=False)
class DatabaseConfig:
    """Database connection settings from ``DATABASE_URL`` (the password never shows).

    Attributes:
        scheme: URL scheme (``postgresql``, ``postgresql+psycopg``, ``sqlite``, ...).
        host: host name (``None`` for SQLite or a Unix socket given in the query).
        port: port, or ``None`` for the driver's default.
        database: database name (or SQLite path).
        username: user name, if any.
        password: the password as a ``SecretStr``.
        ssl_mode: libpq ``sslmode`` (``None`` for SQLite).
        pool_size: connection pool size.
        query: other query parameters.
    """

    scheme: str
    host: str | None
    port: int | None
    database: str
    username: str | None
    password: SecretStr | None = field(compare=False)
    ssl_mode: str | None
    pool_size: int = 5
    query: Mapping[str, str] = field(default_factory=dict)
    _url: str = field(default="", compare=False)

    @classmethod
    def from_url(
        cls, url: str, *, ssl_mode: str | None = None, pool_size: int = 5, production: bool = False
    ) -> DatabaseConfig:
        """Parse a database URL.

        Args:
            url: the URL (validated as ``DATABASE_URL`` is).
            ssl_mode: ``sslmode`` used when the URL has none.
            pool_size: connection pool size.
            production: default ``sslmode`` to ``require`` instead of ``prefer``.

        Raises:
            ConfigError: the URL is malformed (the message does not quote it).
        """
        problem = url_problem(url)
        if problem:
            raise ConfigError(f"DATABASE_URL is not a database URL ({problem})")
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        is_sqlite = parts.scheme.startswith("sqlite")
        mode: str | None = None
        if not is_sqlite:
            mode = query.get("sslmode") or ssl_mode or ("require" if production else "prefer")
            if mode not in SSL_MODES:
                raise ConfigError(f"DATABASE_SSL_MODE must be one of {', '.join(SSL_MODES)}")
            if parts.scheme.startswith("postgres") and "sslmode" not in query:
                query["sslmode"] = mode
                # Rebuild by hand: urlunsplit turns "postgresql:///db" into "postgresql:/db".
                url = url.partition("#")[0].partition("?")[0] + "?" + urlencode(query)
        password = parts.password
        return cls(
            scheme=parts.scheme,
            host=parts.hostname,
            port=parts.port,
            database=unquote(parts.path.lstrip("/")) if not is_sqlite else parts.path,
            username=unquote(parts.username) if parts.username else None,
            password=SecretStr(unquote(password)) if password is not None else None,
            ssl_mode=mode,
            pool_size=pool_size,
            query=dict(query),
            _url=url,
        )

    @property
    def connection_string(self) -> ConnectionString:
        """The URL to connect with (``sslmode`` added for PostgreSQL); shows redacted."""
        return ConnectionString(self._url)

    @property
    def redacted_url(self) -> str:
        """The URL with the password replaced by ``***`` (for logs and UIs)."""
        return redact_url(self._url)

    def with_password(self, password: str) -> DatabaseConfig:
        """A copy with another password (e.g. fetched from a secrets manager)."""
        parts = urlsplit(self._url)
        user = quote(self.username or "", safe="")
        host = parts.netloc.rpartition("@")[2]
        start = len(parts.scheme) + 3
        url = (
            self._url[:start]
            + f"{user}:{quote(password, safe='')}@{host}"
            + self._url[start + len(parts.netloc) :]
        )
        return DatabaseConfig.from_url(url, ssl_mode=self.ssl_mode, pool_size=self.pool_size)

    def __repr__(self) -> str:
        return (
            f"DatabaseConfig(url={self.redacted_url!r}, ssl_mode={self.ssl_mode!r}, "
            f"pool_size={self.pool_size})"
        )

    __str__ = __repr__


def get_database_config(settings: Settings | None = None) -> DatabaseConfig:
    """The database configuration from ``TIGERSEAL_DATABASE_URL`` and friends.

    Each falls back to the seed's name (``DATABASE_URL``, ``DATABASE_SSL_MODE``,
    ``DATABASE_POOL_SIZE``) when the ``TIGERSEAL_`` one is unset.

    Args:
        settings: the settings to read; default the process-wide ones.

    Raises:
        ConfigError: no database URL is set, or it is malformed.
    """
    if settings is None:
        from tigerseal.config._settings import get_settings

        settings = get_settings()
    settings.require("database_url", "database_ssl_mode", "database_pool_size")
    if settings.database_url is None:
        raise ConfigError(
            "DATABASE_URL is not set; set TIGERSEAL_DATABASE_URL (or the seed's DATABASE_URL) in "
            "the environment, e.g. "
            "TIGERSEAL_DATABASE_URL=postgresql://USER:PASSWORD@localhost:5432/tiger_mcp"
        )
    return DatabaseConfig.from_url(
        settings.database_url.get_secret_value(),
        ssl_mode=settings.database_ssl_mode,
        pool_size=settings.database_pool_size,
        production=settings.is_production,
    )
