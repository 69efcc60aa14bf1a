"""Which key material the local providers (``env://``, ``file://``) trust.

One check for every raw key-encryption key that enters tigerseal (any ``env://`` variable and
each of its ``_Vn`` versions, every version of a keyring file):
:func:`tigerseal._weakness.key_weakness`. In ``env://`` passphrase mode the derived key looks
random whatever the passphrase, so the passphrase itself is checked
(:func:`tigerseal._weakness.secret_weakness`). A key that is visibly not random is refused with
``ENVIRONMENT=production``; the few trivial keys below are refused everywhere, as ``env://``
always did. Error messages name where the key came from, never the key.
"""

from __future__ import annotations

from tigerseal._weakness import key_weakness, secret_weakness
from tigerseal.errors import ConfigError

__all__ = ["refuse_weak_key", "refuse_weak_passphrase"]

#: Published (the seed README) or trivial keys: refused in every environment.
_ALWAYS_REFUSED = frozenset({"0123456789abcdef" * 4, "0" * 64, "f" * 64})


def refuse_weak_key(raw: bytes, where: str) -> None:
    """Raise if ``raw`` must not be used as a key here.

    Args:
        raw: the key bytes.
        where: what holds the key, for the message (``"MK_V1"``, ``"keyring PATH version 2"``).

    Raises:
        ConfigError: the key is a published example or trivial (everywhere), or is visibly not
            random and ``ENVIRONMENT=production``.
    """
    if raw.hex() in _ALWAYS_REFUSED:
        raise ConfigError(
            f"{where} holds a published example or trivial key; generate a real one with "
            "`tigerseal keygen --print` (or `tigerseal rotate` for a keyring file)"
        )
    why = key_weakness(raw)
    if why is None:
        return
    from tigerseal.config import current_environment

    if current_environment() == "production":
        raise ConfigError(
            f"{where} is refused in production: {why}; generate a fresh key with "
            "`tigerseal keygen --print` (keyring files: `tigerseal rotate`, then rewrap and "
            "retire the weak version)"
        )


def refuse_weak_passphrase(passphrase: str, where: str) -> None:
    """Raise if an ``env://`` passphrase (``?kdf=pbkdf2``) is visibly not random in production.

    PBKDF2 turns ``passwordpassword`` into bytes that pass :func:`refuse_weak_key`; what an
    attacker guesses is the passphrase, so that is what is checked (development markers, short
    patterns repeated, mostly sequences, keyboard walks or common passwords).

    Args:
        passphrase: the configured passphrase.
        where: the variable holding it, for the message (never the passphrase).

    Raises:
        ConfigError: ``ENVIRONMENT=production`` and the passphrase is visibly not random.
    """
    why = secret_weakness(passphrase)
    if why is None:
        return
    from tigerseal.config import current_environment

    if current_environment() == "production":
        raise ConfigError(
            f"the passphrase in {where} is refused in production: {why}; use a 64-hex-character "
            "key from `tigerseal keygen --print` instead (or a long random passphrase)"
        )
