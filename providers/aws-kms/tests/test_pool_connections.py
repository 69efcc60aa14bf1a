"""botocore's connection pool matches the threads that call KMS (tigerseal.aio's I/O pool)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tigerseal import aio
from tigerseal.errors import ConfigError
from tigerseal_aws_kms._client import ClientFactory
from tigerseal_aws_kms._options import parse_options

URI = "aws-kms://alias/tiger?region=us-east-1"


@pytest.fixture
def io_pool_size() -> Iterator[None]:
    saved = dict(aio._pools._sizes)
    yield
    aio.shutdown()
    aio._pools._sizes.update(saved)


def test_max_pool_connections_option() -> None:
    assert parse_options(URI + "&max_pool_connections=32").max_pool_connections == 32
    assert parse_options(URI, max_pool_connections=16).max_pool_connections == 16
    for bad in ("0", "1000", "many"):
        with pytest.raises(ConfigError, match="max_pool_connections"):
            parse_options(URI + "&max_pool_connections=" + bad)
    config = ClientFactory(parse_options(URI + "&max_pool_connections=32"))._config
    assert config.max_pool_connections == 32


def test_default_pool_follows_the_aio_io_pool(io_pool_size: None) -> None:
    aio.configure(io_threads=24)
    assert ClientFactory(parse_options(URI))._config.max_pool_connections == 24
