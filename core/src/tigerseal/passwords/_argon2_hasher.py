"""argon2id (RFC 9106) through argon2-cffi: the default scheme.

Hashes are PHC strings (``$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>``), the format of the
reference implementation's CLI and of every mainstream library, so hashes move both ways.
argon2i and argon2d hashes (and the pre-1.3 format without ``v=``) verify too, and are
reported as needing an update.
"""

from __future__ import annotations

from typing import Any

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tigerseal.passwords._base import (
    COST_FACTOR,
    BaseHasher,
    acceptable,
    check_password,
    malformed,
    too_costly,
)

__all__ = ["Argon2Hasher"]

_PREFIXES = ("$argon2id$", "$argon2i$", "$argon2d$")


class Argon2Hasher(BaseHasher):
    """argon2id with RFC 9106's second recommended profile by default.

    Defaults (``RFC_9106_LOW_MEMORY``, also argon2-cffi's): t=3 iterations, m=64 MiB,
    p=4 lanes, 16-byte salt, 32-byte tag. That is above OWASP's minimum (m=19 MiB, t=2, p=1).

    Args:
        time_cost: iterations.
        memory_cost: memory in KiB.
        parallelism: lanes.
        hash_len: tag length in bytes.
        salt_len: salt length in bytes.
    """

    name = "argon2"

    def __init__(
        self,
        *,
        time_cost: int = argon2.DEFAULT_TIME_COST,
        memory_cost: int = argon2.DEFAULT_MEMORY_COST,
        parallelism: int = argon2.DEFAULT_PARALLELISM,
        hash_len: int = argon2.DEFAULT_HASH_LENGTH,
        salt_len: int = argon2.DEFAULT_RANDOM_SALT_LENGTH,
        **_: Any,
    ) -> None:
        self._ph = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=hash_len,
            salt_len=salt_len,
            type=argon2.Type.ID,
        )

    @property
    def parameters(self) -> argon2.Parameters:
        """The parameters new hashes use."""
        return argon2.Parameters(
            type=argon2.Type.ID,
            version=argon2.low_level.ARGON2_VERSION,
            salt_len=self._ph.salt_len,
            hash_len=self._ph.hash_len,
            time_cost=self._ph.time_cost,
            memory_cost=self._ph.memory_cost,
            parallelism=self._ph.parallelism,
        )

    def identify(self, stored_hash: str) -> bool:
        return stored_hash.startswith(_PREFIXES)

    def hash(self, password: str) -> str:
        return self._ph.hash(check_password(password))

    @property
    def limits(self) -> dict[str, int]:
        """The largest parameters a stored hash may ask for (``t``, ``m`` in KiB, ``p``, ``t*m``).

        Each is :data:`COST_FACTOR` times the configured value, or the default if higher.
        """
        t = max(self._ph.time_cost, argon2.DEFAULT_TIME_COST)
        m = max(self._ph.memory_cost, argon2.DEFAULT_MEMORY_COST)
        p = max(self._ph.parallelism, argon2.DEFAULT_PARALLELISM)
        return {
            "t": COST_FACTOR * t,
            "m": COST_FACTOR * m,
            "p": COST_FACTOR * p,
            "t*m": COST_FACTOR * t * m,
        }

    def _check_cost(self, stored_hash: str) -> None:
        # argon2-cffi encodes the hash as ASCII (UnicodeEncodeError otherwise), and Python's
        # int() reads non-ASCII digits the C decoder would not.
        if not stored_hash.isascii():
            raise malformed("argon2")
        try:
            params = argon2.extract_parameters(stored_hash)
        except (InvalidHashError, ValueError) as exc:
            raise malformed("argon2") from exc
        t, m, p = params.time_cost, params.memory_cost, params.parallelism
        for what, value in (("t", t), ("m", m), ("p", p), ("t*m", t * m)):
            limit = self.limits[what]
            if value > limit:
                raise too_costly("argon2", what, value, limit)

    def verify(self, password: str, stored_hash: str) -> bool:
        self._check_cost(stored_hash)
        if not acceptable(password):
            return False
        try:
            return self._ph.verify(stored_hash, password)
        except VerifyMismatchError:
            return False
        except (InvalidHashError, VerificationError) as exc:
            # A hash that decodes but whose parameters are invalid also lands here.
            raise malformed("argon2") from exc

    def needs_update(self, stored_hash: str) -> bool:
        try:
            return self._ph.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError) as exc:
            raise malformed("argon2") from exc
