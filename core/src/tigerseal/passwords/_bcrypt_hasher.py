"""bcrypt, and passlib's bcrypt-sha256 for passwords bcrypt cannot take whole.

bcrypt reads at most 72 bytes of a password, so a plain bcrypt hash of a 72-byte password
also matches that password followed by anything. This hasher never truncates:

* passwords shorter than 72 bytes are hashed as plain ``$2b$`` bcrypt, readable by every
  bcrypt implementation (htpasswd, PHP, Go, Java, passlib...);
* passwords of 72 bytes or more are pre-hashed in passlib's versioned
  ``bcrypt_sha256`` format (``$bcrypt-sha256$v=2,t=2b,r=12$<salt>$<digest>``): the bcrypt
  input is ``base64(HMAC-SHA256(key=<salt as ASCII>, msg=password))``, 44 bytes. passlib
  reads and writes the same strings.

Verification accepts ``$2a$``, ``$2b$``, ``$2y$`` and both ``bcrypt-sha256`` versions. A
password longer than 72 bytes never matches a plain bcrypt hash (that would be a match on its
first 72 bytes only, which any suffix also gets); a plain hash of a 72-byte password verifies
that exact password and ``verify_and_update`` moves it to ``bcrypt-sha256``.

A stored hash whose cost exceeds :attr:`BcryptHasher.max_rounds` is refused without hashing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

import bcrypt

from tigerseal.passwords._base import (
    BaseHasher,
    acceptable,
    check_password,
    malformed,
    too_costly,
)

__all__ = ["BcryptHasher"]

_BCRYPT = re.compile(r"\$(2[aby])\$(\d\d)\$[./A-Za-z0-9]{53}")
_SHA256_V2 = re.compile(
    r"\$bcrypt-sha256\$v=2,t=2b,r=(\d{1,2})\$([./A-Za-z0-9]{22})\$([./A-Za-z0-9]{31})"
)
_SHA256_V1 = re.compile(
    r"\$bcrypt-sha256\$(2[ab]),(\d{1,2})\$([./A-Za-z0-9]{22})\$([./A-Za-z0-9]{31})"
)
_MAX_BYTES = 72
_DEFAULT_ROUNDS = 12
# +2 in bcrypt's log2 cost is COST_FACTOR (4x the work).
_EXTRA_ROUNDS = 2


class BcryptHasher(BaseHasher):
    """bcrypt with a work factor of ``rounds`` (default 12, about 250 ms here).

    Args:
        rounds: log2 of the work factor, 4 to 31.
    """

    name = "bcrypt"

    def __init__(self, *, rounds: int = _DEFAULT_ROUNDS, **_: Any) -> None:
        if not 4 <= rounds <= 31:
            raise ValueError(f"bcrypt rounds must be between 4 and 31, got {rounds}")
        self.rounds = rounds

    @property
    def max_rounds(self) -> int:
        """The highest cost a stored hash may have: 4x the configured (or default) work."""
        return max(self.rounds, _DEFAULT_ROUNDS) + _EXTRA_ROUNDS

    def _check_rounds(self, rounds: int) -> None:
        if rounds > self.max_rounds:
            raise too_costly("bcrypt", "cost", rounds, self.max_rounds)

    def identify(self, stored_hash: str) -> bool:
        return stored_hash.startswith(("$2a$", "$2b$", "$2y$", "$bcrypt-sha256$"))

    def hash(self, password: str) -> str:
        secret = check_password(password)
        if len(secret) < _MAX_BYTES:
            return bcrypt.hashpw(secret, bcrypt.gensalt(self.rounds)).decode("ascii")
        salt = bcrypt.gensalt(self.rounds).decode("ascii")[-22:]
        digest = bcrypt.hashpw(_v2_key(secret, salt), f"$2b${self.rounds:02d}${salt}".encode())
        return f"$bcrypt-sha256$v=2,t=2b,r={self.rounds}${salt}${digest.decode()[-31:]}"

    def verify(self, password: str, stored_hash: str) -> bool:
        if not acceptable(password):
            return False
        secret = password.encode("utf-8")
        m = _BCRYPT.fullmatch(stored_hash)
        if m:
            self._check_rounds(int(m[2]))
            if len(secret) > _MAX_BYTES:
                return False  # bcrypt would compare the first 72 bytes only (docstring)
            return _checkpw(secret, stored_hash)
        m = _SHA256_V2.fullmatch(stored_hash)
        if m:
            rounds, salt, digest = int(m[1]), m[2], m[3]
            self._check_rounds(rounds)
            return _checkpw(_v2_key(secret, salt), f"$2b${rounds:02d}${salt}{digest}")
        m = _SHA256_V1.fullmatch(stored_hash)
        if m:
            ident, rounds, salt, digest = m[1], int(m[2]), m[3], m[4]
            self._check_rounds(rounds)
            key = base64.b64encode(hashlib.sha256(secret).digest())
            return _checkpw(key, f"${ident}${rounds:02d}${salt}{digest}")
        raise malformed("bcrypt")

    def needs_update(self, stored_hash: str) -> bool:
        m = _BCRYPT.fullmatch(stored_hash)
        if m:
            return int(m[2]) < self.rounds
        m = _SHA256_V2.fullmatch(stored_hash)
        if m:
            return int(m[1]) < self.rounds
        if _SHA256_V1.fullmatch(stored_hash):
            return True  # unkeyed SHA-256 pre-hash: passlib's v2 fixed that
        raise malformed("bcrypt")

    def needs_update_after_verify(self, password: str, stored_hash: str) -> bool:
        secret = password.encode("utf-8")
        if _BCRYPT.fullmatch(stored_hash) and len(secret) >= _MAX_BYTES:
            return True  # a plain hash of a 72-byte password: move it to bcrypt-sha256
        return self.needs_update(stored_hash)


def _v2_key(secret: bytes, salt: str) -> bytes:
    # base64, not raw bytes: 44 bytes (< 72) and free of NUL, which C bcrypt stops at.
    return base64.b64encode(hmac.new(salt.encode("ascii"), secret, hashlib.sha256).digest())


def _checkpw(secret: bytes, full_hash: str) -> bool:
    try:
        return bcrypt.checkpw(secret, full_hash.encode("ascii"))
    except ValueError as exc:
        raise malformed("bcrypt") from exc
