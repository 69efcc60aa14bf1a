"""Parse ``redis://`` / ``rediss://`` / ``redis+sentinel://`` URIs and build a redis-py client.

The URI carries both the connection (redis-py's own query parameters pass through) and
tigerseal's options, which are removed before redis-py sees the URI:

* ``on_outage`` -- ``fail_closed``, ``fail_open`` or ``local`` (see :mod:`tigerseal_redis._outage`);
* ``retry_interval`` -- seconds between reconnection attempts while Redis is unreachable;
* ``key_prefix`` -- prefix of every key tigerseal writes (default ``tigerseal:``);
* ``cluster`` -- ``1`` to talk to a Redis Cluster through ``RedisCluster``;
* ``grace`` -- seconds a revocation outlives the token's ``exp`` (clock skew, verifier leeway).

Sentinel: ``redis+sentinel://[:password@]host1:26379,host2:26379/<service>[/<db>]?...``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from tigerseal.errors import ConfigError

if TYPE_CHECKING:
    import redis

__all__ = ["OutagePolicy", "RedisOptions", "build_async_client", "build_client", "parse_uri"]

OutagePolicy = Literal["fail_closed", "fail_open", "local"]
_POLICIES: tuple[str, ...] = ("fail_closed", "fail_open", "local")
_SCHEMES = ("redis", "rediss", "redis+sentinel", "unix")

#: Short by default: a decision must never hang a request because Redis does.
DEFAULT_SOCKET_TIMEOUT = 0.5
DEFAULT_CONNECT_TIMEOUT = 0.5

#: Environment variable consulted when neither the URI nor the caller names a policy.
ENV_ON_OUTAGE = "TIGERSEAL_REDIS_ON_OUTAGE"

# tigerseal's own query parameters; everything else is redis-py's.
_OWN = {"on_outage", "retry_interval", "key_prefix", "cluster", "grace"}


@dataclass(frozen=True)
class RedisOptions:
    """Connection target and tigerseal options parsed from a URI (no secret in repr).

    Attributes:
        scheme: ``redis``, ``rediss``, ``redis+sentinel`` or ``unix``.
        url: the URI for redis-py, tigerseal's options removed (holds the password: not shown).
        display: host:port (or the sentinel list) for messages, metrics and audit records.
        on_outage: what to do while Redis is unreachable.
        retry_interval: seconds between reconnection attempts during an outage.
        key_prefix: prefix of every key written.
        cluster: whether to use ``RedisCluster``.
        grace: seconds a revocation entry outlives the token's expiry.
        client_kwargs: extra keyword arguments for the redis-py client.
    """

    scheme: str
    url: str = field(repr=False)
    display: str
    on_outage: OutagePolicy
    retry_interval: float = 1.0
    key_prefix: str = "tigerseal:"
    cluster: bool = False
    grace: float = 120.0
    client_kwargs: dict[str, Any] = field(default_factory=dict, repr=False)


def _float(name: str, raw: str | float, uri_display: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} in the Redis URI {uri_display} is not a number of seconds"
        ) from None
    if value < 0:
        raise ConfigError(f"{name} in the Redis URI {uri_display} must be >= 0, got {raw!r}")
    return value


def _policy(raw: str, source: str) -> OutagePolicy:
    value = raw.strip().lower().replace("-", "_")
    if value not in _POLICIES:
        raise ConfigError(
            f"unknown outage policy {raw!r} (from {source}); choose one of "
            f"{', '.join(_POLICIES)}, e.g. redis://host:6379/0?on_outage=local"
        )
    return cast(OutagePolicy, value)


def parse_uri(uri: str, *, default_on_outage: OutagePolicy, **options: Any) -> RedisOptions:
    """Split a Redis URI into redis-py's URL and tigerseal's options.

    Precedence for each option: URI query, then keyword ``options``, then (``on_outage`` only)
    the ``TIGERSEAL_REDIS_ON_OUTAGE`` environment variable, then ``default_on_outage``.

    Raises:
        ConfigError: unknown scheme, bad option value, unknown keyword option.
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigError(
            f"{scheme or uri!r} is not a Redis URI scheme; use redis://host:6379/0, "
            "rediss:// (TLS) or redis+sentinel://host:26379/<service>"
        )
    display = _display(parts)
    own: dict[str, str] = {}
    passthrough: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _OWN:
            own[key] = value
        else:
            passthrough.append((key, value))
    unknown = set(options) - _OWN - {"client_kwargs"}
    if unknown:
        raise ConfigError(
            f"unknown Redis storage option(s) {', '.join(sorted(unknown))}; accepted: "
            f"{', '.join(sorted(_OWN))} (in the URI query or as keyword arguments)"
        )
    merged: dict[str, Any] = {**options, **own}

    if "on_outage" in merged:
        src = "the URI" if "on_outage" in own else "the on_outage option"
        policy = _policy(str(merged["on_outage"]), src)
    elif os.environ.get(ENV_ON_OUTAGE):
        policy = _policy(os.environ[ENV_ON_OUTAGE], ENV_ON_OUTAGE)
    else:
        policy = default_on_outage

    cluster_raw = str(merged.get("cluster", "0")).lower()
    if cluster_raw not in ("0", "1", "true", "false", "yes", "no"):
        raise ConfigError(f"cluster={cluster_raw!r} in {display}: use cluster=1 or cluster=0")
    cluster = cluster_raw in ("1", "true", "yes")
    if cluster and scheme == "redis+sentinel":
        raise ConfigError("cluster=1 cannot be combined with redis+sentinel://; pick one")
    prefix = str(merged.get("key_prefix", "tigerseal:"))
    if "{" in prefix or "}" in prefix:
        raise ConfigError(
            f"key_prefix {prefix!r} must not contain braces: they would break the hash tags "
            "that keep each limit on one cluster slot"
        )
    return RedisOptions(
        scheme=scheme,
        url=urlunsplit(parts._replace(query=urlencode(passthrough))),
        display=display,
        on_outage=policy,
        retry_interval=_float("retry_interval", merged.get("retry_interval", 1.0), display),
        key_prefix=prefix,
        cluster=cluster,
        grace=_float("grace", merged.get("grace", 120.0), display),
        client_kwargs=dict(merged.get("client_kwargs") or {}),
    )


def _display(parts: Any) -> str:
    """Where the server is, without credentials."""
    netloc = parts.netloc.rpartition("@")[2]
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    path = parts.path if parts.scheme == "redis+sentinel" else (parts.path or "/0")
    return f"{parts.scheme}://{netloc}{path}"


def _no_retry_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Short timeouts, no hidden retries: the outage policy decides what a failure means."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    out = dict(kwargs)
    out.setdefault("socket_timeout", DEFAULT_SOCKET_TIMEOUT)
    out.setdefault("socket_connect_timeout", DEFAULT_CONNECT_TIMEOUT)
    # redis-py retries 3 times with exponential backoff by default: an outage would then
    # stall every decision for seconds.
    out.setdefault("retry", Retry(NoBackoff(), 0))
    return out


def build_client(opts: RedisOptions) -> redis.Redis | redis.RedisCluster:
    """Build the redis-py client the options describe (no connection is made yet)."""
    import redis
    from redis.sentinel import Sentinel

    kwargs = _no_retry_kwargs(opts.client_kwargs)
    if opts.cluster:
        try:
            # RedisCluster asks a node for the slot map while it is built.
            return redis.RedisCluster.from_url(opts.url, **kwargs)
        except (redis.exceptions.RedisError, OSError) as exc:
            from tigerseal.errors import ProviderUnavailable

            raise ProviderUnavailable(
                f"cannot reach the Redis Cluster at {opts.display} to read its slot map "
                f"({type(exc).__name__}); start the cluster or fix the address"
            ) from exc
    if opts.scheme != "redis+sentinel":
        return redis.Redis.from_url(opts.url, **kwargs)
    client: redis.Redis = _sentinel_client(opts, kwargs, Sentinel)
    return client


def build_async_client(opts: RedisOptions) -> Any:
    """The ``redis.asyncio`` client the options describe (standalone, TLS, Sentinel, Cluster).

    Same timeouts and no-retry policy as :func:`build_client`. No connection is made yet; the
    client belongs to the event loop that first uses it.
    """
    import redis.asyncio as aredis
    from redis.asyncio.retry import Retry
    from redis.asyncio.sentinel import Sentinel
    from redis.backoff import NoBackoff

    kwargs = dict(opts.client_kwargs)
    kwargs.setdefault("socket_timeout", DEFAULT_SOCKET_TIMEOUT)
    kwargs.setdefault("socket_connect_timeout", DEFAULT_CONNECT_TIMEOUT)
    kwargs.setdefault("retry", Retry(NoBackoff(), 0))
    if opts.cluster:
        # The async cluster client discovers slots on first use, not here.
        return aredis.RedisCluster.from_url(opts.url, **kwargs)
    if opts.scheme != "redis+sentinel":
        return aredis.Redis.from_url(opts.url, **kwargs)
    return _sentinel_client(opts, kwargs, Sentinel)


def _sentinel_client(opts: RedisOptions, kwargs: dict[str, Any], sentinel_cls: Any) -> Any:
    parts = urlsplit(opts.url)
    hosts: list[tuple[str, int]] = []
    for item in parts.netloc.rpartition("@")[2].split(","):
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "26379")
        if not host:
            raise ConfigError(f"bad sentinel address {item!r} in {opts.display}")
        try:
            hosts.append((host.strip("[]"), int(port or 26379)))
        except ValueError:
            raise ConfigError(f"bad sentinel port in {item!r} ({opts.display})") from None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if not segments:
        raise ConfigError(
            f"{opts.display} names no service: use redis+sentinel://host:26379/<service>[/<db>]"
        )
    service, db = segments[0], 0
    if len(segments) > 1:
        try:
            db = int(segments[1])
        except ValueError:
            raise ConfigError(f"bad database number {segments[1]!r} in {opts.display}") from None
    password = unquote(parts.password) if parts.password else None
    username = unquote(parts.username) if parts.username else None
    query = dict(parse_qsl(parts.query))
    for name in ("socket_timeout", "socket_connect_timeout"):
        if name in query:
            kwargs[name] = float(query.pop(name))
    sentinel_kwargs: dict[str, Any] = {
        k: kwargs[k] for k in ("socket_timeout", "socket_connect_timeout") if k in kwargs
    }
    if password is not None and query.pop("sentinel_auth", "0") == "1":
        sentinel_kwargs["password"] = password
    sentinel = sentinel_cls(hosts, sentinel_kwargs=sentinel_kwargs, **kwargs)
    return sentinel.master_for(service, db=db, password=password, username=username)


def redact(uri: str) -> str:
    """The URI with any password replaced by ``***`` (for reprs and messages)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    user = quote(parts.username or "", safe="")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
