"""Redis URIs redis-py cannot read fail as ConfigError naming the server, not ValueError."""

from __future__ import annotations

import pytest
from tigerseal.errors import ConfigError, OptionError
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


@pytest.mark.parametrize(
    ("uri", "meant"),
    [
        ("redis://h/0?ON_OUTAGE=fail_open", "on_outage"),
        ("redis://h/0?Cluster=1", "cluster"),
        ("redis://h/0?key-prefix=app:", "key_prefix"),
    ],
)
def test_a_tigerseal_option_in_another_case_is_not_passed_to_redis_py(uri: str, meant: str) -> None:
    # Passed through, redis-py would take it as a connection keyword and fail with a
    # TypeError at the first command, far from the configuration.
    with pytest.raises(OptionError, match=f"Did you mean '{meant}'"):
        parse_uri(uri, default_on_outage="local")


def test_an_unknown_redis_py_parameter_fails_when_the_client_is_built() -> None:
    # redis-py takes unknown query parameters as connection keywords: the TypeError came at
    # the first command (where the outage policy may read it as Redis being down).
    opts = parse_uri("redis://u:s3cretpw@127.0.0.1:6379/0?colour=red", default_on_outage="local")
    for build in (build_client, build_async_client):
        with pytest.raises(ConfigError, match="colour") as caught:
            build(opts)
        assert "s3cretpw" not in str(caught.value)
