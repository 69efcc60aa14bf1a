"""Built-in plugin: the ``env://`` key provider (KEKs in environment variables or ``.env``).

URI: ``env://VARIABLE[?min_version=N][&kdf=pbkdf2&iterations=I&salt=HEX]``; an empty variable
(``env://``) means ``ENCRYPTION_MASTER_KEY``, the seed's variable.

Key versions (``VAR`` stands for the variable in the URI)::

    VAR                   the current key: 64 hex characters (256 bits)
    VAR_VERSION           its version number (default 1)
    VAR_V1, VAR_V2, ...   older versions, kept so old messages still decrypt
    VAR_MIN_VERSION       versions below this are refused (or ``?min_version=N``; the URI wins)

To rotate: copy the current key to ``VAR_V<n>``, put a new key (``tigerseal keygen --print``)
in ``VAR``, set ``VAR_VERSION=<n+1>`` and restart; then rewrap and raise ``VAR_MIN_VERSION``.

Passphrase mode (``?kdf=pbkdf2``): every ``VAR*`` value above is a passphrase (at least 16
characters) instead of hex, stretched once per process with PBKDF2-HMAC-SHA256 over
``PBKDF2_ITERATIONS`` rounds (default 600,000, the OWASP Password Storage Cheat Sheet figure;
``?iterations=`` overrides it, never below 100,000). The salt is not secret but must be
configured and unique to the deployment, so that no dictionary can be precomputed for every
tigerseal user: 16+ random bytes as hex in ``VAR_SALT`` (or ``?salt=``). Changing the salt or
the iteration count changes every key: treat them as part of the key's identity.

The key id recorded in messages is the variable name (``ENCRYPTION_MASTER_KEY``), and the key
version says which ``VAR_V<n>`` is needed: enough to find the key, nothing about its value.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tigerseal.errors import ConfigError, UnsupportedOperation
from tigerseal.hookspecs import hookimpl
from tigerseal.providers._trust import refuse_weak_key, refuse_weak_passphrase
from tigerseal.spi._provider import Context, KeyProvider, WrappedKey
from tigerseal.spi.options import build_options, option, parse_uri
from tigerseal.spi.specs import ProviderSpec

if TYPE_CHECKING:
    from tigerseal.providers._local import LocalKeyring

__all__ = [
    "DEFAULT_VARIABLE",
    "MIN_PASSPHRASE_LENGTH",
    "MIN_PBKDF2_ITERATIONS",
    "EnvKeyProvider",
    "EnvOptions",
    "from_uri",
    "read_environment",
    "register_key_providers",
]

DEFAULT_VARIABLE = "ENCRYPTION_MASTER_KEY"
#: The seed's floor; below this PBKDF2 adds too little work per guess.
MIN_PBKDF2_ITERATIONS = 100_000
MIN_PASSPHRASE_LENGTH = 16
MIN_SALT_BYTES = 16
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")

# Derived keys, so PBKDF2 runs once per process per (passphrase, salt, iterations). The cache
# key is an HMAC under a per-process secret, so it reveals nothing about the passphrase.
_DERIVED: dict[bytes, bytes] = {}
_DERIVED_LOCK = threading.Lock()
_CACHE_SECRET = secrets.token_bytes(32)


def read_environment(env_file: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """The process environment over a dotenv file's values (the environment wins).

    Args:
        env_file: the dotenv file; default the one tigerseal's settings read, i.e. the file
            ``TIGERSEAL_ENV_FILE`` names (none when it is unset: the working directory's
            ``.env`` is never read implicitly).
    """
    from tigerseal.config._env import configured_env_file, read_env_file

    path = configured_env_file() if env_file is None else Path(env_file)
    values: dict[str, str] = {}
    if path is not None and (env_file is None or path.is_file()):
        values = read_env_file(path)
    values.update(os.environ)
    return values


def _derive(passphrase: str, salt: bytes, iterations: int) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    ident = hmac.new(
        _CACHE_SECRET,
        b"%d\x00%s\x00%s" % (iterations, salt.hex().encode(), passphrase.encode()),
        hashlib.sha256,
    ).digest()
    with _DERIVED_LOCK:
        cached = _DERIVED.get(ident)
    if cached is not None:
        return cached
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations)
    key = kdf.derive(passphrase.encode())
    with _DERIVED_LOCK:
        _DERIVED[ident] = key
    return key


def _parse_int(value: str, what: str) -> int:
    try:
        number = int(value.strip())
    except ValueError as exc:
        raise ConfigError(f"{what} must be a whole number, got {value.strip()[:20]!r}") from exc
    return number


class EnvKeyProvider(KeyProvider):
    """KEKs read from environment variables (see the module docstring for the names).

    Args:
        variable: the variable holding the current key (default ``ENCRYPTION_MASTER_KEY``).
        environ: where to read variables; default: the environment over ``.env``.
        min_version: versions below this are refused; default ``VAR_MIN_VERSION`` or 0.
        kdf: ``None`` for hex keys, ``"pbkdf2"`` for passphrases.
        salt: PBKDF2 salt (passphrase mode); default: hex in ``VAR_SALT``.
        iterations: PBKDF2 rounds; default ``PBKDF2_ITERATIONS`` from the settings.

    Raises:
        ConfigError: a variable is missing or malformed (the message names it, never its
            value, and says how to fix it).
    """

    scheme: ClassVar[str] = "env"

    def __init__(
        self,
        variable: str = DEFAULT_VARIABLE,
        *,
        environ: Mapping[str, str] | None = None,
        min_version: int | None = None,
        kdf: str | None = None,
        salt: bytes | None = None,
        iterations: int | None = None,
    ) -> None:
        if not _VARIABLE.match(variable):
            raise ConfigError(
                f"env:// needs an environment variable name (letters, digits, '_'), got "
                f"{variable[:40]!r}; e.g. env://{DEFAULT_VARIABLE}"
            )
        if kdf not in (None, "pbkdf2"):
            raise ConfigError(f"env:// kdf must be 'pbkdf2' (or absent for hex keys), got {kdf!r}")
        self._variable = variable
        self._kdf = kdf
        env = read_environment() if environ is None else environ
        if kdf is not None:
            salt, iterations = self._kdf_parameters(env, salt, iterations)
        keys, current = self._read_keys(env, salt, iterations)
        if min_version is None:
            raw = env.get(f"{variable}_MIN_VERSION", "").strip()
            min_version = _parse_int(raw, f"{variable}_MIN_VERSION") if raw else 0
        if min_version < 0:
            raise ConfigError(f"the minimum decryption version must be >= 0, got {min_version}")
        from tigerseal.providers._local import LocalKeyring

        self._keyring: LocalKeyring = LocalKeyring(
            self.scheme, variable, keys, current=current, min_version=min_version
        )

    # -- configuration -----------------------------------------------------------------------
    def _kdf_parameters(
        self, env: Mapping[str, str], salt: bytes | None, iterations: int | None
    ) -> tuple[bytes, int]:
        var = self._variable
        if salt is None:
            raw = env.get(f"{var}_SALT", "").strip()
            if not raw:
                raise ConfigError(
                    f"passphrase mode needs a salt: set {var}_SALT to 16+ random bytes as hex "
                    "(python -c 'import secrets; print(secrets.token_hex(16))') or add "
                    "?salt=HEX to the URI; it is not secret but must stay the same"
                )
            try:
                salt = bytes.fromhex(raw)
            except ValueError as exc:
                raise ConfigError(f"{var}_SALT must be hex (e.g. 32 hex characters)") from exc
        if len(salt) < MIN_SALT_BYTES:
            raise ConfigError(
                f"the PBKDF2 salt for {var} must be at least {MIN_SALT_BYTES} bytes "
                f"({2 * MIN_SALT_BYTES} hex characters)"
            )
        if iterations is None:
            from tigerseal.config import get_settings

            settings = get_settings()
            settings.require("pbkdf2_iterations")
            iterations = settings.pbkdf2_iterations
        if iterations < MIN_PBKDF2_ITERATIONS:
            raise ConfigError(
                f"PBKDF2 iterations for {var} must be at least {MIN_PBKDF2_ITERATIONS:,} "
                f"(got {iterations:,}); the default PBKDF2_ITERATIONS=600000 follows OWASP"
            )
        return salt, iterations

    def _decode(self, name: str, value: str, salt: bytes | None, iterations: int | None) -> bytes:
        value = value.strip()
        if self._kdf is None:
            if not _HEX_KEY.match(value):
                raise ConfigError(
                    f"{name} must be 64 hex characters (a 256-bit key); generate one with "
                    "`tigerseal keygen --print`, or use env://NAME?kdf=pbkdf2 for a passphrase"
                )
            raw = bytes.fromhex(value)
            refuse_weak_key(raw, name)  # every variable and version, not only the seed's
            return raw
        if len(value) < MIN_PASSPHRASE_LENGTH:
            raise ConfigError(
                f"the passphrase in {name} is too short: use at least {MIN_PASSPHRASE_LENGTH} "
                "characters (or a 64-hex-character key without ?kdf=pbkdf2)"
            )
        refuse_weak_passphrase(value, name)
        # Both were set by _kdf_parameters in passphrase mode.
        assert salt is not None
        assert iterations is not None
        return _derive(value, salt, iterations)

    def _read_keys(
        self, env: Mapping[str, str], salt: bytes | None, iterations: int | None
    ) -> tuple[dict[int, bytes], int]:
        var = self._variable
        current_value = env.get(var, "")
        if not current_value.strip():
            raise ConfigError(
                f"{var} is not set: put a 64-hex-character key in it (generate one with "
                "`tigerseal keygen --print`) in the environment or .env"
            )
        raw_version = env.get(f"{var}_VERSION", "").strip()
        current = _parse_int(raw_version, f"{var}_VERSION") if raw_version else 1
        if current < 1:
            raise ConfigError(f"{var}_VERSION must be >= 1, got {current}")
        keys = {current: self._decode(var, current_value, salt, iterations)}
        pattern = re.compile(rf"^{re.escape(var)}_V([0-9]+)$")
        for name, value in env.items():
            match = pattern.match(name)
            if match is None or not value.strip():
                continue
            version = int(match.group(1))
            if version < 1:
                raise ConfigError(f"{name}: key versions start at 1")
            key = self._decode(name, value, salt, iterations)
            if version == current:
                if not hmac.compare_digest(key, keys[current]):
                    raise ConfigError(
                        f"{name} and {var} both claim version {current} with different keys; "
                        f"remove {name} or fix {var}_VERSION"
                    )
                continue
            keys[version] = key
        if max(keys) > current:
            raise ConfigError(
                f"{var}_V{max(keys)} is newer than the current version {current}; set "
                f"{var}_VERSION to the newest version and {var} to its key"
            )
        return keys, current

    # -- KeyProvider -------------------------------------------------------------------------
    @property
    def key_id(self) -> str:
        return self._variable

    @property
    def key_version(self) -> int:
        return self._keyring.current

    @property
    def min_decryption_version(self) -> int:
        return self._keyring.min_version

    @property
    def versions(self) -> list[int]:
        """Every key version present (current and older)."""
        return self._keyring.versions

    @property
    def uri(self) -> str:
        return f"env://{self._variable}" + ("?kdf=pbkdf2" if self._kdf else "")

    def wrap(self, dek: bytes, context: Context) -> WrappedKey:
        return self._keyring.wrap(dek, context)

    def unwrap(self, wrapped: WrappedKey, context: Context) -> bytes:
        return self._keyring.unwrap(wrapped, context)

    def rotate(self) -> int:
        var = self._variable
        nxt = self.key_version + 1
        raise UnsupportedOperation(
            f"env:// keys live in the environment and cannot be rotated by tigerseal. To rotate "
            f"{var}: (1) copy the value of {var} into {var}_V{self.key_version}; (2) put a new "
            f"key in {var} (`tigerseal keygen --print`); (3) set {var}_VERSION={nxt}; (4) "
            f"deploy the three variables together and restart every service; (5) run "
            f"`tigerseal rewrap`, then set {var}_MIN_VERSION={nxt} to retire the old key. "
            "(`KeyManager.plan_env_rotation()` prints the values; a file:// keyring or a KMS "
            "rotates in place)"
        )


def _hex_salt(name: str, value: object) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"env:// {name} must be hex (or bytes in code)")
    try:
        return bytes.fromhex(value) if value else None
    except ValueError as exc:
        raise ConfigError(f"env:// {name} must be hex") from exc


@dataclass(frozen=True, slots=True)
class EnvOptions:
    """Options of ``env://VAR`` (query or keywords; see :mod:`tigerseal.spi.options`)."""

    min_version: int | None = option(None, ge=0, help="refuse versions below this")
    kdf: str | None = option(None, help="pbkdf2 for a passphrase (absent: hex keys)")
    salt: bytes | None = option(None, parse=_hex_salt, help="PBKDF2 salt, hex")
    iterations: int | None = option(None, help="PBKDF2 iterations")
    environ: Mapping[str, str] | None = option(
        None, uri=False, help="a mapping read, not os.environ"
    )


def from_uri(uri: str, **options: Any) -> EnvKeyProvider:
    """Build an :class:`EnvKeyProvider` from ``env://VAR?...``.

    Options (query or keywords, which must agree when both give one): ``min_version``,
    ``kdf``, ``salt`` (hex), ``iterations``; keyword only: ``environ``.
    """
    parsed = parse_uri(uri, plugin="env://", schemes=("env",), example=f"env://{DEFAULT_VARIABLE}")
    variable = parsed.location.strip("/") or DEFAULT_VARIABLE
    opts = build_options(EnvOptions, plugin="env://", uri=parsed.query, code=options)
    kwargs = {f.name: getattr(opts, f.name) for f in fields(opts)}
    return EnvKeyProvider(variable, **kwargs)


@hookimpl
def register_key_providers() -> list[ProviderSpec]:
    """Register the built-in ``env`` key provider."""
    return [
        ProviderSpec(
            name="env",
            factory="tigerseal.providers.env:from_uri",
            description="256-bit keys (or PBKDF2 passphrases) in environment variables / .env",
        )
    ]
