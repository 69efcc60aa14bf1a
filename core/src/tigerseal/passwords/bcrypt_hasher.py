"""bcrypt, and passlib's bcrypt-sha256 for passwords bcrypt cannot take whole.

bcrypt reads at most 72 bytes of a password. This hasher never truncates when it hashes:

* passwords of at most 72 bytes are hashed as plain ``$2b$`` bcrypt, readable by every
  bcrypt implementation (htpasswd, PHP, Go, Java, passlib...);
* longer passwords are pre-hashed in passlib's versioned
  ``bcrypt_sha256`` format (``$bcrypt-sha256$v=2,t=2b,r=12$<salt>$<digest>``): the bcrypt
  input is ``base64(HMAC-SHA256(key=<salt as ASCII>, msg=password))``, 44 bytes. passlib
  reads and writes the same strings.

Verification accepts ``$2a$``, ``$2b$``, ``$2y$`` and both ``bcrypt-sha256`` versions. A plain
bcrypt hash written elsewhere was computed from the first 72 bytes of a longer password, so
for such a hash (and only there) the first 72 bytes are compared, as the writing
implementation did; ``verify_and_update`` then replaces it with an untruncated hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

import bcrypt

from tigerseal.passwords._base import BaseHasher, acceptable, check_password, malformed

__all__ = ["BcryptHasher"]

_BCRYPT = re.compile(r"^\$(2[aby])\$(\d\d)\$[./A-Za-z0-9]{53}$")
_SHA256_V2 = re.compile(
    r"^\$bcrypt-sha256\$v=2,t=2b,r=(\d{1,2})\$([./A-Za-z0-9]{22})\$([./A-Za-z0-9]{31})$"
)
_SHA256_V1 = re.compile(
    r"^\$bcrypt-sha256\$(2[ab]),(\d{1,2})\$([./A-Za-z0-9]{22})\$([./A-Za-z0-9]{31})$"
)
_MAX_BYTES = 72


class BcryptHasher(BaseHasher):
    """bcrypt with a work factor of ``rounds`` (default 12, about 250 ms here).

    Args:
        rounds: log2 of the work factor, 4 to 31.
    """

    name = "bcrypt"

    def __init__(self, *, rounds: int = 12, **_: Any) -> None:
        if not 4 <= rounds <= 31:
            raise ValueError(f"bcrypt rounds must be between 4 and 31, got {rounds}")
        self.rounds = rounds

    def identify(self, stored_hash: str) -> bool:
        return stored_hash.startswith(("$2a$", "$2b$", "$2y$", "$bcrypt-sha256$"))

    def hash(self, password: str) -> str:
        secret = check_password(password)
        if len(secret) <= _MAX_BYTES:
            return bcrypt.hashpw(secret, bcrypt.gensalt(self.rounds)).decode("ascii")
        salt = bcrypt.gensalt(self.rounds).decode("ascii")[-22:]
        digest = bcrypt.hashpw(_v2_key(secret, salt), f"$2b${self.rounds:02d}${salt}".encode())
        return f"$bcrypt-sha256$v=2,t=2b,r={self.rounds}${salt}${digest.decode()[-31:]}"

    def verify(self, password: str, stored_hash: str) -> bool:
        if not acceptable(password):
            return False
        secret = password.encode("utf-8")
        if _BCRYPT.match(stored_hash):
            # Legacy semantics for hashes written by other implementations (module docstring).
            return _checkpw(secret[:_MAX_BYTES], stored_hash)
        m = _SHA256_V2.match(stored_hash)
        if m:
            rounds, salt, digest = int(m[1]), m[2], m[3]
            return _checkpw(_v2_key(secret, salt), f"$2b${rounds:02d}${salt}{digest}")
        m = _SHA256_V1.match(stored_hash)
        if m:
            ident, rounds, salt, digest = m[1], int(m[2]), m[3], m[4]
            key = base64.b64encode(hashlib.sha256(secret).digest())
            return _checkpw(key, f"${ident}${rounds:02d}${salt}{digest}")
        raise malformed("bcrypt")

    def needs_update(self, stored_hash: str) -> bool:
        m = _BCRYPT.match(stored_hash)
        if m:
            return int(m[2]) < self.rounds
        m = _SHA256_V2.match(stored_hash)
        if m:
            return int(m[1]) < self.rounds
        if _SHA256_V1.match(stored_hash):
            return True  # unkeyed SHA-256 pre-hash: passlib's v2 fixed that
        raise malformed("bcrypt")

    def needs_update_after_verify(self, password: str, stored_hash: str) -> bool:
        secret = password.encode("utf-8")
        if _BCRYPT.match(stored_hash) and len(secret) > _MAX_BYTES:
            return True  # it verified on a truncated password: store an untruncated hash
        return self.needs_update(stored_hash)


def _v2_key(secret: bytes, salt: str) -> bytes:
    # base64, not raw bytes: 44 bytes (< 72) and free of NUL, which C bcrypt stops at.
    return base64.b64encode(hmac.new(salt.encode("ascii"), secret, hashlib.sha256).digest())


def _checkpw(secret: bytes, full_hash: str) -> bool:
    try:
        return bcrypt.checkpw(secret, full_hash.encode("ascii"))
    except ValueError as exc:
        raise malformed("bcrypt") from exc
