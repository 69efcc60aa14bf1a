"""A database password given as a query parameter (libpq's ?password=) never shows."""

from __future__ import annotations

from sqlalchemy import create_engine
from tigerseal.plugins import audit_sink_from_uri


def test_a_query_password_never_shows_in_the_sink_repr() -> None:
    sink = audit_sink_from_uri(
        "postgresql+psycopg://app@127.0.0.1:1/tiger?password=s3cretpw&sslpassword=k3ypw"
    )
    try:
        assert "s3cretpw" not in repr(sink)
        assert "k3ypw" not in repr(sink)
        assert "127.0.0.1" in repr(sink)
    finally:
        sink.close()


def test_display_hides_query_passwords() -> None:
    from tigerseal_sql.audit import _display

    engine = create_engine("postgresql+psycopg://app:pw1secret@db/tiger?password=pw2secret")
    try:
        shown = _display(engine)
        assert "pw1secret" not in shown
        assert "pw2secret" not in shown
    finally:
        engine.dispose()
