"""One rule, one function: URI redaction and private-file writes have one implementation each."""

from __future__ import annotations

import pytest
from tigerseal import _redact
from tigerseal.config import redact_url

SECRET_URIS = [
    (
        "postgresql://app:pw@db/tiger?sslpassword=hunter2",
        "postgresql://app:***@db/tiger?sslpassword=***",
    ),
    ("redis://:pw@h:6379/0?password=x&db=1", "redis://:***@h:6379/0?password=***&db=1"),
    ("vault://transit/k?token=abc&namespace=ns", "vault://transit/k?token=***&namespace=ns"),
]


@pytest.mark.parametrize(("uri", "shown"), SECRET_URIS)
def test_every_uri_redaction_is_the_one_rule(uri: str, shown: str) -> None:
    from tigerseal.cli._admin import redact_uri as doctor_redact
    from tigerseal.spi.options import redact_uri as spi_redact
    from tigerseal_redis._options import redact as redis_redact

    assert _redact.redact_uri(uri) == shown
    assert doctor_redact is _redact.redact_uri
    assert spi_redact(uri) == shown  # delegates, importing _redact on first use
    # The database URL once hid only the password: ?sslpassword= showed in logs and doctor.
    assert redact_url(uri) == shown
    assert redis_redact(uri) == shown
