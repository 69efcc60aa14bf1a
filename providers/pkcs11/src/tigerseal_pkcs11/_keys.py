"""KEK objects on the token: the attributes they must have, finding, creating and checking them.

Every key version is its own AES-256 secret-key object labelled ``<object>.v<N>``. All
functions here take a checked-out :class:`~tigerseal_pkcs11._session.Session` and let
python-pkcs11 exceptions through (the caller maps them).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pkcs11.exceptions as p11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from tigerseal.errors import ConfigError, KeyNotFound, KeyProviderError

from tigerseal_pkcs11._options import Pkcs11Uri
from tigerseal_pkcs11._session import Session

__all__ = [
    "KEK_SIZE",
    "USAGES",
    "DuplicateVersion",
    "KeyVersion",
    "claim_kek",
    "count_label",
    "create_kek",
    "import_kek",
    "kek_template",
    "load_version",
    "local_rotation_lock",
    "scan_versions",
]

log = logging.getLogger("tigerseal_pkcs11")

#: How long a rotation waits for another local process's rotation of the same key.
LOCK_TIMEOUT = 30.0

#: AES-256 only: a KEK protects every data key under it for years.
KEK_SIZE = 32

#: ``usage`` of a new KEK -> (CKA_ENCRYPT/DECRYPT, CKA_WRAP/UNWRAP).
USAGES: dict[str, tuple[bool, bool]] = {
    "both": (True, True),
    "encrypt": (True, False),
    "wrap": (False, True),
}


@dataclass(frozen=True, slots=True)
class KeyVersion:
    """One KEK version as found on the token (attributes only; the value never leaves it).

    Attributes:
        version: the version number (from the label).
        label: ``CKA_LABEL``.
        obj_id: ``CKA_ID`` used in lookups (``None``: match by label only).
        encrypt: ``CKA_ENCRYPT`` and ``CKA_DECRYPT`` (AES-GCM usable).
        wrap: ``CKA_WRAP`` and ``CKA_UNWRAP`` (RFC 5649 key wrap usable).
        never_extractable: ``CKA_NEVER_EXTRACTABLE`` (false for imported keys).
    """

    version: int
    label: str
    obj_id: bytes | None
    encrypt: bool
    wrap: bool
    never_extractable: bool


def kek_template(uri: Pkcs11Uri, version: int, usage: str) -> dict[Any, Any]:
    """Attributes of a new KEK version (see docs/providers/pkcs11.md for why each one).

    Raises:
        ConfigError: ``usage`` is not one of :data:`USAGES`.
    """
    if usage not in USAGES:
        raise ConfigError(f"usage={usage!r}; choose one of {', '.join(USAGES)}")
    encrypt, wrap = USAGES[usage]
    return {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.AES,
        Attribute.LABEL: uri.label(version),
        Attribute.ID: uri.object_id(version),
        Attribute.TOKEN: True,  # persistent, survives the session
        Attribute.PRIVATE: True,  # invisible without login
        Attribute.SENSITIVE: True,  # CKA_VALUE can never be read
        Attribute.EXTRACTABLE: False,  # cannot be wrapped out of the HSM either
        Attribute.MODIFIABLE: False,  # nobody can widen its usage later
        Attribute.COPYABLE: False,  # C_CopyObject cannot make a laxer twin
        Attribute.DESTROYABLE: True,  # retiring a version deletes it
        Attribute.ENCRYPT: encrypt,
        Attribute.DECRYPT: encrypt,
        Attribute.WRAP: wrap,
        Attribute.UNWRAP: wrap,
        Attribute.SIGN: False,
        Attribute.VERIFY: False,
        Attribute.DERIVE: False,
    }


class DuplicateVersion(ConfigError):
    """Two objects on the token carry one version label.

    Permanent only when something other than tigerseal created them: a tigerseal rotation
    creates its object, checks that the label is unique and destroys its own object when it
    is not (see :func:`claim_kek`), so a duplicate it leaves behind lasts microseconds.
    Readers that hit one retry briefly before reporting it.
    """


_SUFFIX = re.compile(r"^(?P<base>.*)\.v(?P<version>[0-9]{1,9})$")


def scan_versions(session: Session, uri: Pkcs11Uri) -> dict[int, str]:
    """Version -> label of every ``<object>.v<N>`` secret key visible on the token."""
    found: dict[int, str] = {}
    # Token objects only: the short-lived session objects other threads create and destroy
    # while wrapping (RFC 5649 path) would otherwise vanish between C_FindObjects and reading
    # their label.
    template = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.AES,
        Attribute.TOKEN: True,
    }
    for obj in session.raw.get_objects(template):
        label = obj[Attribute.LABEL]
        match = _SUFFIX.match(label or "")
        if match is None or match["base"] != uri.object:
            continue
        version = int(match["version"])
        if uri.id is not None and obj[Attribute.ID] != uri.object_id(version):
            continue
        if version in found:
            raise DuplicateVersion(
                f"two objects on the token are labelled {label!r}; delete one "
                "(key versions must be unique)"
            )
        found[version] = label
    return found


def has_unversioned(session: Session, uri: Pkcs11Uri) -> bool:
    """Whether an object labelled exactly ``<object>`` exists (a key made by another tool)."""
    try:
        session.raw.get_key(object_class=ObjectClass.SECRET_KEY, label=uri.object)
    except p11.NoSuchKey:
        return False
    except p11.MultipleObjectsReturned:
        return True
    return True


def missing_key(
    uri: Pkcs11Uri, token: str, version: int | None, *, unversioned: bool
) -> KeyNotFound:
    """The KeyNotFound for a key (or version) that is not on the token, with its remedy."""
    if version is None:
        what = f"no version of key {uri.object!r} ({uri.object}.v1, .v2, ...)"
    else:
        what = f"key version {uri.label(version)!r}"
    hint = (
        f" An object labelled {uri.object!r} exists without a version suffix: relabel it "
        f"{uri.object}.v1 (it must be a sensitive, non-extractable AES-256 key)."
        if unversioned
        else ""
    )
    return KeyNotFound(
        f"{what} is not on token {token}.{hint} Create the key with: tigerseal pkcs11 init-key "
        f"'{uri.to_uri()}' (or check token=/object= and that the PIN's user can see it)"
    )


def load_version(session: Session, uri: Pkcs11Uri, version: int, token: str) -> KeyVersion:
    """Find version ``version`` and check that its attributes make it a safe KEK.

    Raises:
        KeyNotFound: no such object.
        ConfigError: it is not an AES-256 key, or it is extractable or not sensitive.
    """
    label = uri.label(version)
    obj_id = uri.object_id(version) if uri.id is not None else None
    try:
        key = session.find_key(label, obj_id)
    except p11.NoSuchKey:
        raise missing_key(uri, token, version, unversioned=False) from None
    except p11.MultipleObjectsReturned:
        raise ConfigError(
            f"several objects on token {token} are labelled {label!r}; delete the duplicates"
        ) from None
    attrs = key.get_attributes(
        [
            Attribute.KEY_TYPE,
            Attribute.VALUE_LEN,
            Attribute.SENSITIVE,
            Attribute.EXTRACTABLE,
            Attribute.ENCRYPT,
            Attribute.DECRYPT,
            Attribute.WRAP,
            Attribute.UNWRAP,
            Attribute.NEVER_EXTRACTABLE,
        ]
    )
    problems = []
    if attrs.get(Attribute.KEY_TYPE) != KeyType.AES:
        problems.append("it is not an AES key")
    elif attrs.get(Attribute.VALUE_LEN) != KEK_SIZE:
        problems.append(f"it is {int(attrs.get(Attribute.VALUE_LEN) or 0) * 8}-bit, not AES-256")
    if not attrs.get(Attribute.SENSITIVE):
        problems.append("CKA_SENSITIVE is false (its value can be read)")
    if attrs.get(Attribute.EXTRACTABLE):
        problems.append("CKA_EXTRACTABLE is true (it can be wrapped out of the HSM)")
    if problems:
        session.forget(label)
        raise ConfigError(
            f"key {label!r} on token {token} is not a safe KEK: {'; '.join(problems)}. Create a "
            "proper one with: tigerseal pkcs11 init-key (see docs/providers/pkcs11.md)"
        )
    return KeyVersion(
        version=version,
        label=label,
        obj_id=obj_id,
        encrypt=bool(attrs.get(Attribute.ENCRYPT)) and bool(attrs.get(Attribute.DECRYPT)),
        wrap=bool(attrs.get(Attribute.WRAP)) and bool(attrs.get(Attribute.UNWRAP)),
        never_extractable=bool(attrs.get(Attribute.NEVER_EXTRACTABLE)),
    )


def create_kek(session: Session, uri: Pkcs11Uri, version: int, usage: str) -> Any:
    """Generate KEK version ``version`` inside the token (``C_GenerateKey``); return its object."""
    template = kek_template(uri, version, usage)
    return session.raw.generate_key(
        KeyType.AES,
        KEK_SIZE * 8,
        label=uri.label(version),
        id=uri.object_id(version),
        store=True,
        mechanism=Mechanism.AES_KEY_GEN,
        template=template,
    )


def import_kek(session: Session, uri: Pkcs11Uri, version: int, value: bytes, usage: str) -> None:
    """Create KEK version ``version`` from known key bytes (``C_CreateObject``).

    The object gets the same protective attributes as a generated key, but
    ``CKA_NEVER_EXTRACTABLE``/``CKA_ALWAYS_SENSITIVE`` stay false: its value existed outside
    the HSM. Meant for key migration and known-answer tests.
    """
    template = kek_template(uri, version, usage)
    template[Attribute.VALUE] = bytes(value)
    session.raw.create_object(template)


def count_label(session: Session, uri: Pkcs11Uri, version: int) -> int:
    """How many token objects carry the label (and id, if the URI pins one) of ``version``."""
    template: dict[Any, Any] = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.TOKEN: True,
        Attribute.LABEL: uri.label(version),
    }
    if uri.id is not None:
        template[Attribute.ID] = uri.object_id(version)
    return sum(1 for _ in session.raw.get_objects(template))


def claim_kek(session: Session, uri: Pkcs11Uri, version: int, usage: str) -> bool:
    """Create KEK version ``version`` and keep it only if it is the only one with its label.

    Rotation is exclusive without a lock that would only cover one host: create first, then
    count the objects with the label. When another process created the same version at the
    same moment, this one destroys *its own* object (by handle, never the other's) and returns
    False. Nothing has used the object yet (the check precedes any wrap), so destroying it
    loses no data. Both racers may see the duplicate and both withdraw; callers retry after a
    random pause. The other object, if any, is a complete key made by the winner.

    Returns:
        True if this call's object is the one version ``version`` now has.
    """
    created = create_kek(session, uri, version, usage)
    if count_label(session, uri, version) == 1:
        return True
    created.destroy()
    return False


@contextlib.contextmanager
def local_rotation_lock(module_path: str, token_serial: str, obj: str) -> Iterator[None]:
    """Serialise rotations of one key among the processes of this host (``flock``).

    Exclusivity across hosts comes from :func:`claim_kek`; this lock adds it on one host for
    tokens whose object index lags behind other processes' writes (SoftHSM2 2.6 does not see
    another process's new object when its own write follows it, so both racers can count
    one object). The lock file lives in the temporary directory, named by a hash of module,
    token serial and object; if it cannot be opened (another user's file), rotation goes on
    without it and a warning is logged.

    Raises:
        KeyProviderError: another process held the lock for :data:`LOCK_TIMEOUT` seconds.
    """
    import fcntl

    digest = hashlib.sha256(f"{module_path}\0{token_serial}\0{obj}".encode()).hexdigest()[:24]
    path = os.path.join(tempfile.gettempdir(), f"tigerseal-pkcs11-{digest}.lock")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        log.warning("no local rotation lock (%s: %s); relying on the token check", path, exc)
        yield
        return
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise KeyProviderError(
                        f"another process on this host has been rotating {obj!r} for "
                        f"{LOCK_TIMEOUT:.0f} s (lock {path}); retry when it is done"
                    ) from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # closing releases the lock
