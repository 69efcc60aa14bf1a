"""Built-in plugin: the password hashers (argon2id, bcrypt, scrypt, PBKDF2-SHA256).

Factories are import paths, so argon2-cffi and bcrypt load only when a scheme is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tigerseal.hookspecs import hookimpl
from tigerseal.spi.specs import HasherSpec

if TYPE_CHECKING:
    from tigerseal.keyuse import KeyUse, KeyUseScan

_PKG = "tigerseal.passwords"


@hookimpl
def register_password_hashers() -> list[HasherSpec]:
    """The built-in schemes; ``argon2`` is the default."""
    return [
        HasherSpec(
            name="argon2",
            factory=f"{_PKG}._argon2_hasher:Argon2Hasher",
            description="argon2id (RFC 9106), PHC strings; the default",
            aliases=("argon2id",),
        ),
        HasherSpec(
            name="bcrypt",
            factory=f"{_PKG}._bcrypt_hasher:BcryptHasher",
            description="bcrypt $2b$, and passlib's bcrypt-sha256 past 72 bytes",
        ),
        HasherSpec(
            name="scrypt",
            factory=f"{_PKG}._scrypt_hasher:ScryptHasher",
            description="scrypt (RFC 7914), passlib's $scrypt$ format",
        ),
        HasherSpec(
            name="pbkdf2-sha256",
            factory=f"{_PKG}._pbkdf2_hasher:Pbkdf2Sha256Hasher",
            description="PBKDF2-HMAC-SHA256, passlib's $pbkdf2-sha256$ format",
            aliases=("pbkdf2", "pbkdf2_sha256"),
        ),
    ]


@hookimpl
def report_key_uses(scan: KeyUseScan) -> list[KeyUse]:
    """The key versions the peppers of ``scan.pepper_files`` are wrapped under."""
    if not scan.pepper_files:
        return []
    from tigerseal.passwords._pepper import pepper_key_uses

    return [use for path in scan.pepper_files for use in pepper_key_uses(path)]
