"""scrypt (RFC 7914) through hashlib, in passlib's ``$scrypt$`` format.

Format: ``$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<digest>`` with salt and 32-byte digest in
standard base64 without padding, exactly as passlib writes it, so hashes move both ways.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

from tigerseal.passwords._base import (
    COST_FACTOR,
    BaseHasher,
    acceptable,
    b64_decode,
    b64_encode,
    check_password,
    malformed,
    too_costly,
)

__all__ = ["ScryptHasher"]

_FORMAT = re.compile(
    r"\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]*)\$([A-Za-z0-9+/]{43})"
)
# Parameters read from a stored hash are bounded, so a planted hash cannot make one
# verification allocate gigabytes.
_MAX_LN, _MAX_R, _MAX_P = 22, 32, 64
_MAX_MEMORY = 1 << 30
_DIGEST = 32
_DEFAULT_LN, _DEFAULT_R, _DEFAULT_P = 17, 8, 1
# Besides N*r*p ROMix steps, scrypt runs PBKDF2-HMAC-SHA256 over 128*r*p bytes twice; that
# costs about 6 ROMix steps per unit of r*p (measured with hashlib: N=2 vs N=64 at r=p=256),
# so a hash with tiny N and huge r*p is not cheap. Counted as 8 to stay on the safe side.
_PBKDF2_WORK = 8


class ScryptHasher(BaseHasher):
    """scrypt with OWASP's parameters by default: N=2^17, r=8, p=1 (128 MiB per hash).

    Args:
        ln: log2 of the CPU/memory cost N.
        r: block size.
        p: parallelism.
        salt_len: salt length in bytes.
    """

    name = "scrypt"

    def __init__(
        self,
        *,
        ln: int = _DEFAULT_LN,
        r: int = _DEFAULT_R,
        p: int = _DEFAULT_P,
        salt_len: int = 16,
        **_: Any,
    ):
        if not (1 <= ln <= _MAX_LN and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
            raise ValueError(
                f"scrypt parameters out of range (ln<={_MAX_LN}, r<={_MAX_R}, p<={_MAX_P})"
            )
        if _memory(ln, r, p) > _MAX_MEMORY:
            raise ValueError("scrypt parameters need more than 1 GiB per hash")
        self.ln, self.r, self.p, self.salt_len = ln, r, p, salt_len

    def identify(self, stored_hash: str) -> bool:
        return stored_hash.startswith("$scrypt$")

    def hash(self, password: str) -> str:
        secret = check_password(password)
        salt = secrets.token_bytes(self.salt_len)
        digest = _scrypt(secret, salt, self.ln, self.r, self.p)
        return f"$scrypt$ln={self.ln},r={self.r},p={self.p}${b64_encode(salt)}${b64_encode(digest)}"

    @property
    def limits(self) -> dict[str, int]:
        """The most a stored hash may ask for: work ``(N+8)*r*p`` and memory in bytes.

        Each is :data:`COST_FACTOR` times the configured parameters' (or the defaults', if
        higher); memory never above 1 GiB.
        """
        default = (_DEFAULT_LN, _DEFAULT_R, _DEFAULT_P)
        ours = (self.ln, self.r, self.p)
        return {
            "(N+8)*r*p": COST_FACTOR * max(_work(*ours), _work(*default)),
            "memory": min(_MAX_MEMORY, COST_FACTOR * max(_memory(*ours), _memory(*default))),
        }

    def verify(self, password: str, stored_hash: str) -> bool:
        ln, r, p, salt, digest = _parse(stored_hash)
        for what, value in (("(N+8)*r*p", _work(ln, r, p)), ("memory", _memory(ln, r, p))):
            limit = self.limits[what]
            if value > limit:
                raise too_costly("scrypt", what, value, limit)
        if not acceptable(password):
            return False
        try:
            got = _scrypt(password.encode("utf-8"), salt, ln, r, p)
        except ValueError as exc:
            # Within the cost bounds but not valid scrypt parameters (RFC 7914 needs
            # N < 2^(16r)); OpenSSL reports that as a ValueError.
            raise malformed("scrypt") from exc
        return hmac.compare_digest(got, digest)

    def needs_update(self, stored_hash: str) -> bool:
        ln, r, p, salt, _ = _parse(stored_hash)
        return (ln, r, p) != (self.ln, self.r, self.p) or len(salt) < self.salt_len


def _work(ln: int, r: int, p: int) -> int:
    return ((1 << ln) + _PBKDF2_WORK) * r * p


def _memory(ln: int, r: int, p: int) -> int:
    return 128 * r * ((1 << ln) + p + 2)


def _scrypt(secret: bytes, salt: bytes, ln: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret, salt=salt, n=1 << ln, r=r, p=p, dklen=_DIGEST, maxmem=_memory(ln, r, p) + (1 << 20)
    )


def _parse(stored_hash: str) -> tuple[int, int, int, bytes, bytes]:
    m = _FORMAT.fullmatch(stored_hash)
    if not m:
        raise malformed("scrypt")
    ln, r, p = int(m[1]), int(m[2]), int(m[3])
    if not (ln >= 1 and r >= 1 and p >= 1):
        raise malformed("scrypt")
    # The cost is bounded by ScryptHasher.limits before any hashing (verify).
    try:
        salt, digest = b64_decode(m[4]), b64_decode(m[5])
    except ValueError as exc:
        raise malformed("scrypt") from exc
    if len(digest) != _DIGEST:
        raise malformed("scrypt")
    return ln, r, p, salt, digest
