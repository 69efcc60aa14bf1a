"""Which key material the local providers (``env://``, ``file://``) trust.

One check for every raw key-encryption key that enters tigerseal (any ``env://`` variable and
each of its ``_Vn`` versions, every version of a keyring file):
:func:`tigerseal._weakness.key_weakness`. A key that is visibly not random is refused with
``ENVIRONMENT=production``; the few trivial keys below are refused everywhere, as ``env://``
always did. Error messages name where the key came from, never the key.
"""

from __future__ import annotations

from tigerseal._weakness import key_weakness
from tigerseal.errors import ConfigError

__all__ = ["refuse_weak_key"]

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
