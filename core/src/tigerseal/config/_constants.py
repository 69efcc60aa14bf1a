"""Constants and pure checks shared by the settings and the views (no pydantic import)."""

from __future__ import annotations

import re

# One set of boolean words for settings and plugin options.
from tigerseal.spi.options import FALSE_WORDS as _FALSE
from tigerseal.spi.options import TRUE_WORDS as _TRUE

#: OWASP Password Storage Cheat Sheet (2023+) for PBKDF2-HMAC-SHA256: 600,000 iterations.
#: (The seed's 100,000 predates that advice; set ``PBKDF2_ITERATIONS`` to keep it.)
DEFAULT_PBKDF2_ITERATIONS = 600_000
#: Below this, PBKDF2 is no longer a password hash worth the name: refused everywhere.
MIN_PBKDF2_ITERATIONS = 10_000
#: RFC 7518 ``alg`` values a signing key may use. ``none`` is deliberately absent.
#: tigerseal.aio's I/O pool size by default (botocore's and requests' connection-pool size).
DEFAULT_AIO_IO_THREADS = 10
#: The most threads either tigerseal.aio pool may have.
MAX_AIO_THREADS = 256


def parse_aio_threads(value: object) -> int:
    """A tigerseal.aio pool size: a whole number from 1 to :data:`MAX_AIO_THREADS`.

    Raises:
        ValueError: it is not (the message says the rule).
    """
    number: int | None = None
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = None
    elif value.__class__ is int:  # not bool, not float
        number = int(value)
    if number is None or not 1 <= number <= MAX_AIO_THREADS:
        raise ValueError(f"must be a whole number of threads from 1 to {MAX_AIO_THREADS}")
    return number


JWT_ALGORITHMS = frozenset(
    {
        "HS256", "HS384", "HS512",
        "RS256", "RS384", "RS512",
        "PS256", "PS384", "PS512",
        "ES256", "ES384", "ES512",
        "EdDSA",
    }
)  # fmt: skip
_ENVIRONMENTS = {
    "development": "development",
    "dev": "development",
    "test": "test",
    "testing": "test",
    "staging": "staging",
    "production": "production",
    "prod": "production",
}
_BUILTIN_HASHERS = ("argon2", "bcrypt", "scrypt", "pbkdf2-sha256")
_HASHER_ALIASES = {
    "argon2id": "argon2",
    "pbkdf2": "pbkdf2-sha256",
    "pbkdf2_sha256": "pbkdf2-sha256",
    "pbkdf2-sha-256": "pbkdf2-sha256",
}
#: The development keyring, used when no key is configured (``TIGERSEAL_KEYRING_PATH``).
DEFAULT_KEYRING_PATH = ".tigerseal/keyring.json"
#: libpq ``sslmode`` values.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def url_problem(url: str) -> str | None:
    """What is wrong with a database URL, without quoting any part of it."""
    from urllib.parse import parse_qsl, urlsplit  # not on the cold path (key settings)

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the port is not a number"
    scheme = parts.scheme
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme or ""):
        return "missing or invalid scheme"
    if scheme.startswith("sqlite"):
        return None
    if not parts.netloc and "host=" not in parts.query:
        return "no host"
    if port is not None and not 0 < port < 65536:
        return "the port is out of range"
    query = dict(parse_qsl(parts.query))
    mode = query.get("sslmode")
    if mode is not None and mode not in SSL_MODES:
        return f"sslmode must be one of {', '.join(SSL_MODES)}"
    return None


def _known_hashers() -> dict[str, str]:
    """Names PASSWORD_HASH_ALGORITHM may take (aliases included) -> the scheme's own name.

    Built-ins, installed entry points (by name, nothing imported) and plugins registered in a
    registry that already exists (validating settings must not build one).
    """
    from importlib import metadata

    from tigerseal import plugins

    names = {n: n for n in _BUILTIN_HASHERS} | dict(_HASHER_ALIASES)
    names.update((ep.name, ep.name) for ep in metadata.entry_points(group="tigerseal.hashers"))
    registry = plugins.peek_registry()
    if registry is not None:
        names.update(
            (k, spec.name) for k, spec in registry.specs("register_password_hashers").items()
        )
    return names


def master_key_problem(text: str) -> str | None:
    """What is wrong with a master key's text (64 hex characters), without quoting it."""
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return None
    return (
        f"must be exactly 64 hex characters (a 256-bit key), got {len(text)} characters"
        + ("" if re.fullmatch(r"[0-9a-fA-F]*", text) else " including non-hex ones")
        + "; generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"
        " (or `tigerseal keygen --print`)"
    )


def parse_bool(value: object) -> bool:
    """A boolean setting: ``true/false``, ``1/0``, ``yes/no``, ``on/off`` (any case).

    Raises:
        ValueError: anything else (a typo must not pick a side silently).
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("must be true or false (also 1/0, yes/no, on/off)")
