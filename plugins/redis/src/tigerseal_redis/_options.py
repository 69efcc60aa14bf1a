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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import unquote, urlencode

from tigerseal._text import escape_control
from tigerseal.errors import ConfigError
from tigerseal.spi.options import (
    Duration,
    ParsedURI,
    build_options,
    option,
    parse_bool,
    parse_duration,
    parse_int,
    redact_uri,
)
from tigerseal.spi.options import parse_uri as parse_uri_grammar

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


def _policy(raw: str, source: str) -> OutagePolicy:
    value = raw.strip().lower().replace("-", "_")
    if value not in _POLICIES:
        raise ConfigError(
            f"unknown outage policy {raw!r} (from {source}); choose one of "
            f"{', '.join(_POLICIES)}, e.g. redis://host:6379/0?on_outage=local"
        )
    return cast(OutagePolicy, value)


def _policy_option(name: str, value: object) -> OutagePolicy:
    return _policy(str(value), f"the {name} option")


@dataclass(frozen=True, slots=True)
class RedisGivenOptions:
    """tigerseal's options of a Redis URI (query or keywords; :mod:`tigerseal.spi.options`).

    Every other query parameter is redis-py's and passes through to it.
    """

    on_outage: OutagePolicy | None = option(None, parse=_policy_option, help=", ".join(_POLICIES))
    retry_interval: Duration = option(1.0, ge=0, help="seconds between reconnection attempts")
    key_prefix: str = option("tigerseal:", allow_empty=True, help="prefix of every key")
    cluster: bool = option(False, help="1: use RedisCluster")
    grace: Duration = option(120.0, ge=0, help="seconds a revocation outlives the token's exp")
    client_kwargs: Any = option(None, uri=False, help="extra redis-py client keywords")


def parse_uri(uri: str, *, default_on_outage: OutagePolicy, **options: Any) -> RedisOptions:
    """Split a Redis URI into redis-py's URL and tigerseal's options.

    Precedence for each option (the one rule of :mod:`tigerseal.spi.options`): the URI query
    and keyword ``options`` must agree when both give it; then (``on_outage`` only) the
    ``TIGERSEAL_REDIS_ON_OUTAGE`` environment variable, then ``default_on_outage``.

    Raises:
        ConfigError: unknown scheme, bad option value, unknown keyword option, or an option
            given in the URI and as a keyword with different values.
    """
    plugin = "redis"
    parsed = _parse(uri)
    scheme = parsed.scheme
    display = _display(parsed)
    passthrough: list[tuple[str, str]] = []
    opts = build_options(
        RedisGivenOptions, plugin=plugin, uri=parsed.query, code=options, passthrough=passthrough
    )
    if opts.on_outage is not None:
        policy = opts.on_outage
    elif os.environ.get(ENV_ON_OUTAGE):
        policy = _policy(os.environ[ENV_ON_OUTAGE], ENV_ON_OUTAGE)
    else:
        policy = default_on_outage
    if opts.cluster and scheme == "redis+sentinel":
        raise ConfigError("cluster=1 cannot be combined with redis+sentinel://; pick one")
    prefix = opts.key_prefix
    if "{" in prefix or "}" in prefix:
        raise ConfigError(
            f"key_prefix {escape_control(prefix, limit=40)!r} must not contain braces: they "
            "would break the hash tags that keep each limit on one cluster slot"
        )
    query = urlencode(passthrough, encoding="utf-8", errors="surrogateescape")
    authority = "" if parsed.authority is None else "//" + parsed.authority
    url = f"{scheme}:{authority}{parsed.path}" + (f"?{query}" if query else "")
    return RedisOptions(
        scheme=scheme,
        url=url,
        display=display,
        on_outage=policy,
        retry_interval=opts.retry_interval,
        key_prefix=prefix,
        cluster=opts.cluster,
        grace=opts.grace,
        client_kwargs=dict(opts.client_kwargs or {}),
    )


def _parse(uri: str) -> ParsedURI:
    return parse_uri_grammar(
        uri,
        plugin="redis",
        schemes=_SCHEMES,
        example="redis://host:6379/0, rediss:// (TLS) or redis+sentinel://host:26379/<service>",
    )


def _display(parsed: ParsedURI) -> str:
    """Where the server is, without credentials."""
    if parsed.scheme == "unix":
        return f"unix:{escape_control(parsed.path)}"
    path = parsed.path if parsed.scheme == "redis+sentinel" else (parsed.path or "/0")
    return escape_control(f"{parsed.scheme}://{parsed.host}{path}")


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
            cluster: redis.RedisCluster = _from_url(redis.RedisCluster.from_url, opts, kwargs)
            return cluster
        except (redis.exceptions.RedisError, OSError) as exc:
            from tigerseal.errors import ProviderUnavailable

            raise ProviderUnavailable(
                f"cannot reach the Redis Cluster at {opts.display} to read its slot map "
                f"({type(exc).__name__}); start the cluster or fix the address"
            ) from exc
    client: redis.Redis
    if opts.scheme != "redis+sentinel":
        client = _from_url(redis.Redis.from_url, opts, kwargs)
    else:
        client = _sentinel_client(opts, kwargs, Sentinel)
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
        return _from_url(aredis.RedisCluster.from_url, opts, kwargs)
    if opts.scheme != "redis+sentinel":
        return _from_url(aredis.Redis.from_url, opts, kwargs)
    return _sentinel_client(opts, kwargs, Sentinel)


def _from_url(factory: Callable[..., Any], opts: RedisOptions, kwargs: dict[str, Any]) -> Any:
    """``factory(opts.url, **kwargs)``; a URL redis-py cannot read is a ConfigError.

    redis-py raises ValueError for a port that is not a number, a malformed IPv6 host or a
    query parameter of the wrong type (``socket_timeout=soon``). Its messages quote the port
    or the parameter's name, never the password, but the URL is shown only as ``display``.
    """
    try:
        client = factory(opts.url, **kwargs)
        pool = getattr(client, "connection_pool", None)
        if pool is not None:
            # redis-py passes unknown query parameters to the connection class, which fails
            # only when the first command connects: build one now (it opens no socket).
            pool.connection_class(**pool.connection_kwargs)
        return client
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"redis-py cannot use the Redis URI for {opts.display} "
            f"({escape_control(str(exc), limit=120)}); fix the host, port or query parameter"
        ) from None


def _sentinel_client(opts: RedisOptions, kwargs: dict[str, Any], sentinel_cls: Any) -> Any:
    parsed = _parse(opts.url)
    hosts: list[tuple[str, int]] = []
    for item in parsed.host.split(","):
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "26379")
        if not host:
            raise ConfigError(f"bad sentinel address {escape_control(item)!r} in {opts.display}")
        try:
            hosts.append((host.strip("[]"), int(port or 26379)))
        except ValueError:
            raise ConfigError(
                f"bad sentinel port in {escape_control(item)!r} ({opts.display})"
            ) from None
    segments = [unquote(s) for s in parsed.path.split("/") if s]
    if not segments:
        raise ConfigError(
            f"{opts.display} names no service: use redis+sentinel://host:26379/<service>[/<db>]"
        )
    service, db = segments[0], 0
    if len(segments) > 1:
        db = parse_int("database number", segments[1], plugin="redis")
    password, username = parsed.password, parsed.username
    query = parsed.options
    for name in ("socket_timeout", "socket_connect_timeout"):
        if name in query:
            kwargs[name] = parse_duration(name, query.pop(name), plugin="redis")
    sentinel_kwargs: dict[str, Any] = {
        k: kwargs[k] for k in ("socket_timeout", "socket_connect_timeout") if k in kwargs
    }
    sentinel_auth = parse_bool("sentinel_auth", query.pop("sentinel_auth", "0"), plugin="redis")
    if password is not None and sentinel_auth:
        sentinel_kwargs["password"] = password
    sentinel = sentinel_cls(hosts, sentinel_kwargs=sentinel_kwargs, **kwargs)
    return sentinel.master_for(service, db=db, password=password, username=username)


def redact(uri: str) -> str:
    """The URI with any password replaced by ``***`` (for reprs and messages)."""
    return redact_uri(uri)
