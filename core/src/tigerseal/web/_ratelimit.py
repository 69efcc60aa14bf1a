"""Per-client rate limits for web requests, with the IETF ``RateLimit`` response fields.

A :class:`RateLimitRule` names a quota (``100`` requests per ``60`` s, called ``"api"``);
:func:`check_rate_limit` counts one request of a client against it and returns the decision
with the ``RateLimit``, ``RateLimit-Policy`` and (on rejection) ``Retry-After`` fields computed
by :func:`tigerseal.ratelimit.ratelimit_headers`. State lives in the limiter's storage, so the
quota is shared by every worker on ``redis://`` and per process on ``memory://``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tigerseal.errors import ConfigError
from tigerseal.ratelimit._headers import ratelimit_headers, sf_string
from tigerseal.spi.services import RateLimitAlgorithm, RateLimitDecision, RateLimitPolicy

if TYPE_CHECKING:
    from tigerseal.ratelimit._limiter import RateLimiter

__all__ = ["RateLimitResult", "RateLimitRule", "check_rate_limit", "exempt_prefixes"]


@dataclass(frozen=True, slots=True)
class RateLimitRule:
    """A named quota: ``limit`` requests per ``window`` seconds for each client.

    Args:
        limit: requests admitted per window.
        window: window length in seconds.
        name: the policy name in the ``RateLimit`` fields; also separates the counters of
            rules with different names (a client has one quota per rule name).
        algorithm: ``sliding_window_log``, ``sliding_window_counter`` or ``gcra``; ``None``:
            the limiter's (``TIGERSEAL_RATE_LIMIT_ALGORITHM``).
        burst: GCRA only: requests admissible at once (default ``limit``).
        cost: units one request uses.

    Raises:
        ConfigError: a value is out of range, or the name is not printable ASCII.
    """

    limit: int
    window: float
    name: str = "default"
    algorithm: RateLimitAlgorithm | None = None
    burst: int | None = None
    cost: int = 1
    _policies: dict[str, RateLimitPolicy] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        sf_string(self.name)  # refuse a name that cannot be sent in the header, now
        RateLimitPolicy(self.limit, self.window, self.algorithm or "sliding_window_log", self.burst)

    def key(self, client_id: str) -> str:
        """The limiter key counting ``client_id`` under this rule (``name:client_id``)."""
        return self.name + ":" + client_id

    def policy(self, default_algorithm: RateLimitAlgorithm) -> RateLimitPolicy:
        """The storage policy of this rule (``default_algorithm`` when the rule names none)."""
        algorithm = self.algorithm or default_algorithm
        policy = self._policies.get(algorithm)
        if policy is None:
            policy = RateLimitPolicy(self.limit, self.window, algorithm, self.burst)
            self._policies[algorithm] = policy
        return policy


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    """What :func:`check_rate_limit` decided.

    Attributes:
        allowed: whether the request is admitted (it was counted).
        decision: the storage's decision (remaining units, reset and retry times).
        headers: ``RateLimit-Policy`` and ``RateLimit``, plus ``Retry-After`` on rejection;
            send them on the response either way.
    """

    allowed: bool
    decision: RateLimitDecision
    headers: dict[str, str]

    @property
    def retry_after(self) -> float:
        """Seconds until a request would be admitted (0 when allowed; inf: never)."""
        return self.decision.retry_after

    @classmethod
    def of(
        cls, rule: RateLimitRule, policy: RateLimitPolicy, decision: RateLimitDecision
    ) -> RateLimitResult:
        """The result of ``decision`` (taken under ``rule.policy(...)``), with its fields.

        For callers that take the decision themselves (an async limiter).
        """
        headers = ratelimit_headers(decision, policy, name=rule.name)
        if not decision.allowed and "Retry-After" not in headers:
            # The cost exceeds the quota: no wait helps. Say so with the longest sensible
            # wait rather than none, so clients that honour Retry-After back off.
            headers["Retry-After"] = str(math.ceil(policy.window))
        return cls(decision.allowed, decision, headers)


def check_rate_limit(
    client_id: str, rule: RateLimitRule, *, limiter: RateLimiter | None = None
) -> RateLimitResult:
    """Count one request of ``client_id`` against ``rule``.

    Args:
        client_id: who is limited (a client address from :class:`TrustedProxies`, a user id,
            an API key id). Not shown to clients.
        rule: the quota.
        limiter: the limiter (default: the process-wide one, ``tigerseal.ratelimit``).

    Returns:
        The decision and the response fields. A rejection is audited once per window by the
        limiter (``excess_rate_limit_exceeded``) and counted in its metrics.
    """
    if limiter is None:
        from tigerseal.ratelimit import get_rate_limiter

        limiter = get_rate_limiter()
    policy = rule.policy(limiter.algorithm)
    decision = limiter.acquire(rule.key(client_id), policy, cost=rule.cost)
    return RateLimitResult.of(rule, policy, decision)


def exempt_prefixes(value: object, *, setting: str) -> tuple[str, ...]:
    """Path prefixes an app-wide rate limit leaves alone, checked once at start-up.

    Args:
        value: the setting's value: a list (tuple, set) of paths, each starting with ``/``.
        setting: the setting's name, for the error message.

    Returns:
        The prefixes, for ``path.startswith(prefixes)``.

    Raises:
        ConfigError: ``value`` is a single string (``tuple("/health")`` would be ``("/", "h",
            ...)``: every path exempt), not a collection, or holds an entry that is not a
            non-empty path starting with ``/`` (such an entry exempts nothing, or everything).
    """
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple | set | frozenset):
        raise ConfigError(
            f"{setting} must be a list of path prefixes such as ['/health'], "
            f"not {type(value).__name__}"
        )
    prefixes: list[str] = []
    for entry in value:
        if not isinstance(entry, str) or not entry.startswith("/"):
            shown = repr(entry)[:64]
            raise ConfigError(
                f"{setting} entry {shown} is not a path starting with '/' (e.g. '/health')"
            )
        prefixes.append(entry)
    return tuple(prefixes)
