"""DatabaseConfig: the connection string works for drivers; the password never shows."""

from __future__ import annotations

import io
import logging

import pytest
from tigerseal import get_database_config
from tigerseal.config import ConnectionString, DatabaseConfig
from tigerseal.errors import ConfigError

URL = "postgresql://tiger:s3cr%40t-pw@db.internal:5432/tiger_mcp"


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> DatabaseConfig:
    monkeypatch.setenv("DATABASE_URL", URL)
    return get_database_config()


def test_fields(db: DatabaseConfig) -> None:
    assert (db.scheme, db.host, db.port, db.database, db.username) == (
        "postgresql",
        "db.internal",
        5432,
        "tiger_mcp",
        "tiger",
    )
    assert db.password is not None
    assert db.password.get_secret_value() == "s3cr@t-pw"
    assert db.ssl_mode == "prefer"


def test_password_is_redacted_in_every_rendering(db: DatabaseConfig) -> None:
    cs = db.connection_string
    renderings = [
        repr(db),
        str(db),
        f"{db}",
        str(cs),
        repr(cs),
        f"{cs}",
        "%s" % cs,  # noqa: UP031 - %-formatting is what logging does
        db.redacted_url,
    ]
    for text in renderings:
        assert "s3cr" not in text
    assert f"{cs}" == "postgresql://tiger:***@db.internal:5432/tiger_mcp?sslmode=prefer"


def test_seed_example_prints_the_redacted_url(
    db: DatabaseConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    connection_string = db.connection_string
    print(f"Database: {connection_string}")
    assert capsys.readouterr().out == (
        "Database: postgresql://tiger:***@db.internal:5432/tiger_mcp?sslmode=prefer\n"
    )


def test_logging_shows_the_redacted_url(db: DatabaseConfig) -> None:
    stream = io.StringIO()
    logger = logging.getLogger("test.db.redaction")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        logger.warning("connecting to %s (%r)", db.connection_string, db)
    finally:
        logger.removeHandler(handler)
    assert "s3cr" not in stream.getvalue()
    assert "***" in stream.getvalue()


def test_drivers_receive_the_real_url(db: DatabaseConfig) -> None:
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy.engine import make_url

    cs = db.connection_string
    assert isinstance(cs, str)
    assert isinstance(cs, ConnectionString)
    assert conninfo_to_dict(cs)["password"] == "s3cr@t-pw"
    assert make_url(cs).password == "s3cr@t-pw"
    assert "s3cr%40t-pw" in cs.reveal()
    assert type(cs.reveal()) is str


def test_url_sslmode_wins_over_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", URL + "?sslmode=verify-full")
    monkeypatch.setenv("DATABASE_SSL_MODE", "disable")
    assert get_database_config().ssl_mode == "verify-full"


def test_ssl_mode_setting_is_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", URL)
    monkeypatch.setenv("DATABASE_SSL_MODE", "verify-ca")
    db = get_database_config()
    assert db.ssl_mode == "verify-ca"
    assert "sslmode=verify-ca" in db.connection_string.reveal()


def test_production_defaults_to_require(monkeypatch: pytest.MonkeyPatch) -> None:
    import secrets

    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", secrets.token_hex(32))
    monkeypatch.setenv("JWT_SECRET", "Z" + secrets.token_urlsafe(40))
    monkeypatch.setenv("DATABASE_URL", URL)
    assert get_database_config().ssl_mode == "require"


def test_sqlite_has_no_ssl_mode() -> None:
    db = DatabaseConfig.from_url("sqlite:///var/lib/app.db")
    assert db.ssl_mode is None
    assert db.password is None
    assert db.connection_string.reveal() == "sqlite:///var/lib/app.db"


def test_unix_socket_url() -> None:
    db = DatabaseConfig.from_url("postgresql:///tiger?host=/var/run/postgresql")
    assert db.host is None
    assert db.query["host"] == "/var/run/postgresql"


def test_missing_url_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        get_database_config()


def test_malformed_url_is_refused_without_quoting_it() -> None:
    with pytest.raises(ConfigError) as info:
        DatabaseConfig.from_url("postgresql://u:topsecret@host:notaport/db")
    assert "topsecret" not in str(info.value)


def test_with_password_replaces_only_the_password(db: DatabaseConfig) -> None:
    other = db.with_password("n3w/p@ss")
    assert other.password is not None
    assert other.password.get_secret_value() == "n3w/p@ss"
    assert (other.host, other.database, other.ssl_mode) == (db.host, db.database, db.ssl_mode)
