"""Key administration on a PKCS#11 token: create, import and describe KEKs.

Used by ``tigerseal pkcs11 init-key`` / ``list`` and by tests. Rotation is
:meth:`tigerseal_pkcs11._provider.Pkcs11Provider.rotate`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pkcs11.exceptions as p11
from pkcs11 import Attribute, Mechanism, MechanismFlag
from tigerseal.errors import ConfigError

from tigerseal_pkcs11 import _keys
from tigerseal_pkcs11._errors import raise_mapped
from tigerseal_pkcs11._options import Pkcs11Uri, parse_uri
from tigerseal_pkcs11._session import Session, TokenPool, get_module

__all__ = ["KeyReport", "describe_key", "import_key", "init_key", "token_session"]

T = TypeVar("T")

#: Attributes shown by ``describe_key`` (never CKA_VALUE).
_SHOWN = (
    ("CKA_TOKEN", Attribute.TOKEN),
    ("CKA_PRIVATE", Attribute.PRIVATE),
    ("CKA_SENSITIVE", Attribute.SENSITIVE),
    ("CKA_EXTRACTABLE", Attribute.EXTRACTABLE),
    ("CKA_ALWAYS_SENSITIVE", Attribute.ALWAYS_SENSITIVE),
    ("CKA_NEVER_EXTRACTABLE", Attribute.NEVER_EXTRACTABLE),
    ("CKA_MODIFIABLE", Attribute.MODIFIABLE),
    ("CKA_ENCRYPT", Attribute.ENCRYPT),
    ("CKA_DECRYPT", Attribute.DECRYPT),
    ("CKA_WRAP", Attribute.WRAP),
    ("CKA_UNWRAP", Attribute.UNWRAP),
    ("CKA_LOCAL", Attribute.LOCAL),
)


@dataclass(frozen=True, slots=True)
class KeyReport:
    """What is on the token for one key (no secret).

    Attributes:
        key_id: the provider key id (token selector and object).
        token: token description.
        versions: version -> attribute name -> value, for every ``<object>.v<N>``.
        mechanisms: whether the token offers ``aes-gcm`` / ``aes-key-wrap-pad``.
    """

    key_id: str
    token: str
    versions: dict[int, dict[str, Any]]
    mechanisms: dict[str, bool]


@contextlib.contextmanager
def token_session(uri: str | Pkcs11Uri, **options: Any) -> Iterator[tuple[TokenPool, Pkcs11Uri]]:
    """Log in to the token ``uri`` names and yield its pool (released afterwards)."""
    parsed = uri if isinstance(uri, Pkcs11Uri) else parse_uri(uri, **options)
    pin = parsed.pin_source.read()
    module = get_module(parsed.module_path, parsed.locking)
    pool = module.pool(parsed)
    try:
        pool.login(pin)
        yield pool, parsed
    finally:
        module.release(pool)


def _run(pool: TokenPool, what: str, fn: Callable[[Session], T]) -> T:
    try:
        with pool.session() as session:
            return fn(session)
    except p11.PKCS11Error as exc:
        raise_mapped(exc, what=what, token=pool.description)


def init_key(uri: str | Pkcs11Uri, *, usage: str = "both", **options: Any) -> int:
    """Generate version 1 of the key ``uri`` names, inside the token.

    Args:
        uri: the key's ``pkcs11:`` URI.
        usage: ``both`` (CKA_ENCRYPT/DECRYPT and CKA_WRAP/UNWRAP: the provider uses AES-GCM
            where the token offers it, else RFC 5649), ``encrypt`` (AES-GCM only) or ``wrap``
            (RFC 5649 only, for HSM policies that allow only key-wrapping keys).
        **options: URI overrides (see :func:`~tigerseal_pkcs11._options.parse_uri`).

    Returns:
        The version created (1).

    Raises:
        ConfigError: the key already exists (rotate it instead), or a bad usage/URI.
    """
    if usage not in _keys.USAGES:
        raise ConfigError(f"usage={usage!r}; choose one of {', '.join(_keys.USAGES)}")
    with token_session(uri, **options) as (pool, parsed):

        def create(session: Session) -> int:
            existing = _keys.scan_versions(session, parsed)
            if existing:
                raise ConfigError(
                    f"key {parsed.object!r} already exists on token {pool.description} "
                    f"(versions {sorted(existing)}); rotate it (tigerseal pkcs11 rotate) or "
                    "choose another object="
                )
            if not _keys.claim_kek(session, parsed, 1, usage):
                raise ConfigError(
                    f"key {parsed.object!r} was created on token {pool.description} by another "
                    "process at the same moment; use that key (this call withdrew its own)"
                )
            return 1

        with _keys.local_rotation_lock(pool.module.path, pool.serial, parsed.object):
            return _run(pool, f"creating {parsed.label(1)}", create)


def import_key(
    uri: str | Pkcs11Uri,
    value: bytes,
    *,
    version: int | None = None,
    usage: str = "both",
    **options: Any,
) -> int:
    """Import known key bytes as the next version (key migration, known-answer tests).

    Hazard: the key existed outside the HSM, so it is not ``CKA_NEVER_EXTRACTABLE``; prefer
    :func:`init_key`. The object still gets ``CKA_SENSITIVE`` and no ``CKA_EXTRACTABLE``.

    Returns:
        The version created.
    """
    if not isinstance(value, bytes | bytearray):
        raise TypeError("key value must be bytes")
    with token_session(uri, **options) as (pool, parsed):

        def create(session: Session) -> int:
            existing = _keys.scan_versions(session, parsed)
            new = version if version is not None else max(existing, default=0) + 1
            if new in existing:
                raise ConfigError(f"version {new} of {parsed.object!r} already exists")
            _keys.import_kek(session, parsed, new, bytes(value), usage)
            return new

        return _run(pool, f"importing {parsed.object}", create)


def describe_key(uri: str | Pkcs11Uri, **options: Any) -> KeyReport:
    """Every version of a key with its protective attributes, and the token's mechanisms."""
    with token_session(uri, **options) as (pool, parsed):

        def read(session: Session) -> dict[int, dict[str, Any]]:
            report: dict[int, dict[str, Any]] = {}
            for version, label in sorted(_keys.scan_versions(session, parsed).items()):
                obj_id = parsed.object_id(version) if parsed.id is not None else None
                key = session.find_key(label, obj_id)
                values = key.get_attributes([attr for _, attr in _SHOWN] + [Attribute.VALUE_LEN])
                row: dict[str, Any] = {name: bool(values.get(attr)) for name, attr in _SHOWN}
                row["bits"] = int(values.get(Attribute.VALUE_LEN) or 0) * 8
                row["label"] = label
                report[version] = row
            return report

        versions = _run(pool, f"describing {parsed.object}", read)
        mechanisms = {
            "aes-gcm": pool.supports(
                Mechanism.AES_GCM, MechanismFlag.ENCRYPT, MechanismFlag.DECRYPT
            ),
            "aes-key-wrap-pad": pool.supports(
                Mechanism.AES_KEY_WRAP_PAD, MechanismFlag.WRAP, MechanismFlag.UNWRAP
            ),
        }
        return KeyReport(parsed.key_id, pool.description, versions, mechanisms)
