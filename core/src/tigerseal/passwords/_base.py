"""Shared pieces of the built-in hashers: input checks and the base64 flavours of hash formats."""

from __future__ import annotations

import base64
import binascii

from tigerseal.errors import PasswordError
from tigerseal.spi.services import PasswordHasher

__all__ = [
    "COST_FACTOR",
    "MAX_PASSWORD_CHARS",
    "BaseHasher",
    "ab64_decode",
    "ab64_encode",
    "b64_decode",
    "too_costly",
]

#: Longer passwords are refused (Django's limit): hashing cost must not scale with input an
#: attacker controls, and no real password is this long.
MAX_PASSWORD_CHARS = 4096
#: A stored hash may ask for at most this many times the work of the hasher's configured
#: parameters (or of the defaults, if configured lower). Work factors are usually raised by
#: doubling, so 4x leaves room for two raises elsewhere while a planted hash (argon2 t=2^32-1,
#: bcrypt cost 31, PBKDF2 10M rounds) is refused before any hashing: one login cannot cost
#: more than about four ordinary ones.
COST_FACTOR = 4


class BaseHasher(PasswordHasher):
    """Common behaviour of the built-in hashers."""

    def needs_update_after_verify(self, password: str, stored_hash: str) -> bool:
        """Whether a hash that just verified for ``password`` should be replaced.

        Defaults to :meth:`needs_update`; bcrypt also answers true when a legacy hash only
        verified through 72-byte truncation.
        """
        return self.needs_update(stored_hash)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def check_password(password: object) -> bytes:
    """Validate a password given to ``hash`` and return its UTF-8 bytes."""
    if not isinstance(password, str):
        raise TypeError(f"password must be str, not {type(password).__name__}")
    if not password:
        raise PasswordError("the password is empty; refusing to hash an empty password")
    if len(password) > MAX_PASSWORD_CHARS:
        raise PasswordError(
            f"the password is longer than {MAX_PASSWORD_CHARS} characters; refusing to hash it"
        )
    if "\x00" in password:
        raise PasswordError("the password contains a NUL character; refusing to hash it")
    try:
        return password.encode("utf-8")
    except UnicodeEncodeError:
        # json.loads accepts lone surrogates ("\ud800"), so this comes from request bodies.
        raise PasswordError(
            "the password contains an unpaired surrogate and is not valid Unicode text; "
            "refusing to hash it"
        ) from None


def acceptable(password: object) -> bool:
    """Whether ``verify`` should even try: a str within the length limit."""
    if not isinstance(password, str):
        raise TypeError(f"password must be str, not {type(password).__name__}")
    # NUL is refused because schemes disagree on it: C bcrypt stops there, and HMAC (inside
    # PBKDF2) pads keys with zeros, so "pw" and "pw\0" would be the same password.
    if not (0 < len(password) <= MAX_PASSWORD_CHARS) or "\x00" in password:
        return False
    # A lone surrogate ("\ud800", which json.loads accepts) cannot be UTF-8 encoded, so no
    # stored hash can match it; answer False instead of letting UnicodeEncodeError escape.
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def too_costly(scheme: str, what: str, value: int, limit: int) -> PasswordError:
    """The error for a stored hash whose parameters exceed this server's cost limit."""
    return PasswordError(
        f"the stored {scheme} hash asks for {what}={value}, above this server's limit of "
        f"{limit} ({COST_FACTOR}x the configured cost); it was not checked. If it is a real "
        "hash from a costlier system, raise the configured cost; otherwise reset the password"
    )


def malformed(scheme: str) -> PasswordError:
    """The error for a stored hash that names ``scheme`` but cannot be parsed."""
    return PasswordError(
        f"the stored {scheme} hash is malformed (truncated or edited?); reset the password"
    )


def b64_decode(text: str) -> bytes:
    """Standard base64 with or without padding (PHC and passlib ``b64s``)."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("invalid base64") from exc


def b64_encode(data: bytes) -> str:
    """Standard base64 without padding."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def ab64_encode(data: bytes) -> str:
    """Passlib's "adapted base64": ``.`` instead of ``+``, no padding."""
    return b64_encode(data).replace("+", ".")


def ab64_decode(text: str) -> bytes:
    """Decode passlib's adapted base64."""
    if "+" in text:
        raise ValueError("invalid ab64")
    return b64_decode(text.replace(".", "+"))
