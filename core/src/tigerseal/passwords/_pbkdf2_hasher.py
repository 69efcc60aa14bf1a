"""PBKDF2-HMAC-SHA256 in passlib's ``$pbkdf2-sha256$`` format (also reads Django's).

Format written: ``$pbkdf2-sha256$<iterations>$<salt>$<digest>`` with a 16-byte salt and
32-byte digest in passlib's "adapted base64" (``.`` for ``+``, no padding). passlib and
libraries that follow it (e.g. Flask-Security, Airflow) read and write the same strings.
Django's ``pbkdf2_sha256$<iterations>$<salt>$<base64 digest>`` verifies too and is reported as
needing an update.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from typing import Any

from tigerseal.config import DEFAULT_PBKDF2_ITERATIONS
from tigerseal.passwords._base import (
    COST_FACTOR,
    BaseHasher,
    ab64_decode,
    ab64_encode,
    acceptable,
    check_password,
    malformed,
    too_costly,
)

__all__ = ["Pbkdf2Sha256Hasher"]

_PASSLIB = re.compile(r"\$pbkdf2-sha256\$([1-9]\d{0,9})\$([./A-Za-z0-9]*)\$([./A-Za-z0-9]{43})")
_DJANGO = re.compile(r"pbkdf2_sha256\$([1-9]\d{0,9})\$([^$]{1,128})\$([A-Za-z0-9+/]{43}=)")
# The largest configurable cost. Iterations read from a stored hash are bounded lower, by
# COST_FACTOR times the configured (or default) count, so a planted hash cannot stall a login.
_MAX_ITERATIONS = 10_000_000


class Pbkdf2Sha256Hasher(BaseHasher):
    """PBKDF2-HMAC-SHA256 with ``iterations`` rounds (default 600,000, OWASP 2023).

    Args:
        iterations: rounds for new hashes (``PBKDF2_ITERATIONS``).
        salt_len: salt length in bytes.
    """

    name = "pbkdf2-sha256"

    def __init__(
        self, *, iterations: int = DEFAULT_PBKDF2_ITERATIONS, salt_len: int = 16, **_: Any
    ) -> None:
        if not 1 <= iterations <= _MAX_ITERATIONS:
            raise ValueError(f"iterations must be between 1 and {_MAX_ITERATIONS}")
        self.iterations, self.salt_len = iterations, salt_len

    def identify(self, stored_hash: str) -> bool:
        return stored_hash.startswith(("$pbkdf2-sha256$", "pbkdf2_sha256$"))

    def hash(self, password: str) -> str:
        secret = check_password(password)
        salt = secrets.token_bytes(self.salt_len)
        digest = hashlib.pbkdf2_hmac("sha256", secret, salt, self.iterations)
        return f"$pbkdf2-sha256${self.iterations}${ab64_encode(salt)}${ab64_encode(digest)}"

    @property
    def max_iterations(self) -> int:
        """The most iterations a stored hash may ask for (see :data:`COST_FACTOR`)."""
        return COST_FACTOR * max(self.iterations, DEFAULT_PBKDF2_ITERATIONS)

    def verify(self, password: str, stored_hash: str) -> bool:
        iterations, salt, digest, _ = _parse(stored_hash)
        if iterations > self.max_iterations:
            raise too_costly("pbkdf2-sha256", "iterations", iterations, self.max_iterations)
        if not acceptable(password):
            return False
        got = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
        return hmac.compare_digest(got, digest)

    def needs_update(self, stored_hash: str) -> bool:
        iterations, salt, _, django = _parse(stored_hash)
        return django or iterations < self.iterations or len(salt) < self.salt_len


def _parse(stored_hash: str) -> tuple[int, bytes, bytes, bool]:
    m = _PASSLIB.fullmatch(stored_hash)
    try:
        if m:
            iterations, salt, digest = int(m[1]), ab64_decode(m[2]), ab64_decode(m[3])
            django = False
        else:
            m = _DJANGO.fullmatch(stored_hash)
            if not m:
                raise malformed("pbkdf2-sha256")
            # Django uses the salt string itself (not decoded) as the PBKDF2 salt.
            iterations, salt = int(m[1]), m[2].encode("utf-8")
            digest = base64.b64decode(m[3], validate=True)
            django = True
    except (ValueError, binascii.Error) as exc:
        raise malformed("pbkdf2-sha256") from exc
    if len(digest) != 32:
        raise malformed("pbkdf2-sha256")
    return iterations, salt, digest, django
