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

from typing import TYPE_CHECKING

from tigerseal._lazy import lazy_exports

if TYPE_CHECKING:
    from tigerseal.passwords._argon2_hasher import Argon2Hasher
    from tigerseal.passwords._bcrypt_hasher import BcryptHasher
    from tigerseal.passwords._context import (
        PasswordContext,
        get_password_context,
        hash_password,
        identify_hash,
        needs_update,
        set_password_context,
        verify_and_update,
        verify_password,
    )
    from tigerseal.passwords._pbkdf2_hasher import Pbkdf2Sha256Hasher
    from tigerseal.passwords._pepper import PepperKeyring, add_pepper, load_pepper_file
    from tigerseal.passwords._policy import (
        PasswordPolicy,
        PolicyResult,
        check_password_policy,
        generate_secure_password,
        is_common_password,
    )
    from tigerseal.passwords._scrypt_hasher import ScryptHasher

_LAZY = {
    "Argon2Hasher": "tigerseal.passwords._argon2_hasher",
    "BcryptHasher": "tigerseal.passwords._bcrypt_hasher",
    "ScryptHasher": "tigerseal.passwords._scrypt_hasher",
    "Pbkdf2Sha256Hasher": "tigerseal.passwords._pbkdf2_hasher",
    "PasswordContext": "tigerseal.passwords._context",
    "get_password_context": "tigerseal.passwords._context",
    "hash_password": "tigerseal.passwords._context",
    "identify_hash": "tigerseal.passwords._context",
    "needs_update": "tigerseal.passwords._context",
    "set_password_context": "tigerseal.passwords._context",
    "verify_and_update": "tigerseal.passwords._context",
    "verify_password": "tigerseal.passwords._context",
    "PepperKeyring": "tigerseal.passwords._pepper",
    "add_pepper": "tigerseal.passwords._pepper",
    "load_pepper_file": "tigerseal.passwords._pepper",
    "PasswordPolicy": "tigerseal.passwords._policy",
    "PolicyResult": "tigerseal.passwords._policy",
    "check_password_policy": "tigerseal.passwords._policy",
    "generate_secure_password": "tigerseal.passwords._policy",
    "is_common_password": "tigerseal.passwords._policy",
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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
