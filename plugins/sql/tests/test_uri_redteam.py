"""A database password given as a query parameter (libpq's ?password=) never shows."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine
from tigerseal.errors import ConfigError
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


@pytest.mark.parametrize(
    "uri", ["postgresql://u:topsecret@host:notaport/db", "postgresql://u:topsecret@[::1/db"]
)
def test_a_url_with_a_bad_port_is_a_config_error(uri: str) -> None:
    # SQLAlchemy's make_url raised a bare ValueError (int() of the port).
    with pytest.raises(ConfigError) as caught:
        audit_sink_from_uri(uri)
    assert "topsecret" not in str(caught.value)
