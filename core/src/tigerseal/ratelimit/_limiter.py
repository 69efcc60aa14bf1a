"""The rate limiter: policies, progressive penalties, status and headers over any storage."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tigerseal import observe as _observe
from tigerseal.audit import _metrics
from tigerseal.errors import ConfigError, RateLimitExceeded
from tigerseal.ratelimit._headers import ratelimit_headers
from tigerseal.ratelimit.storage_keys import MAX_KEY_LENGTH, long_key_digest, strikes_key, user_key
from tigerseal.spi.services import (
    RATE_LIMIT_ALGORITHMS,
    RateLimitAlgorithm,
    RateLimitDecision,
    RateLimitPolicy,
)

if TYPE_CHECKING:
    from tigerseal.config import Settings
    from tigerseal.spi.services import RateLimitStorage

__all__ = ["DEFAULT_WINDOW", "ProgressivePenalty", "RateLimiter"]

log = logging.getLogger(__name__)

#: The seed's default window: one hour (``DEFAULT_RATE_LIMIT_HOUR`` is per hour).
DEFAULT_WINDOW = 3600.0
# Bounded bookkeeping (key -> last policy, key -> last audited rejection).
_MAX_TRACKED_KEYS = 65_536


@dataclass(frozen=True, slots=True)
class ProgressivePenalty:
    """Shrink the limit of a key that keeps hitting it (the seed's "progressive penalties").

    Every rejected hit is a strike. Strikes are counted in a sliding window of ``decay``
    seconds (in the same storage, so penalties are shared between processes with Redis); each
    ``strikes_per_level`` strikes divide the key's limit by ``divisor`` once more, up to
    ``max_level`` times. A key that stops misbehaving recovers as its strikes age out.

    Args:
        strikes_per_level: rejected hits that raise the penalty by one level.
        divisor: how much each level divides the limit by.
        max_level: the highest level.
        decay: seconds a strike counts for.
    """

    strikes_per_level: int = 10
    divisor: int = 2
    max_level: int = 4
    decay: float = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if self.strikes_per_level < 1 or self.divisor < 2 or self.max_level < 1:
            raise ConfigError(
                "a progressive penalty needs strikes_per_level >= 1, divisor >= 2 and "
                "max_level >= 1"
            )
        if not self.decay > 0:
            raise ConfigError("a progressive penalty's decay must be a positive number of seconds")

    @property
    def strike_policy(self) -> RateLimitPolicy:
        """The policy counting strikes (capped at the count of the highest level)."""
        return RateLimitPolicy(
            self.strikes_per_level * self.max_level, self.decay, "sliding_window_counter"
        )


class RateLimiter:
    """Per-key rate limiting over a :class:`~tigerseal.spi.RateLimitStorage`.

    Args:
        storage: where state lives; default: ``TIGERSEAL_RATE_LIMIT_STORAGE`` (``memory://``).
        algorithm: default algorithm; default: ``TIGERSEAL_RATE_LIMIT_ALGORITHM``.
        default_limit: requests per hour when a call gives none; default:
            ``DEFAULT_RATE_LIMIT_HOUR`` (1000).
        penalty: optional progressive penalties.
        audit_rejections: write an ``excess_rate_limit_exceeded`` audit event the first time a
            key is rejected in each window (every rejection is counted in the metrics).
        policy_name: the policy identifier in ``RateLimit`` headers.
        settings: where unset arguments come from; default the process-wide settings.
    """

    def __init__(
        self,
        storage: RateLimitStorage | None = None,
        *,
        algorithm: RateLimitAlgorithm | None = None,
        default_limit: int | None = None,
        penalty: ProgressivePenalty | None = None,
        audit_rejections: bool = True,
        policy_name: str = "default",
        settings: Settings | None = None,
    ) -> None:
        if storage is None or algorithm is None or default_limit is None:
            if settings is None:
                from tigerseal.config import get_settings

                settings = get_settings()
            if default_limit is None:
                settings.require("default_rate_limit_hour")
            if storage is None:
                from tigerseal.plugins import rate_limit_storage_from_uri

                storage = rate_limit_storage_from_uri(settings.rate_limit_storage)
            if algorithm is None:
                algorithm = settings.rate_limit_algorithm
            if default_limit is None:
                default_limit = settings.default_rate_limit_hour
        if algorithm not in RATE_LIMIT_ALGORITHMS:
            raise ConfigError(
                f"unknown rate-limit algorithm {algorithm!r}; use one of: "
                f"{', '.join(RATE_LIMIT_ALGORITHMS)}"
            )
        self.storage = storage
        self.algorithm: RateLimitAlgorithm = algorithm
        self.default_policy = RateLimitPolicy(default_limit, DEFAULT_WINDOW, algorithm)
        self.penalty = penalty
        self.audit_rejections = audit_rejections
        self.policy_name = policy_name
        self._policies: dict[tuple[int | None, float], RateLimitPolicy] = {
            (None, DEFAULT_WINDOW): self.default_policy,
            (default_limit, DEFAULT_WINDOW): self.default_policy,
        }
        self._penalised: dict[tuple[RateLimitPolicy, int], RateLimitPolicy] = {}
        # Keyed by _short(key): a client's 10 MiB key must not be held here either.
        self._key_policies: dict[str | bytes, RateLimitPolicy] = {}
        self._audited: dict[str | bytes, float] = {}
        self._lock = threading.Lock()
        self._rejections = 0
        _metrics.metrics.add_source(self, RateLimiter._counters)

    # -- policies --------------------------------------------------------------------------
    def policy(
        self, max_requests: int | None = None, window_size: float = DEFAULT_WINDOW
    ) -> RateLimitPolicy:
        """The policy for ``max_requests`` per ``window_size`` seconds (cached).

        With no ``max_requests``, the hourly default is scaled to the window (rounded up).
        """
        policy = self._policies.get((max_requests, window_size))
        if policy is None:
            limit = max_requests
            if limit is None:
                limit = max(1, math.ceil(self.default_policy.limit * window_size / DEFAULT_WINDOW))
            policy = RateLimitPolicy(limit, window_size, self.algorithm)
            with self._lock:
                if len(self._policies) < 4096:  # callers passing ever-new numbers: don't hoard
                    self._policies[(max_requests, window_size)] = policy
        return policy

    def _effective(self, key: str, policy: RateLimitPolicy) -> RateLimitPolicy:
        penalty = self.penalty
        if penalty is None:
            return policy
        strikes_policy = penalty.strike_policy
        peek = self.storage.peek(strikes_key(key), strikes_policy)
        strikes = strikes_policy.limit - peek.remaining
        level = min(penalty.max_level, strikes // penalty.strikes_per_level)
        if level <= 0:
            return policy
        reduced = self._penalised.get((policy, level))
        if reduced is None:
            limit = max(1, policy.limit // penalty.divisor**level)
            burst = None if policy.burst is None else max(1, policy.burst // penalty.divisor**level)
            reduced = RateLimitPolicy(limit, policy.window, policy.algorithm, burst)
            self._penalised[(policy, level)] = reduced
        return reduced

    def penalty_level(self, key: str) -> int:
        """The key's current penalty level (0: none)."""
        penalty = self.penalty
        if penalty is None:
            return 0
        strikes_policy = penalty.strike_policy
        peek = self.storage.peek(strikes_key(key), strikes_policy)
        strikes = strikes_policy.limit - peek.remaining
        return min(penalty.max_level, strikes // penalty.strikes_per_level)

    # -- decisions -------------------------------------------------------------------------
    def hit(
        self,
        key: str,
        max_requests: int | None = None,
        window_size: float = DEFAULT_WINDOW,
        *,
        cost: int = 1,
    ) -> bool:
        """Count one request (of ``cost`` units) for ``key``; whether it is admitted."""
        policy = self._policies.get((max_requests, window_size)) or self.policy(
            max_requests, window_size
        )
        if policy is not self.default_policy and self._key_policies.get(_short(key)) is not policy:
            self._remember(key, policy)
        if self.penalty is not None:
            return self.acquire(key, policy, cost=cost).allowed
        # Inlined user_key(): this is the hot path.
        decision = self.storage.acquire(
            "\x1fu" + key if key.startswith("\x1f") else key, policy, cost
        )
        if _observe.on:
            _observe.rate_limit_decision(policy.algorithm, decision.allowed)
        if decision.allowed:
            return True
        self._rejected(key, policy, decision)
        return False

    def acquire(
        self, key: str, policy: RateLimitPolicy | None = None, *, cost: int = 1
    ) -> RateLimitDecision:
        """Count ``cost`` units for ``key`` under ``policy`` (default policy if ``None``)."""
        if policy is None:
            policy = self.default_policy
        elif (
            policy is not self.default_policy and self._key_policies.get(_short(key)) is not policy
        ):
            self._remember(key, policy)
        effective = self._effective(key, policy)
        decision = self.storage.acquire(user_key(key), effective, cost)
        if _observe.on:
            _observe.rate_limit_decision(effective.algorithm, decision.allowed)
        if not decision.allowed:
            self._rejected(key, effective, decision)
            if self.penalty is not None:
                self.storage.acquire(strikes_key(key), self.penalty.strike_policy)
        return decision

    def enforce(
        self, key: str, policy: RateLimitPolicy | None = None, *, cost: int = 1
    ) -> RateLimitDecision:
        """Like :meth:`acquire`, but a rejection raises :class:`RateLimitExceeded`."""
        decision = self.acquire(key, policy, cost=cost)
        if not decision.allowed:
            raise self.exceeded(decision, policy)
        return decision

    def exceeded(
        self, decision: RateLimitDecision, policy: RateLimitPolicy | None = None
    ) -> RateLimitExceeded:
        """The error :meth:`enforce` raises for a rejected ``decision`` (sync and async)."""
        wait = decision.retry_after
        when = "never (the cost exceeds the limit)" if math.isinf(wait) else f"in {wait:.1f}s"
        return RateLimitExceeded(
            f"rate limit of {decision.limit} per {(policy or self.default_policy).window:g}s "
            f"exceeded; retry {when}",
            retry_after=wait,
        )

    def peek(self, key: str, policy: RateLimitPolicy | None = None) -> RateLimitDecision:
        """The key's state, counting nothing."""
        if policy is None:
            policy = self._key_policies.get(_short(key), self.default_policy)
        return self.storage.peek(user_key(key), self._effective(key, policy))

    def reset(self, key: str) -> None:
        """Forget the key's state, strikes and remembered policy."""
        self.storage.reset(user_key(key))
        if self.penalty is not None:
            self.storage.reset(strikes_key(key))
        short = _short(key)
        with self._lock:
            self._key_policies.pop(short, None)
            self._audited.pop(short, None)

    def status(
        self,
        key: str,
        max_requests: int | None = None,
        window_size: float | None = None,
    ) -> dict[str, Any]:
        """The seed's rate-limit status of ``key`` (nothing is counted).

        Without ``max_requests``/``window_size`` the policy last used for ``key`` in this
        process applies, else the default.

        Returns:
            ``key``, ``limit``, ``window_size``, ``algorithm``, ``requests_made``,
            ``requests_remaining``, ``reset_after`` (seconds), ``reset_time`` (epoch seconds),
            ``retry_after``, ``allowed`` (would a request pass now), ``penalty_level`` and
            ``headers`` (the IETF fields).
        """
        if max_requests is None and window_size is None:
            policy = self._key_policies.get(_short(key), self.default_policy)
        else:
            policy = self.policy(
                max_requests, DEFAULT_WINDOW if window_size is None else window_size
            )
        effective = self._effective(key, policy)
        decision = self.storage.peek(user_key(key), effective)
        remaining = decision.remaining
        used = max(0, effective.limit - remaining)
        return {
            "key": key,
            "limit": effective.limit,
            "window_size": policy.window,
            "algorithm": policy.algorithm,
            "requests_made": used,
            "requests_remaining": remaining,
            "reset_after": decision.reset_after,
            "reset_time": time.time() + decision.reset_after,
            "retry_after": decision.retry_after,
            "allowed": decision.allowed,
            "penalty_level": self.penalty_level(key),
            "headers": self.headers(decision, effective),
        }

    def headers(self, decision: RateLimitDecision, policy: RateLimitPolicy) -> dict[str, str]:
        """IETF ``RateLimit``/``RateLimit-Policy`` (and ``Retry-After``) for a decision."""
        return ratelimit_headers(decision, policy, name=self.policy_name)

    @property
    def rejections(self) -> int:
        """Requests rejected by this limiter since it was created."""
        return self._rejections

    def _counters(self) -> dict[str, int]:
        return {"rate_limit_rejections": self._rejections}

    def reset_counters(self) -> None:
        """Zero :attr:`rejections` (called by the metrics' reset)."""
        with self._lock:
            self._rejections = 0

    # -- bookkeeping -----------------------------------------------------------------------
    def _remember(self, key: str, policy: RateLimitPolicy) -> None:
        short = _short(key)
        with self._lock:
            policies = self._key_policies
            policies[short] = policy
            if len(policies) > _MAX_TRACKED_KEYS:
                del policies[next(iter(policies))]

    def _rejected(self, key: str, policy: RateLimitPolicy, decision: RateLimitDecision) -> None:
        if self._count_rejection(key, policy):
            self._audit(key, policy, decision)

    def _count_rejection(self, key: str, policy: RateLimitPolicy) -> bool:
        """Count a rejection; whether it is the key's first in this window (to be audited).

        Shared with :class:`tigerseal.aio.AsyncRateLimiter`, which audits off the event loop.
        """
        with self._lock:
            self._rejections += 1
            if not self.audit_rejections:
                audit = False
            else:
                now = time.monotonic()
                short = _short(key)
                last = self._audited.get(short)
                audit = last is None or now - last >= policy.window
                if audit:
                    self._audited[short] = now
                    if len(self._audited) > _MAX_TRACKED_KEYS:
                        del self._audited[next(iter(self._audited))]
        return audit

    def _audit(self, key: str, policy: RateLimitPolicy, decision: RateLimitDecision) -> None:
        try:
            from tigerseal.audit import audit_security_event

            audit_security_event(
                "excess_rate_limit_exceeded",
                risk_level="medium",
                details={
                    "subject": key
                    if len(key) <= MAX_KEY_LENGTH
                    else f"{key[:64]}... (sha256:{long_key_digest(key).hex()})",
                    "limit": policy.limit,
                    "window_seconds": policy.window,
                    "algorithm": policy.algorithm,
                    "retry_after": None
                    if math.isinf(decision.retry_after)
                    else round(decision.retry_after, 3),
                },
            )
        except Exception:
            # Rate limiting must keep working when the audit trail cannot be written; the
            # failure itself is counted and logged by the auditor.
            log.warning("could not audit a rate-limit rejection", exc_info=True)


def _short(key: str) -> str | bytes:
    """``key``, or its SHA-256 when longer than MAX_KEY_LENGTH (for in-process bookkeeping)."""
    return key if len(key) <= MAX_KEY_LENGTH else long_key_digest(key)
