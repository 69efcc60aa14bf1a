"""Interfaces of the swappable security services.

Password hashers, token signers, rate-limit storage, revocation stores and audit sinks.

Built-in implementations live in :mod:`tigerseal.passwords`, :mod:`tigerseal.tokens`,
:mod:`tigerseal.ratelimit` and :mod:`tigerseal.audit`; plugins (Redis, SQL, KMS signers)
implement the same classes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tigerseal.errors import ConfigError

__all__ = [
    "RATE_LIMIT_ALGORITHMS",
    "AuditSink",
    "PasswordHasher",
    "RateLimitAlgorithm",
    "RateLimitDecision",
    "RateLimitPolicy",
    "RateLimitStorage",
    "RevocationStore",
    "TokenSigner",
]


class PasswordHasher(ABC):
    """One password-hashing scheme (argon2id, bcrypt, scrypt, pbkdf2-sha256, ...)."""

    #: Scheme name: config value of ``PASSWORD_HASH_ALGORITHM`` and entry-point name.
    name: str

    @abstractmethod
    def identify(self, stored_hash: str) -> bool:
        """Whether ``stored_hash`` was produced by this scheme (PHC or modular-crypt prefix)."""

    @abstractmethod
    def hash(self, password: str) -> str:
        """Hash a password with this scheme's current parameters."""

    @abstractmethod
    def verify(self, password: str, stored_hash: str) -> bool:
        """Check a password against a hash of this scheme, in constant time where it matters."""

    @abstractmethod
    def needs_update(self, stored_hash: str) -> bool:
        """Whether the hash uses parameters weaker than the current ones."""


class TokenSigner(ABC):
    """A JWS signing key whose private part may live outside the process (KMS, HSM)."""

    #: JWS ``alg`` value, e.g. ``"ES256"``.
    algorithm: str
    #: Key id placed in the JWT header.
    kid: str

    @abstractmethod
    def sign(self, signing_input: bytes) -> bytes:
        """Return the JWS signature (raw, as RFC 7518 encodes it) over ``signing_input``."""

    @abstractmethod
    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK (with ``kid``, ``alg``, ``use``) for JWKS export."""


RateLimitAlgorithm = Literal["sliding_window_log", "sliding_window_counter", "gcra"]

#: The algorithms every :class:`RateLimitStorage` implements.
RATE_LIMIT_ALGORITHMS: tuple[RateLimitAlgorithm, ...] = (
    "sliding_window_log",
    "sliding_window_counter",
    "gcra",
)


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """A limit: ``limit`` units per ``window`` seconds, enforced by ``algorithm``.

    Semantics shared by every storage (memory, Redis, ...), with ``now`` the storage's clock
    (epoch seconds) and ``cost`` the units a hit asks for:

    * ``sliding_window_log``: one entry per admitted unit. A hit is admitted iff the entries in
      ``(now - window, now]`` plus ``cost`` are at most ``limit``; admitted units are recorded
      at ``now``. Exact, O(limit) state per key.
    * ``sliding_window_counter``: fixed windows ``[k*window, (k+1)*window)``; the previous
      window's count is weighted by the share of it still inside the sliding window
      (``p * (window - elapsed) / window + c``). Admitted iff that estimate plus ``cost`` is at
      most ``limit`` (+1e-9). O(1) state, approximate at window boundaries.
    * ``gcra``: emission interval ``T = window / limit``, tolerance ``tau = burst * T``; with
      ``tat = max(stored, now)`` a hit is admitted iff ``now >= tat + cost*T - tau``, and then
      stores ``tat + cost*T``. O(1) state, smooth: at most ``burst`` at once, then one unit
      every ``T`` seconds.

    Args:
        limit: units admitted per window (>= 1).
        window: window length in seconds (> 0).
        algorithm: one of :data:`RATE_LIMIT_ALGORITHMS`.
        burst: GCRA only: units admissible at once; defaults to ``limit`` (the whole window may
            be spent at once, as with the sliding windows).

    Raises:
        ConfigError: a value is out of range or the algorithm is unknown.
    """

    limit: int
    window: float
    algorithm: RateLimitAlgorithm = "sliding_window_log"
    burst: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ConfigError(
                f"a rate limit must be a whole number of requests >= 1, got {self.limit!r}"
            )
        if isinstance(self.window, bool) or not isinstance(self.window, int | float):
            raise ConfigError(f"a rate-limit window is a number of seconds, got {self.window!r}")
        if not 0 < self.window < float("inf"):
            raise ConfigError(
                f"a rate-limit window must be a positive number of seconds, got {self.window!r}"
            )
        if self.algorithm not in RATE_LIMIT_ALGORITHMS:
            raise ConfigError(
                f"unknown rate-limit algorithm {self.algorithm!r}; "
                f"use one of: {', '.join(RATE_LIMIT_ALGORITHMS)}"
            )
        if self.burst is not None and (
            isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1
        ):
            raise ConfigError(f"a GCRA burst must be a whole number >= 1, got {self.burst!r}")

    @property
    def burst_size(self) -> int:
        """The GCRA burst in effect (``burst`` or ``limit``)."""
        return self.limit if self.burst is None else self.burst


@dataclass(slots=True)
class RateLimitDecision:
    """Outcome of one rate-limit check. Treat it as read-only.

    (Not ``frozen``: a frozen dataclass costs about a microsecond more to build, which is a
    third of a memory decision.)

    Attributes:
        allowed: whether the hit was admitted (and counted). For :meth:`RateLimitStorage.peek`,
            whether a hit of cost 1 would be admitted now.
        limit: the policy's limit.
        remaining: units left after this hit (>= 0).
        reset_after: seconds until the key is fully replenished (0: no state).
        retry_after: seconds until a hit of the same cost would be admitted (0 if allowed;
            ``math.inf`` if it never can be: cost above the limit or burst).
    """

    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    retry_after: float


class RateLimitStorage(ABC):
    """Where rate-limit state lives. Each call is one atomic decision (one round trip remote).

    Implementations implement the three algorithms of :class:`RateLimitPolicy` with exactly the
    semantics documented there, so a limit behaves the same in memory and in Redis. State is
    kept per ``(key, algorithm)``; one key used with several limits of one algorithm shares
    its entries (the sliding log keeps timestamps, so a smaller limit simply sees more of them).
    """

    @abstractmethod
    def acquire(
        self, key: str, policy: RateLimitPolicy, cost: int = 1, *, now: float | None = None
    ) -> RateLimitDecision:
        """Count ``cost`` units against ``key`` if the policy admits them.

        Args:
            key: the rate-limited identity (API key id, user, IP). Any string.
            policy: the limit to enforce.
            cost: units this hit uses (>= 0; 0 counts nothing).
            now: the current time in the storage's clock (epoch seconds); tests only.

        Returns:
            The decision; a rejected hit counts nothing.

        Raises:
            ConfigError: ``cost`` is negative or not an integer.
        """

    @abstractmethod
    def peek(
        self, key: str, policy: RateLimitPolicy, *, now: float | None = None
    ) -> RateLimitDecision:
        """Report the state for ``key`` without counting anything (as for a hit of cost 1)."""

    @abstractmethod
    def reset(self, key: str) -> None:
        """Forget everything about ``key`` (every algorithm)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class RevocationStore(ABC):
    """Denylist of token ids and refresh-token families, with entries expiring with the token."""

    @abstractmethod
    def revoke(self, jti: str, expires_at: float) -> None:
        """Revoke one token id until ``expires_at`` (epoch seconds)."""

    @abstractmethod
    def is_revoked(self, jti: str) -> bool:
        """Whether the token id is revoked."""

    @abstractmethod
    def revoke_family(self, family_id: str, expires_at: float) -> None:
        """Revoke every refresh token of a family."""

    @abstractmethod
    def is_family_revoked(self, family_id: str) -> bool:
        """Whether the refresh-token family is revoked."""

    @abstractmethod
    def mark_used(self, jti: str, expires_at: float) -> bool:
        """Atomically record a refresh token as used; ``False`` if it was already used (reuse)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class AuditSink(ABC):
    """Destination of audit records. Records arrive already redacted."""

    @abstractmethod
    def write(self, record: Mapping[str, Any]) -> None:
        """Persist one audit record (chaining it where the sink is tamper-evident)."""

    def flush(self) -> None:  # noqa: B027 - optional hook
        """Make written records durable."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release resources."""
