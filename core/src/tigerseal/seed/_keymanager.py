"""Key generation helpers (the seed's ``KeyManager``), plus keyring and rotation shortcuts.

Every value comes from :mod:`secrets` (the OS CSPRNG). Example::

    from tigerseal import KeyManager

    km = KeyManager()
    print("ENCRYPTION_MASTER_KEY=" + km.generate_master_key())
    print("JWT_SECRET=" + km.generate_jwt_secret())
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tigerseal.providers.file import FileKeyProvider

__all__ = ["KeyManager"]


class KeyManager:
    """Generates keys and secrets in the formats tigerseal's settings expect.

    The methods are static, so ``KeyManager.generate_master_key()`` and
    ``KeyManager().generate_master_key()`` both work (the seed used an instance).
    """

    @staticmethod
    def generate_master_key() -> str:
        """A new 256-bit key as 64 lowercase hex characters (for ``ENCRYPTION_MASTER_KEY``)."""
        return secrets.token_hex(32)

    @staticmethod
    def generate_jwt_secret() -> str:
        """A new 256-bit HMAC secret, URL-safe base64 (43 characters, for ``JWT_SECRET``)."""
        return secrets.token_urlsafe(32)

    @staticmethod
    def generate_api_key_pepper() -> str:
        """A new 256-bit pepper for API-key hashing, as 64 hex characters."""
        return secrets.token_hex(32)

    @staticmethod
    def generate_salt() -> str:
        """A new 128-bit salt as hex, for ``env://VAR?kdf=pbkdf2`` (``VAR_SALT``)."""
        return secrets.token_hex(16)

    @staticmethod
    def create_keyring(path: str | os.PathLike[str], *, overwrite: bool = False) -> FileKeyProvider:
        """Create a ``file://`` keyring with one fresh key (mode 0600).

        See :func:`tigerseal.providers.file.create_keyring`.
        """
        from tigerseal.providers.file import create_keyring

        return create_keyring(path, overwrite=overwrite)

    @staticmethod
    def rotate_keyring(path: str | os.PathLike[str]) -> int:
        """Add a new version to a ``file://`` keyring and make it current; return it."""
        from tigerseal.audit._emit import audit_key_rotated
        from tigerseal.providers.file import FileKeyProvider

        provider = FileKeyProvider(path)
        before, after = provider.key_version, provider.rotate()
        audit_key_rotated(provider.uri, before, after)
        return after

    @staticmethod
    def plan_env_rotation(
        variable: str = "ENCRYPTION_MASTER_KEY", environ: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The variables to set to rotate an ``env://`` key (the values include secrets).

        The current key moves to ``VAR_V<n>``, a new key goes into ``VAR`` and ``VAR_VERSION``
        becomes ``n + 1``. Set all of them together, then restart the services.

        Raises:
            ConfigError: the current configuration is missing or invalid.
        """
        from tigerseal.providers.env import EnvKeyProvider, read_environment

        env = read_environment() if environ is None else environ
        current = EnvKeyProvider(variable, environ=env).key_version
        return {
            f"{variable}_V{current}": env[variable].strip(),
            variable: secrets.token_hex(32),
            f"{variable}_VERSION": str(current + 1),
        }
