"""Rate-limit storage in Redis: sliding-window log, sliding-window counter and GCRA.

Each decision is one ``EVALSHA`` of a server-side Lua script (see :mod:`tigerseal_redis._scripts`):
one round trip, atomic across every process and machine that shares the server, timed by the
server's clock. Keys are hash-tagged with the user key, so Redis Cluster keeps a limit on one
slot.

Example::

    from tigerseal.plugins import rate_limit_storage_from_uri
    from tigerseal.spi import RateLimitPolicy

    storage = rate_limit_storage_from_uri("redis://127.0.0.1:6379/0?on_outage=local")
    decision = storage.acquire("api_key_12345", RateLimitPolicy(limit=100, window=3600))
    if not decision.allowed:
        ...  # 429, Retry-After: decision.retry_after
"""

from __future__ import annotations

import itertools
import math
import re
import secrets
from typing import TYPE_CHECKING, Any, NamedTuple

from tigerseal.errors import ConfigError, ProviderUnavailable, TigerSealError
from tigerseal.ratelimit.storage_keys import MAX_KEY_LENGTH, bad_key, long_key_digest
from tigerseal.spi.services import (
    RATE_LIMIT_ALGORITHMS,
    RateLimitDecision,
    RateLimitPolicy,
    RateLimitStorage,
)

from tigerseal_redis._options import (
    OutagePolicy,
    RedisOptions,
    build_async_client,
    build_client,
    parse_uri,
)
from tigerseal_redis._outage import OutageGuard
from tigerseal_redis._scripts import SCRIPTS, Script
from tigerseal_redis._wire import PinnedConnections, bulk

if TYPE_CHECKING:
    import redis

    from tigerseal_redis.aio import AsyncRedisRateLimitStorage

__all__ = ["RedisRateLimitStorage", "from_uri"]

#: Rate limits keep the service up by default: each process limits on its own while Redis is
#: down (see docs/deploying.md for choosing another policy).
DEFAULT_ON_OUTAGE: OutagePolicy = "local"


def hash_tag(key: str) -> str:
    """``{key}`` with braces escaped, so the whole user key is the cluster hash tag.

    An unescaped ``}`` would end the tag early and ``{}`` would disable it; escaping ``%``
    first keeps the mapping one-to-one (and lets a lone surrogate, which UTF-8 cannot carry,
    be spelled ``%uDCFF``). A key longer than ``MAX_KEY_LENGTH`` characters becomes
    ``{%h<sha256 hex>}``: Redis never holds a client's megabyte key, and no short key can
    spell that tag (its ``%`` would have been escaped to ``%25``).
    """
    if not key or not isinstance(key, str):
        raise bad_key(key)
    if len(key) > MAX_KEY_LENGTH:
        return "{%h" + long_key_digest(key).hex() + "}"
    if "{" in key or "}" in key or "%" in key:
        key = key.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")
    if not key.isascii():
        # A lone surrogate (request bytes decoded with surrogateescape) cannot be sent as
        # UTF-8: spell it %uDCFF, unambiguous since every literal % is already %25.
        key = _SURROGATE.sub(_spell_surrogate, key)
    return "{" + key + "}"


_SURROGATE = re.compile("[\ud800-\udfff]")


def _spell_surrogate(match: re.Match[str]) -> str:
    return f"%u{ord(match[0]):04X}"


class RedisRateLimitStorage(RateLimitStorage):
    """:class:`~tigerseal.spi.RateLimitStorage` on Redis (standalone, TLS, Sentinel or Cluster).

    Args:
        client: a redis-py ``Redis`` or ``RedisCluster``; use short socket timeouts and no
            retries (:func:`from_uri` does), or an outage will stall requests.
        server: where the server is, for metrics and audit records (no credentials).
        on_outage: ``fail_closed`` (deny), ``fail_open`` (admit) or ``local`` (per-process
            memory storage) while Redis is unreachable.
        retry_interval: seconds between reconnection attempts while degraded.
        key_prefix: prefix of every key written.
    """

    def __init__(
        self,
        *,
        client: redis.Redis | redis.RedisCluster,
        server: str = "redis",
        on_outage: OutagePolicy = DEFAULT_ON_OUTAGE,
        retry_interval: float = 1.0,
        key_prefix: str = "tigerseal:",
    ) -> None:
        import redis as _redis
        import redis.exceptions as rx

        self._client = client
        # The fast path needs a plain client with a shared pool (not single-connection mode).
        plain = type(client) is _redis.Redis and getattr(client, "connection", None) is None
        self._fast = (
            PinnedConnections(client.connection_pool, rx.ResponseError)  # type: ignore[union-attr]
            if plain
            else None
        )
        self._wires: dict[RateLimitPolicy, _PolicyWire] = {}
        self._prefix = f"{key_prefix}rl:"
        self._guard = OutageGuard(
            component="rate_limit",
            server=server,
            policy=on_outage,
            retry_interval=retry_interval,
        )
        self._fallback_storage: RateLimitStorage | None = None
        if on_outage == "local":
            # Built now, not during the outage. Directly, not by URI: on_outage=local chose
            # per-process limits during an outage, so production's memory:// check must not
            # refuse it.
            from tigerseal.ratelimit import MemoryRateLimitStorage

            self._fallback_storage = MemoryRateLimitStorage()
        # Unique per process and instance: members of the sliding-window log must not collide
        # between machines that hit one key in the same microsecond.
        self._tag = secrets.token_hex(6)
        self._seq = itertools.count()
        self._script_loads = 0
        # Set by from_uri: lets to_async() build a redis.asyncio client to the same server.
        self._options: RedisOptions | None = None

    # -- public API --------------------------------------------------------------------------
    @property
    def on_outage(self) -> str:
        """The outage policy in force."""
        return self._guard.policy

    @property
    def metrics(self) -> dict[str, Any]:
        """Connection state, outage counters and script reloads (``NOSCRIPT`` fallbacks)."""
        return {**self._guard.metrics, "script_loads": self._script_loads}

    def acquire(
        self, key: str, policy: RateLimitPolicy, cost: int = 1, *, now: float | None = None
    ) -> RateLimitDecision:
        """Count ``cost`` units against ``key`` if ``policy`` admits them (one round trip).

        Args:
            key: the thing limited (API key id, user id, IP address).
            policy: limit, window and algorithm.
            cost: units this hit consumes (``0`` counts nothing).
            now: epoch seconds to decide at; ``None`` uses the Redis server's clock.

        Raises:
            ConfigError: bad policy, key or cost.
        """
        if cost.__class__ is not int or cost < 0:
            raise ConfigError(f"a rate-limit cost must be a whole number >= 0, got {cost!r}")
        return self._decide(key, policy, cost, now, peek=False)

    def peek(
        self, key: str, policy: RateLimitPolicy, *, now: float | None = None
    ) -> RateLimitDecision:
        """Report whether one more unit would be admitted, counting nothing."""
        return self._decide(key, policy, 1, now, peek=True)

    def reset(self, key: str) -> None:
        """Forget everything recorded for ``key`` (every algorithm).

        Raises:
            ProviderUnavailable: Redis is unreachable (the local fallback, if any, is reset
                anyway; the shared state is not, so retry when Redis is back).
        """
        tag = hash_tag(key)
        keys = [f"{self._prefix}{tag}:{alg}" for alg in RATE_LIMIT_ALGORITHMS]
        if self._fallback_storage is not None:
            self._fallback_storage.reset(key)

        def remote() -> None:
            # One slot (hash tag), so one DEL even on a cluster.
            self._execute("DEL", *keys)

        def fallback() -> None:
            raise ProviderUnavailable(
                f"cannot reset rate limits of a key: Redis at {self._guard.server} is "
                "unreachable; retry when it is back"
            )

        self._guard.call(remote, fallback)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def to_async(self) -> AsyncRedisRateLimitStorage | None:
        """An async twin on ``redis.asyncio`` sharing this storage's limits and outage state.

        Each decision is one ``EVALSHA`` of the same Lua scripts, so sync and async callers
        count against the same keys. ``None`` when this storage was built from a client object
        rather than a URI (:func:`tigerseal.aio.async_storage` then uses the I/O thread pool).
        The twin's client belongs to the event loop that first uses it.
        """
        if self._options is None:
            return None
        from tigerseal_redis.aio import AsyncRedisRateLimitStorage

        return AsyncRedisRateLimitStorage(self, build_async_client(self._options))

    def __repr__(self) -> str:
        return f"RedisRateLimitStorage(server={self._guard.server!r}, on_outage={self.on_outage!r})"

    # -- internals ---------------------------------------------------------------------------
    def _wire(self, policy: RateLimitPolicy) -> _PolicyWire:
        """The constant parts of a decision under ``policy``, packed once."""
        wire = self._wires.get(policy)
        if wire is None:
            script = SCRIPTS[policy.algorithm]
            # RateLimitPolicy validated limit, window, algorithm and burst when it was built.
            window_us = round(policy.window * 1_000_000) or 1
            head = b"*10\r\n" + bulk(b"EVALSHA") + bulk(script.sha.encode()) + bulk(b"1")
            mid = bulk(b"%d" % policy.limit) + bulk(b"%d" % window_us)
            burst = policy.burst_size if policy.algorithm == "gcra" else None
            wire = _PolicyWire(script, head, mid, window_us, burst)
            if len(self._wires) < 1024:  # policies are few; never let the cache grow unbounded
                self._wires[policy] = wire
        return wire

    def _request(
        self, key: str, policy: RateLimitPolicy, cost: int, now: float | None, peek: bool
    ) -> tuple[_PolicyWire, str, str, int | str, tuple[Any, ...]]:
        """The script, state key and arguments of one decision (shared with the async twin)."""
        wire = self._wire(policy)
        # One state key per (key, algorithm), as in memory: several limits of one algorithm on
        # one key share entries (see RateLimitStorage).
        state = f"{self._prefix}{hash_tag(key)}:{policy.algorithm}"
        # GCRA needs the burst; the log needs a tag unique across processes for its members
        # (itertools.count is atomic under the GIL: no lock on the hot path).
        extra = wire.burst if wire.burst is not None else f"{self._tag}:{next(self._seq)}"
        now_arg = "" if now is None else str(round(now * 1_000_000))
        args = (policy.limit, wire.window_us, cost, now_arg, 1 if peek else 0, extra)
        return wire, state, now_arg, extra, args

    @staticmethod
    def _decision(policy: RateLimitPolicy, reply: Any) -> RateLimitDecision:
        allowed, remaining, reset_us, retry_us = reply
        return RateLimitDecision(
            allowed == 1,
            policy.limit,
            remaining,
            reset_us / 1e6,
            math.inf if retry_us < 0 else retry_us / 1e6,
        )

    def _decide(
        self, key: str, policy: RateLimitPolicy, cost: int, now: float | None, *, peek: bool
    ) -> RateLimitDecision:
        wire, state, now_arg, extra, args = self._request(key, policy, cost, now, peek)

        def remote() -> RateLimitDecision:
            if self._fast is not None:
                payload = _payload(wire, state, cost, now_arg, peek, extra)
                reply = self._eval(wire.script, state, args, payload)
            else:
                reply = self._eval(wire.script, state, args, None)
            return self._decision(policy, reply)

        def fallback() -> RateLimitDecision:
            return self._fallback_decision(key, policy, cost, now, peek)

        return self._guard.call(remote, fallback)

    def _eval(self, script: Script, key: str, args: tuple[Any, ...], payload: bytes | None) -> Any:
        import redis.exceptions as rx

        try:
            if payload is not None and self._fast is not None:
                return self._fast.call(payload)
            return self._execute("EVALSHA", script.sha, 1, key, *args)
        except rx.NoScriptError:
            # Server restarted or SCRIPT FLUSH: EVAL sends the source and caches it again.
            self._script_loads += 1
            try:
                return self._execute("EVAL", script.source, 1, key, *args)
            except rx.ResponseError as exc:
                raise _response_error(script, exc) from exc
        except rx.ResponseError as exc:
            raise _response_error(script, exc) from exc

    def _execute(self, *args: Any) -> Any:
        """One command through redis-py's generic path (rare commands, cluster clients)."""
        return self._client.execute_command(*args)  # type: ignore[no-untyped-call]

    def _fallback_decision(
        self, key: str, policy: RateLimitPolicy, cost: int, now: float | None, peek: bool
    ) -> RateLimitDecision:
        wait = max(self._guard.retry_interval, 0.001)
        if self._guard.policy == "fail_open":
            return RateLimitDecision(True, policy.limit, max(policy.limit - cost, 0), 0.0, 0.0)
        if self._guard.policy == "fail_closed" or self._fallback_storage is None:
            return RateLimitDecision(False, policy.limit, 0, wait, wait)
        if peek:
            return self._fallback_storage.peek(key, policy, now=now)
        return self._fallback_storage.acquire(key, policy, cost, now=now)


_PEEK = bulk(b"1")
_COUNT = bulk(b"0")


def _payload(
    wire: _PolicyWire, state: str, cost: int, now_arg: str, peek: bool, extra: int | str
) -> bytes:
    """The whole ``EVALSHA`` of a decision as RESP bytes (constant parts packed per policy)."""
    return b"".join(
        (
            wire.head,
            bulk(state.encode()),
            wire.mid,
            bulk(b"%d" % cost),
            bulk(now_arg.encode()),
            _PEEK if peek else _COUNT,
            bulk(str(extra).encode()),
        )
    )


class _PolicyWire(NamedTuple):
    script: Script
    head: bytes  # *10, EVALSHA, sha, numkeys
    mid: bytes  # limit, window
    window_us: int
    burst: int | None


def _response_error(script: Script, exc: Exception) -> TigerSealError:
    text = str(exc)
    if "WRONGTYPE" in text:
        return ConfigError(
            f"Redis holds other data under tigerseal's rate-limit keys ({text}); "
            "set another key_prefix in the URI (?key_prefix=myapp:) or use another database"
        )
    return TigerSealError(
        f"Redis rejected the {script.name} rate-limit script ({text}); tigerseal needs "
        "Redis >= 6.2 with Lua scripting enabled"
    )


def from_uri(uri: str, **options: Any) -> RedisRateLimitStorage:
    """Build rate-limit storage from ``redis://``, ``rediss://`` or ``redis+sentinel://``.

    Query options (also accepted as keyword arguments): ``on_outage`` (default ``local``, or
    ``TIGERSEAL_REDIS_ON_OUTAGE``), ``retry_interval`` (seconds, default 1), ``key_prefix``,
    ``cluster=1``; any other query parameter is passed to redis-py (``socket_timeout``, ...).

    Raises:
        ConfigError: the URI or an option is invalid.
    """
    opts = parse_uri(uri, default_on_outage=DEFAULT_ON_OUTAGE, **options)
    storage = RedisRateLimitStorage(
        client=build_client(opts),
        server=opts.display,
        on_outage=opts.on_outage,
        retry_interval=opts.retry_interval,
        key_prefix=opts.key_prefix,
    )
    storage._options = opts
    return storage
