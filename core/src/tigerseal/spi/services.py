"""Interfaces of the swappable security services: password hashers, token signers, rate-limit
storage, revocation stores and audit sinks.

Built-in implementations live in :mod:`tigerseal.passwords`, :mod:`tigerseal.tokens`,
:mod:`tigerseal.ratelimit` and :mod:`tigerseal.audit`; plugins (Redis, SQL, KMS signers)
implement the same classes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
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


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """A limit: ``limit`` units per ``window`` seconds, enforced by ``algorithm``.

    For GCRA, ``burst`` defaults to ``limit`` (the whole window may be spent at once).
    """

    limit: int
    window: float
    algorithm: RateLimitAlgorithm = "sliding_window_log"
    burst: int | None = None


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    """Outcome of one rate-limit check.

    Attributes:
        allowed: whether the hit was admitted (and counted).
        limit: the policy's limit.
        remaining: units left in the current window after this hit.
        reset_after: seconds until the window is fully replenished.
        retry_after: seconds until a hit of the same cost would be admitted (0 if allowed).
    """

    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    retry_after: float


class RateLimitStorage(ABC):
    """Where rate-limit state lives. Each call is one atomic decision (one round trip remote)."""

    @abstractmethod
    def acquire(
        self, key: str, policy: RateLimitPolicy, cost: int = 1, *, now: float | None = None
    ) -> RateLimitDecision:
        """Count ``cost`` units against ``key`` if the policy admits them."""

    @abstractmethod
    def peek(
        self, key: str, policy: RateLimitPolicy, *, now: float | None = None
    ) -> RateLimitDecision:
        """Report the state for ``key`` without counting anything."""

    @abstractmethod
    def reset(self, key: str) -> None:
        """Forget everything about ``key``."""

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
