"""Redis URIs redis-py cannot read fail as ConfigError naming the server, not ValueError."""

from __future__ import annotations

import pytest
from tigerseal.errors import ConfigError
from tigerseal_redis._options import build_async_client, build_client, parse_uri


@pytest.mark.parametrize(
    "uri",
    [
        "redis://u:s3cretpw@127.0.0.1:xx/0",
        "redis://u:s3cretpw@127.0.0.1:6379/0?socket_timeout=soon",
        "redis://u:s3cretpw@[::1/0",
    ],
)
def test_a_url_redis_py_refuses_is_a_config_error(uri: str) -> None:
    opts = parse_uri(uri, default_on_outage="local")
    for build in (build_client, build_async_client):
        with pytest.raises(ConfigError) as caught:
            build(opts)
        assert "s3cretpw" not in str(caught.value)
        assert "127.0.0.1" in str(caught.value) or "::1" in str(caught.value)
