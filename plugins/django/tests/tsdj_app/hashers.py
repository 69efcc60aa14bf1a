"""Django's hashers at test cost (same algorithm names, so real hashes of theirs verify)."""

from __future__ import annotations

from django.contrib.auth.hashers import (
    Argon2PasswordHasher,
    BCryptSHA256PasswordHasher,
    PBKDF2PasswordHasher,
)


class FastPBKDF2(PBKDF2PasswordHasher):
    iterations = 1000


class FastArgon2(Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 1024
    parallelism = 1


class FastBCryptSHA256(BCryptSHA256PasswordHasher):
    rounds = 4
