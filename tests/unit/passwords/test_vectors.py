"""Hashes written by other implementations verify (and wrong passwords do not)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from argon2.low_level import Type, hash_secret

from tests.unit.passwords.conftest import make_context

# The argon2 reference implementation's README example:
#   echo -n "password" | ./argon2 somesalt -t 2 -m 16 -p 4 -l 24
ARGON2_REFERENCE_CLI = "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"

# bcrypt: John the Ripper and Openwall crypt_blowfish test vectors (as collected by passlib).
BCRYPT_VECTORS = [
    ("U*U*U*U*", "$2a$05$c92SVSfjeiCD6F2nAD6y0uBpJDjdRkt0EgeC4/31Rf2LUZbDRDE.O"),
    ("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
    ("U*U*U", "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a"),
    ("abcdefghijklmnopqrstuvwxyz", "$2a$10$fVH8e28OQRj9tqiDXs1e1uxpsjN0c7II7YPKXua2NAKYvM6iQk7dq"),
    (
        "~!@#$%^&*()      ~!@#$%^&*()PNBFRD",
        "$2a$10$LgfYWkbzEvQ4JakH7rOvHe0y8pHKF9OaFgwUZ2q7W2FFZmZzJYlfS",
    ),
    ("U*U*", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK"),
    # For ASCII passwords $2a$, $2b$ and $2y$ (PHP, htpasswd -B) compute the same hash.
    ("U*U*U*U*", "$2y$05$c92SVSfjeiCD6F2nAD6y0uBpJDjdRkt0EgeC4/31Rf2LUZbDRDE.O"),
    ("U*U*U*U*", "$2b$05$c92SVSfjeiCD6F2nAD6y0uBpJDjdRkt0EgeC4/31Rf2LUZbDRDE.O"),
]

# passlib's bcrypt_sha256 (v2: HMAC-SHA256 keyed by the salt; v1: plain SHA-256).
BCRYPT_SHA256_VECTORS = [
    (
        "password",
        "$bcrypt-sha256$v=2,t=2b,r=5$5Hg1DKFqPE8C2aflZ5vVoe$wOK1VFFtS8IGTrGa7.h5fs0u84qyPbS",
    ),
    (
        "abc123" * 12,
        "$bcrypt-sha256$v=2,t=2b,r=5$X1g1nh3g0v4h6970O68cxe$zu1cloESVFIOsUIo7fCEgkdHaI9SSue",
    ),
    (
        "abc123" * 12 + "qwr",
        "$bcrypt-sha256$v=2,t=2b,r=5$X1g1nh3g0v4h6970O68cxe$CBF9csfEdW68xv3DwE6xSULXMtqEFP.",
    ),
    ("password", "$bcrypt-sha256$2a,5$5Hg1DKFqPE8C2aflZ5vVoe$12BjNE0p7axMg55.Y/mHsYiVuFBDQyu"),
]

# passlib's $scrypt$ format; the first is the scrypt paper's test vector (salt "NaCl").
SCRYPT_VECTORS = [
    ("password", "$scrypt$ln=10,r=8,p=16$TmFDbA$/bq+HJ00cgB4VucZDQHp/nxq18vII3gw53N2Y0s3MWI"),
    (
        "test",
        "$scrypt$ln=8,r=8,p=1$wlhLyXmP8b53bm1NKYVQqg$mTpvG8lzuuDk+DWz8HZIB6Vum6erDuUm0As5yU+VxWA",
    ),
    (
        "nacl",
        "$scrypt$ln=1,r=4,p=2$yhnD+J+Tci4lZCwFgHCuVQ$fAsEWmxSHuC0cHKMwKVFPzrQukgvK09Sj+NueTSxKds",
    ),
]

# passlib's $pbkdf2-sha256$ format.
PBKDF2_VECTORS = [
    (
        "password",
        "$pbkdf2-sha256$1212$4vjV83LKPjQzk31VI4E0Vw$hsYF68OiOUPdDZ1Fg.fJPeq1h/gXXY7acBp9/6c.tmQ",
    ),
]


@pytest.mark.parametrize(
    ("password", "stored"),
    [
        ("password", ARGON2_REFERENCE_CLI),
        *BCRYPT_VECTORS,
        *BCRYPT_SHA256_VECTORS,
        *SCRYPT_VECTORS,
        *PBKDF2_VECTORS,
    ],
)
def test_known_vectors_verify(password: str, stored: str) -> None:
    ctx = make_context()
    assert ctx.verify(password, stored)
    assert not ctx.verify(password + "x", stored)
    assert not ctx.verify(password[:-1] or "y", stored)


@pytest.mark.parametrize("kind", [Type.ID, Type.I, Type.D])
def test_argon2_low_level_phc_strings_verify(kind: Type) -> None:
    # argon2-cffi's low-level API is a second writer of PHC strings (the reference's encoder).
    stored = hash_secret(b"pa55 w0rd", b"0123456789abcdef", 2, 4096, 2, 32, kind).decode()
    ctx = make_context()
    assert ctx.verify("pa55 w0rd", stored)
    assert not ctx.verify("pa55 w0rD", stored)
    assert ctx.needs_update(stored)  # other parameters (and i/d types) than the default


def test_argon2_pre_13_format_without_version_verifies() -> None:
    # Argon2 1.0 (version 0x10) hashes were encoded without "v=": "$argon2i$m=...".
    stored = hash_secret(b"secret", b"somesaltsomesalt", 2, 1024, 1, 16, Type.I, version=0x10)
    old_format = stored.decode().replace("$v=16$", "$", 1)
    assert "v=" not in old_format
    ctx = make_context()
    assert ctx.verify("secret", old_format)
    assert not ctx.verify("secreT", old_format)
    assert ctx.needs_update(old_format)


def test_django_pbkdf2_hashes_verify_and_need_update() -> None:
    salt, iterations = "seasalt1234", 260000
    digest = hashlib.pbkdf2_hmac("sha256", b"django pw", salt.encode(), iterations)
    stored = f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"
    ctx = make_context("pbkdf2-sha256")
    assert ctx.verify("django pw", stored)
    assert not ctx.verify("django PW", stored)
    ok, new = ctx.verify_and_update("django pw", stored)
    assert ok
    assert new is not None
    assert new.startswith("$pbkdf2-sha256$1000$")


def test_htpasswd_style_2y_hash_written_with_bcrypt_directly() -> None:
    import bcrypt

    stored = bcrypt.hashpw(b"apache", bcrypt.gensalt(5)).decode().replace("$2b$", "$2y$", 1)
    assert make_context().verify("apache", stored)


def test_our_hashes_are_readable_by_the_reference_libraries() -> None:
    import argon2
    import bcrypt

    ctx = make_context()
    assert argon2.PasswordHasher().verify(ctx.hash("interop"), "interop")
    assert bcrypt.checkpw(b"interop", ctx.hasher("bcrypt").hash("interop").encode())
    stored = ctx.hasher("pbkdf2-sha256").hash("interop")
    _, _, rounds, salt, digest = stored.split("$")

    def ab64(text: str) -> bytes:
        text = text.replace(".", "+")
        return base64.b64decode(text + "=" * (-len(text) % 4))

    assert hashlib.pbkdf2_hmac("sha256", b"interop", ab64(salt), int(rounds)) == ab64(digest)
