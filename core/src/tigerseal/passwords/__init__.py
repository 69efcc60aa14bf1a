"""Password hashing: argon2id by default, bcrypt, scrypt and PBKDF2-SHA256, plus policy checks.

::

    from tigerseal.passwords import hash_password, verify_and_update

    stored = hash_password("correct horse battery staple")
    ok, new_hash = verify_and_update("correct horse battery staple", stored)
    if ok and new_hash:
        save(new_hash)  # the scheme, its parameters or the pepper changed since

The scheme of a stored hash is identified from its prefix, so hashes from other
implementations verify (argon2 PHC strings, ``$2a$``/``$2b$``/``$2y$`` bcrypt, passlib's
``$bcrypt-sha256$``, ``$scrypt$`` and ``$pbkdf2-sha256$``, Django's ``pbkdf2_sha256$``).
Schemes are plugins (hook ``register_password_hashers``); ``PASSWORD_HASH_ALGORITHM`` picks the
one for new hashes. Names are imported lazily: argon2-cffi and bcrypt load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tigerseal.passwords.argon2_hasher import Argon2Hasher
    from tigerseal.passwords.bcrypt_hasher import BcryptHasher
    from tigerseal.passwords.context import (
        PasswordContext,
        get_password_context,
        hash_password,
        identify_hash,
        needs_update,
        set_password_context,
        verify_and_update,
        verify_password,
    )
    from tigerseal.passwords.pbkdf2_hasher import Pbkdf2Sha256Hasher
    from tigerseal.passwords.pepper import PepperKeyring, add_pepper, load_pepper_file
    from tigerseal.passwords.policy import (
        PasswordPolicy,
        PolicyResult,
        check_password_policy,
        generate_secure_password,
        is_common_password,
    )
    from tigerseal.passwords.scrypt_hasher import ScryptHasher

_LAZY = {
    "Argon2Hasher": "argon2_hasher",
    "BcryptHasher": "bcrypt_hasher",
    "ScryptHasher": "scrypt_hasher",
    "Pbkdf2Sha256Hasher": "pbkdf2_hasher",
    "PasswordContext": "context",
    "get_password_context": "context",
    "hash_password": "context",
    "identify_hash": "context",
    "needs_update": "context",
    "set_password_context": "context",
    "verify_and_update": "context",
    "verify_password": "context",
    "PepperKeyring": "pepper",
    "add_pepper": "pepper",
    "load_pepper_file": "pepper",
    "PasswordPolicy": "policy",
    "PolicyResult": "policy",
    "check_password_policy": "policy",
    "generate_secure_password": "policy",
    "is_common_password": "policy",
}

__all__ = [
    "Argon2Hasher",
    "BcryptHasher",
    "PasswordContext",
    "PasswordPolicy",
    "Pbkdf2Sha256Hasher",
    "PepperKeyring",
    "PolicyResult",
    "ScryptHasher",
    "add_pepper",
    "check_password_policy",
    "generate_secure_password",
    "get_password_context",
    "hash_password",
    "identify_hash",
    "is_common_password",
    "load_pepper_file",
    "needs_update",
    "set_password_context",
    "verify_and_update",
    "verify_password",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tigerseal.passwords' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
