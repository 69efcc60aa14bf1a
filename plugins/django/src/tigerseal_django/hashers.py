"""A Django password hasher backed by tigerseal (argon2id by default, peppers if configured).

::

    PASSWORD_HASHERS = [
        "tigerseal_django.hashers.TigerSealPasswordHasher",   # new hashes
        # Django's own stay listed so existing hashes verify and are upgraded at login:
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    ]

Stored form: ``tigerseal`` followed by tigerseal's hash, e.g.
``tigerseal$argon2id$v=19$m=65536,t=3,p=4$<salt>$<tag>``; a peppered hash carries its pepper id
as ``tigerseal$p=<id>$argon2id$...`` (kept short: ``auth_user.password`` is 128 characters).
Scheme, cost and pepper come from tigerseal's settings (``settings.TIGERSEAL`` or the
environment): ``PASSWORD_HASH_ALGORITHM``, ``TIGERSEAL_PASSWORD_PEPPER_FILE``.

Django's ``check_password`` verifies a hash with the hasher named by its prefix and, when the
first hasher here is another one (or :meth:`TigerSealPasswordHasher.must_update` says the
scheme, cost or pepper changed), re-hashes the password with the first hasher on a successful
login: old ``pbkdf2_sha256$``, ``argon2$`` and ``bcrypt_sha256$`` hashes move to tigerseal's
without a password reset.
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any

from django.contrib.auth.hashers import BasePasswordHasher, mask_hash
from django.utils.translation import gettext_noop as _

from tigerseal_django.conf import get_services

if TYPE_CHECKING:
    from tigerseal.passwords import PasswordContext

__all__ = ["TigerSealPasswordHasher"]

ALGORITHM = "tigerseal"
#: tigerseal's pepper marker and the short form it takes inside Django's 128-character column.
_TS_PEPPER = re.compile(r"\$ts-pepper\$v=1,id=([A-Za-z0-9._-]{1,32})(\$.+)", re.DOTALL)
_DJ_PEPPER = re.compile(r"\$p=([A-Za-z0-9._-]{1,32})(\$.+)", re.DOTALL)


def _to_django(tigerseal_hash: str) -> str:
    m = _TS_PEPPER.fullmatch(tigerseal_hash)
    if m:
        return f"{ALGORITHM}$p={m[1]}{m[2]}"
    return ALGORITHM + tigerseal_hash


def _to_tigerseal(encoded: str) -> str:
    if not encoded.startswith(ALGORITHM + "$"):
        raise ValueError(f"not a {ALGORITHM} hash")
    rest = encoded[len(ALGORITHM) :]
    m = _DJ_PEPPER.fullmatch(rest)
    if m:
        return f"$ts-pepper$v=1,id={m[1]}{m[2]}"
    return rest


class TigerSealPasswordHasher(BasePasswordHasher):
    """Django's hasher interface over :class:`tigerseal.passwords.PasswordContext`."""

    algorithm = ALGORITHM

    @property
    def context(self) -> PasswordContext:
        """The password context of tigerseal (from ``settings.TIGERSEAL`` or the environment)."""
        return get_services().passwords

    def salt(self) -> str:
        # The scheme draws its own salt (argon2-cffi, bcrypt); Django insists on one anyway.
        return "x"

    def encode(self, password: str, salt: str) -> str:
        """Hash ``password`` (``salt`` is ignored: the scheme generates its own).

        An empty password is never accepted by tigerseal, but Django hashes whatever it is
        given: ``ModelBackend`` hashes the submitted password for an unknown user so the
        answer takes as long as for a known one. Refusing there was a 500 for an unknown user
        against a 401 for a known one (an enumeration oracle). So ``""`` is encoded as the
        hash of a random secret: the same work, and nothing ever verifies against it
        (``check_password("", ...)`` is false, as for any empty password).
        """
        self._check_encode_args(password, salt)
        if password == "":
            return _to_django(self.context.hash(secrets.token_urlsafe(32)))
        return _to_django(self.context.hash(password))

    def verify(self, password: str, encoded: str) -> bool:
        """Whether ``password`` matches; a malformed or over-costly hash never matches."""
        from tigerseal.errors import PasswordError

        try:
            return self.context.verify(password, _to_tigerseal(encoded))
        except (PasswordError, ValueError):
            return False

    def decode(self, encoded: str) -> dict[str, Any]:
        """The parts of a stored hash (``algorithm``, ``scheme``, ``pepper``, ``hash``)."""
        inner = _to_tigerseal(encoded)
        m = _TS_PEPPER.fullmatch(inner)
        pepper, bare = (m[1], m[2]) if m else (None, inner)
        scheme = self.context.identify(bare)
        return {
            "algorithm": self.algorithm,
            "scheme": scheme.name if scheme is not None else None,
            "pepper": pepper,
            "hash": bare,
            "salt": "",
        }

    def safe_summary(self, encoded: str) -> dict[str, Any]:
        """What the admin shows: the scheme, its parameters, the pepper id, a masked hash."""
        decoded = self.decode(encoded)
        summary: dict[str, Any] = {
            _("algorithm"): decoded["algorithm"],
            _("scheme"): decoded["scheme"],
        }
        if decoded["pepper"]:
            summary[_("pepper")] = decoded["pepper"]
        bare: str = decoded["hash"]
        if bare.startswith("$argon2"):
            # $argon2id$v=19$m=...,t=...,p=...$salt$tag: parameters are not secret.
            parts = bare.split("$")
            if len(parts) == 6:
                summary[_("parameters")] = parts[3]
        summary[_("hash")] = mask_hash(bare.rsplit("$", 1)[-1])
        return summary

    def must_update(self, encoded: str) -> bool:
        """Whether the scheme, its cost or the pepper changed since this hash was made."""
        from tigerseal.errors import PasswordError

        try:
            return self.context.needs_update(_to_tigerseal(encoded))
        except (PasswordError, ValueError):
            return True

    def harden_runtime(self, password: str, encoded: str) -> None:
        """Make a failed check of a cheaper, outdated hash cost what a current one does.

        Django calls this after a wrong password against a hash that :meth:`must_update`:
        one verification at the current parameters is spent, so response times do not tell
        old accounts from new ones.
        """
        if self.must_update(encoded):
            self.context.verify(password, None)  # a dummy hash at the current parameters
