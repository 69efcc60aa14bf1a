"""Build boto3 KMS clients from options. The only module that imports boto3.

boto3 *clients* are thread-safe; *sessions* are not. A :class:`ClientFactory` therefore builds
its session once and creates clients under a lock, and the provider keeps the clients it gets.
"""

from __future__ import annotations

import threading
from typing import Any

from tigerseal.errors import ConfigError

from tigerseal_aws_kms._options import AwsKmsOptions

__all__ = ["ClientFactory", "client_region", "method_name"]

_USER_AGENT = "tigerseal-aws-kms"


def method_name(operation: str) -> str:
    """boto3's method for a KMS API name: ``GenerateDataKey`` -> ``generate_data_key``."""
    out = [operation[0].lower()]
    for ch in operation[1:]:
        out.append(f"_{ch.lower()}" if ch.isupper() else ch)
    return "".join(out)


def client_region(client: Any) -> str | None:
    """The region a boto3 client calls."""
    region = getattr(getattr(client, "meta", None), "region_name", None)
    return str(region) if region else None


def _io_threads() -> int:
    """The size of tigerseal.aio's I/O pool (the threads that call KMS from async code)."""
    from tigerseal.aio._pools import pool_sizes

    return pool_sizes()["io"]


class ClientFactory:
    """Creates (and caches) one KMS client per region from one boto3 session.

    Args:
        options: timeouts, retries, profile and endpoint come from here.
    """

    def __init__(self, options: AwsKmsOptions) -> None:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import ProfileNotFound

        self._options = options
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        try:
            self._session = boto3.session.Session(
                profile_name=options.profile, region_name=options.region
            )
        except ProfileNotFound as exc:
            raise ConfigError(
                f"AWS profile {options.profile!r} is not in the shared config or credentials "
                "file; fix the profile= option or AWS_CONFIG_FILE"
            ) from exc
        self._config = Config(
            connect_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
            # total_max_attempts counts the first attempt, so max_attempts=1 means no retry.
            retries={"mode": options.retry_mode, "total_max_attempts": options.max_attempts},
            user_agent_extra=_USER_AGENT,
            # Keep-alive connections: a KMS round trip is small, the TLS handshake is not.
            tcp_keepalive=True,
            # One connection per thread that may call KMS at once: with fewer, calls beyond
            # the pool open a connection (a TLS handshake) and throw it away afterwards.
            max_pool_connections=options.max_pool_connections or _io_threads(),
        )

    @property
    def default_region(self) -> str:
        """The region of the configured key, the ``region`` option or the session default."""
        region = self._options.region or self._session.region_name
        if not region:
            raise ConfigError(
                f"no AWS region for KMS key {self._options.key.raw!r}: use the key's ARN, add "
                "?region=REGION to the URI, or set AWS_REGION / a profile region"
            )
        return str(region)

    def client(self, region: str | None = None) -> Any:
        """The KMS client of ``region`` (default: :attr:`default_region`), built on first use."""
        region = region or self.default_region
        with self._lock:
            existing = self._clients.get(region)
            if existing is not None:
                return existing
            client = self._session.client(
                "kms",
                region_name=region,
                endpoint_url=self._options.endpoint_url,
                config=self._config,
            )
            self._clients[region] = client
            return client

    def close(self) -> None:
        """Close every client this factory built (idempotent)."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            close = getattr(client, "close", None)
            if close is not None:
                close()
