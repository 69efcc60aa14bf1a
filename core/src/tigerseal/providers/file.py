"""Built-in plugin: the ``file://`` key provider (a versioned JSON keyring on local disk).

URI: ``file:///etc/tigerseal/keyring.json`` (absolute) or ``file://.tigerseal/keyring.json``
(relative to the working directory). Create one with ``tigerseal keygen PATH`` or
:func:`create_keyring`.

Keyring format (JSON, mode 0600)::

    {
      "format": "tigerseal-keyring",
      "format_version": 1,
      "keyring_id": "kr-<32 hex>",          # random: the key id recorded in messages
      "suite": "AES-256-GCM-SIV",
      "current_version": 2,
      "min_decryption_version": 0,
      "keys": [
        {"version": 1, "created": "2026-01-01T00:00:00Z", "key": "<64 hex>"},
        {"version": 2, "created": "2026-03-01T00:00:00Z", "key": "<64 hex>"}
      ]
    }

The key id is the random ``keyring_id``, not the path, so two keyrings never claim each other's
wrapped keys and a keyring can move without breaking messages. The file is refused when group
or others can read it, when it is not owned by the process's effective user, and when its
directory is writable by group or others or owned by another user (root aside): each of those
could swap in keys of their choosing (for a symlink, the directory the file really lives in is
checked too). A reload (after another process rotated) is refused with
:class:`~tigerseal.errors.KeyProviderError` when it removes a version, changes the key of one or
lowers the current version: tigerseal only ever adds versions. Added versions are logged.
With ``ENVIRONMENT=production`` a version whose key is visibly not random is refused
(:mod:`tigerseal.providers._trust`). The file is always written atomically (temp file, fsync,
rename, fsync of the directory). :meth:`FileKeyProvider.rotate` and
:meth:`FileKeyProvider.retire` hold an exclusive ``flock`` on ``<path>.lock`` while they read,
change and write the keyring, so two processes rotating at once both succeed, one after the
other. Other processes notice a rotation within :attr:`FileKeyProvider.reload_interval`
seconds, and at once when they meet a version they do not have. POSIX only (``fcntl``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tigerseal._text import escape_control
from tigerseal.errors import ConfigError, KeyNotFound, KeyProviderError
from tigerseal.hookspecs import hookimpl
from tigerseal.providers._trust import refuse_weak_key
from tigerseal.spi._capabilities import Retirable, Rotatable, renamed_method
from tigerseal.spi._provider import Context, KeyProvider, WrappedKey
from tigerseal.spi.options import build_options, decode_path, parse_uri
from tigerseal.spi.specs import ProviderSpec

if TYPE_CHECKING:
    from tigerseal.providers._local import LocalKeyring

__all__ = [
    "FORMAT",
    "FileKeyProvider",
    "create_keyring",
    "from_uri",
    "path_from_uri",
    "register_key_providers",
]

log = logging.getLogger(__name__)

FORMAT = "tigerseal-keyring"
FORMAT_VERSION = 1
_KEYRING_ID = re.compile(r"^kr-[0-9a-f]{32}$")
_HEX_KEY = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class FileOptions:
    """``file://`` keyrings take no options: everything is in the keyring file."""


def path_from_uri(uri: str) -> Path:
    """The filesystem path named by a ``file://`` URI (relative when it has no leading ``/``)."""
    parsed = parse_uri(
        uri, plugin="file://", schemes=("file",), example="file:///etc/tigerseal/keyring.json"
    )
    build_options(FileOptions, plugin="file:// keyring", uri=parsed.query)  # refuses any
    authority = "" if parsed.authority == "localhost" else parsed.authority or ""
    raw = decode_path(authority + parsed.path, plugin="file:// keyring")
    if not raw:
        raise ConfigError("file:// needs a path, e.g. file:///etc/tigerseal/keyring.json")
    return Path(raw).expanduser()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: The uid that must own keyring files: this process's effective user. A module attribute so
#: tests (and unusual deployments) can substitute it.
expected_owner: Callable[[], int] = os.geteuid


def _check_permissions(path: Path, st: os.stat_result) -> None:
    """Refuse a keyring anyone but this process's user could read, replace or rewrite."""
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise ConfigError(
            f"keyring {path} is accessible to group or others (mode "
            f"{stat.S_IMODE(st.st_mode):04o}); restrict it with: chmod 600 {path}"
        )
    uid = expected_owner()
    if st.st_uid != uid:
        # Its owner can chmod it and write keys of their choosing into it.
        raise ConfigError(
            f"keyring {path} is owned by uid {st.st_uid}, not by this process's user (uid "
            f"{uid}); whoever owns it can replace its keys. If the file is yours, fix it with: "
            f"chown {uid} {path}"
        )
    _check_directories(path, uid)


def _check_directories(path: Path, uid: int) -> None:
    """Refuse a keyring path whose directory others could write (or that another user owns)."""
    # The directory of the name we were given, and the one the file really lives in when that
    # name is a symlink: whoever can write either can swap the keyring.
    named = path.absolute().parent
    real = Path(os.path.realpath(path)).parent
    for directory in (named,) if real == named else (named, real):
        _check_directory(directory, uid)


def _check_directory(directory: Path, uid: int) -> None:
    try:
        dst = os.stat(directory)
    except OSError as exc:
        raise ConfigError(
            f"keyring directory {directory} cannot be checked ({exc.strerror})"
        ) from exc
    if dst.st_uid not in (uid, 0):
        raise ConfigError(
            f"keyring directory {directory} is owned by uid {dst.st_uid}, not by this process's "
            f"user (uid {uid}) or root; its owner can swap the keyring for another. Move the "
            "keyring to a directory you own"
        )
    if stat.S_IMODE(dst.st_mode) & 0o022:
        # Write access to the directory is enough to replace the file (rename over it).
        raise ConfigError(
            f"keyring directory {directory} is writable by group or others (mode "
            f"{stat.S_IMODE(dst.st_mode):04o}), so they could replace the keyring; restrict "
            f"it with: chmod go-w {directory}"
        )


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` (mode 0600) so readers see the old or new file only."""
    from tigerseal import _files

    # A symlinked keyring is replaced where it lives; the temporary copy of key material is
    # named after our pid and swept by the next writer if this process is killed.
    _files.write_private(_files.rename_target(path), (json.dumps(data, indent=2) + "\n").encode())


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``<path>.lock`` (serialises writers across processes)."""
    import fcntl

    from tigerseal import _files

    path = _files.rename_target(path)  # one lock for every name of the keyring
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _parse(path: Path, raw: bytes) -> dict[str, Any]:
    """Validate a keyring document; errors name the path and the field, never a key."""

    def bad(what: str) -> ConfigError:
        return ConfigError(
            f"keyring {path} is not a valid tigerseal keyring ({what}); restore it from a "
            "backup or create one with `tigerseal keygen`"
        )

    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad("not JSON") from None  # the parser's message could quote key bytes
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise bad(f"format is not {FORMAT!r}")
    if doc.get("format_version") != FORMAT_VERSION:
        raise bad(f"unsupported format_version {doc.get('format_version')!r}")
    if not isinstance(doc.get("keyring_id"), str) or not _KEYRING_ID.match(doc["keyring_id"]):
        raise bad("keyring_id must be 'kr-' and 32 hex characters")
    from tigerseal.providers._local import SUITE_IDS

    # The suite names the cipher of the host that created the file. Each wrapped key records
    # its own cipher (docs/providers/env-and-file.md), so a keyring moves between GCM-SIV and
    # GCM-only hosts; only an unknown value is a mistake.
    if doc.get("suite") not in SUITE_IDS:
        raise bad(
            f"suite {escape_control(str(doc.get('suite')), limit=40)!r} is not one of "
            f"{sorted(SUITE_IDS)}"
        )
    for field in ("current_version", "min_decryption_version"):
        if type(doc.get(field)) is not int or doc[field] < 0:
            raise bad(f"{field} must be a non-negative integer")
    keys = doc.get("keys")
    if not isinstance(keys, list) or not keys:
        raise bad("keys must be a non-empty list")
    seen: set[int] = set()
    for entry in keys:
        if not isinstance(entry, dict):
            raise bad("each key must be an object")
        version = entry.get("version")
        if type(version) is not int or version < 1 or version in seen:
            raise bad("key versions must be unique integers >= 1")
        seen.add(version)
        if not isinstance(entry.get("key"), str) or not _HEX_KEY.match(entry["key"]):
            raise bad(f"key version {version} must be 64 lowercase hex characters")
        if not isinstance(entry.get("created"), str):
            raise bad(f"key version {version} has no 'created' timestamp")
    if doc["current_version"] not in seen:
        raise bad(f"current_version {doc['current_version']} has no key")
    if doc["min_decryption_version"] > doc["current_version"]:
        raise bad("min_decryption_version is above current_version")
    return doc


def _new_document() -> dict[str, Any]:
    from tigerseal.providers._local import SUITE

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "keyring_id": "kr-" + secrets.token_hex(16),
        "suite": SUITE,
        "current_version": 1,
        "min_decryption_version": 0,
        "keys": [{"version": 1, "created": _now(), "key": secrets.token_hex(32)}],
    }


class FileKeyProvider(KeyProvider, Rotatable, Retirable):
    """KEKs in a versioned JSON keyring file (see the module docstring for the format).

    Build one with :meth:`from_path`, :func:`create_keyring` or ``file://`` URIs.

    Raises:
        ConfigError: the file is missing, malformed or readable by group/others.
    """

    scheme: ClassVar[str] = "file"
    #: Seconds between checks whether another process changed the keyring (0: every call).
    reload_interval: float = 2.0

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._keyring: LocalKeyring | None = None
        self._keyring_id = ""
        self._fingerprints: dict[int, bytes] = {}  # version -> SHA-256 of the key, for reloads
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._load()
        from tigerseal import _files

        # A writer killed by SIGKILL leaves a .tmp copy of the keyring (key material) behind:
        # the first process to open the keyring removes those of dead pids (once per directory).
        _files.sweep_stale(_files.rename_target(self._path).parent)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> FileKeyProvider:
        """Open an existing keyring file."""
        return cls(path)

    # -- loading -----------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The keyring file."""
        return self._path

    def _read(self) -> tuple[dict[str, Any], tuple[int, int, int]]:
        path = self._path
        try:
            # Non-blocking: opening a FIFO for reading would wait for a writer forever (then the
            # fstat below refuses it); reads of a regular file are unaffected.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            raise ConfigError(
                f"keyring {path} does not exist; create it with `tigerseal keygen {path}`"
            ) from None
        except PermissionError as exc:
            raise ConfigError(
                f"keyring {path} is not readable by this user; fix its owner or permissions"
            ) from exc
        except OSError as exc:
            raise ConfigError(f"keyring {path} cannot be opened ({exc.strerror})") from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ConfigError(f"keyring {path} cannot be opened (not a regular file)")
            _check_permissions(path, st)
            with os.fdopen(os.dup(fd), "rb") as handle:
                raw = handle.read()
        finally:
            os.close(fd)
        return _parse(path, raw), (st.st_ino, st.st_mtime_ns, st.st_size)

    def _apply(
        self, doc: dict[str, Any], stamp: tuple[int, int, int], *, ours: bool = False
    ) -> None:
        from tigerseal.providers._local import LocalKeyring

        keys = {e["version"]: bytes.fromhex(e["key"]) for e in doc["keys"]}
        current, min_version = doc["current_version"], doc["min_decryption_version"]
        for version, key in sorted(keys.items()):
            # A retired version is never used again and tigerseal never deletes one: checking it
            # would make "rotate, rewrap, retire the weak version" a dead end.
            if version >= min_version:
                refuse_weak_key(key, f"keyring {self._path} version {version}")
        fingerprints = {v: hashlib.sha256(k).digest() for v, k in keys.items()}
        if self._keyring is None or self._keyring_id != doc["keyring_id"]:
            if self._keyring is not None:
                raise ConfigError(
                    f"keyring {self._path} was replaced by another keyring "
                    f"({escape_control(str(doc['keyring_id']), limit=40)}); restart to use it"
                )
            self._keyring_id = doc["keyring_id"]
            self._keyring = LocalKeyring(
                self.scheme, self._keyring_id, keys, current=current, min_version=min_version
            )
        else:
            self._refuse_unsafe_reload(fingerprints, current)
            if not ours:
                self._log_added(sorted(set(fingerprints) - set(self._fingerprints)), current)
            self._keyring.replace(keys, current=current, min_version=min_version)
        self._fingerprints = fingerprints
        self._stamp = stamp
        self._checked = time.monotonic()

    def _log_added(self, added: list[int], current: int) -> None:
        """Say in the log that the file gained versions (another process rotated it).

        Accepted, since that is how rotation reaches other processes; logged, since if nobody
        rotated, whoever wrote the file chose the key the next message is wrapped under.
        """
        if added:
            log.warning(
                "keyring %s gained key version %s (current version now %d) from outside this "
                "process: expected after `tigerseal rotate` elsewhere; if nobody rotated, treat "
                "the keyring as tampered with",
                self._path,
                ", ".join(map(str, added)),
                current,
            )

    def _refuse_unsafe_reload(self, fingerprints: dict[int, bytes], current: int) -> None:
        """Refuse a keyring that lost or changed a version we loaded before, or went back.

        tigerseal only ever adds versions (rotate, which also moves the current version up) and
        moves the minimum (retire). A file that drops or alters a version, or whose current
        version went down, was rewritten by someone else: accepting it would wrap the next
        message under their key (or an older one), or make old messages unreadable.
        """
        assert self._keyring is not None  # a reload
        if current < self._keyring.current:
            raise KeyProviderError(
                f"keyring {self._path} was rewritten unsafely (its current version went back "
                f"from {self._keyring.current} to {current}): tigerseal never lowers it, so the "
                "file was changed outside tigerseal. It is refused (this process keeps refusing "
                "it); restore the keyring from a backup and find out who changed it, or restart "
                "the service if the change was deliberate"
            )
        removed = sorted(set(self._fingerprints) - set(fingerprints))
        changed = sorted(
            v
            for v, fp in self._fingerprints.items()
            if v in fingerprints and not hmac.compare_digest(fp, fingerprints[v])
        )
        if not removed and not changed:
            return
        what = []
        if removed:
            what.append(
                f"key version{'s' if len(removed) > 1 else ''} "
                f"{', '.join(map(str, removed))} removed"
            )
        if changed:
            what.append(
                f"the key of version{'s' if len(changed) > 1 else ''} "
                f"{', '.join(map(str, changed))} changed"
            )
        raise KeyProviderError(
            f"keyring {self._path} was rewritten unsafely ({'; '.join(what)}): tigerseal never "
            "removes or alters a key version, so the file was replaced outside tigerseal. It "
            "is refused (this process keeps refusing it); restore the keyring from a backup "
            "and find out who replaced it, or restart the service if the change was deliberate"
        )

    def _load(self) -> None:
        doc, stamp = self._read()
        with self._lock:
            self._apply(doc, stamp)

    def reload(self) -> None:
        """Re-read the keyring now (another process may have rotated it)."""
        self._load()

    def _fresh(self) -> LocalKeyring:
        keyring = self._keyring
        assert keyring is not None  # set by __init__
        if time.monotonic() - self._checked < self.reload_interval:
            return keyring
        try:
            st = os.stat(self._path)
        except OSError:
            self._checked = time.monotonic()  # keep serving the keys we have
            return keyring
        if (st.st_ino, st.st_mtime_ns, st.st_size) != self._stamp:
            self._load()
        else:
            self._checked = time.monotonic()
        return keyring

    # -- KeyProvider -------------------------------------------------------------------------
    @property
    def key_id(self) -> str:
        return self._keyring_id

    @property
    def key_version(self) -> int:
        return self._fresh().current

    @property
    def min_decryption_version(self) -> int:
        return self._fresh().min_version

    @property
    def versions(self) -> list[int]:
        """Every key version in the keyring."""
        return self._fresh().versions

    @property
    def uri(self) -> str:
        return f"file://{self._path}"

    def wrap(self, dek: bytes, context: Context) -> WrappedKey:
        return self._fresh().wrap(dek, context)

    def unwrap(self, wrapped: WrappedKey, context: Context) -> bytes:
        keyring = self._fresh()
        try:
            return keyring.unwrap(wrapped, context)
        except KeyNotFound:
            # Another process may have rotated since our last check: look once more.
            self._load()
            return keyring.unwrap(wrapped, context)

    def _update(self, change: str, min_version: int | None = None) -> dict[str, Any]:
        with self._lock, _locked(self._path):
            doc, _ = self._read()  # the file, not our copy: another process may have changed it
            if doc["keyring_id"] != self._keyring_id:
                raise ConfigError(
                    f"keyring {self._path} was replaced by another keyring; restart to use it"
                )
            if change == "rotate":
                version = max(e["version"] for e in doc["keys"]) + 1
                doc["keys"].append(
                    {"version": version, "created": _now(), "key": secrets.token_hex(32)}
                )
                doc["current_version"] = version
            else:
                assert min_version is not None
                if not 0 <= min_version <= doc["current_version"]:
                    raise ConfigError(
                        f"the minimum decryption version must be between 0 and the current "
                        f"version {doc['current_version']}, got {min_version}"
                    )
                doc["min_decryption_version"] = min_version
            try:
                _write_atomic(self._path, doc)
                st = os.stat(self._path)
            except OSError as exc:
                raise KeyProviderError(
                    f"could not write keyring {self._path} ({exc.strerror}); check that the "
                    "directory is writable and the disk is not full"
                ) from exc
            self._apply(doc, (st.st_ino, st.st_mtime_ns, st.st_size), ours=True)
        return doc

    def rotate(self) -> int:
        """Add a new random key version, make it current and persist the keyring."""
        doc = self._update("rotate")
        version: int = doc["current_version"]
        return version

    def retire_below(self, min_version: int) -> None:
        """Refuse versions below ``min_version`` from now on (rewrap old messages first)."""
        self._update("retire", min_version)

    retire = renamed_method("retire", "retire_below")

    def describe(self) -> dict[str, Any]:
        """Non-secret facts about the keyring: id, versions with creation times, current, min."""
        doc, _ = self._read()
        return {
            "path": str(self._path),
            "keyring_id": doc["keyring_id"],
            "suite": doc["suite"],
            "current_version": doc["current_version"],
            "min_decryption_version": doc["min_decryption_version"],
            "versions": [{"version": e["version"], "created": e["created"]} for e in doc["keys"]],
        }


def create_keyring(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    exist_ok: bool = False,
    backup_to: str | os.PathLike[str] | None = None,
) -> FileKeyProvider:
    """Create a keyring with one random 256-bit key at ``path`` (mode 0600).

    Missing parent directories are created with mode 0700. Creation holds the keyring's lock,
    so processes racing to create one keyring end up sharing the first one (``exist_ok``).

    Args:
        path: where to write the keyring.
        overwrite: replace an existing keyring. Every message wrapped under it then becomes
            undecryptable, so this is never the default.
        exist_ok: open an existing keyring instead of failing (for "create on first use").
        backup_to: with ``overwrite``, first copy the existing keyring here (mode 0600, never
            over an existing file), under the keyring's lock (``tigerseal keygen --force``).

    Raises:
        ConfigError: the file exists and neither ``overwrite`` nor ``exist_ok`` is set; or its
            directory (or, through a symlink, the target's) is writable by group or others or
            owned by another user (checked before anything is written).
    """
    if overwrite and exist_ok:
        raise ValueError("overwrite and exist_ok contradict each other; pass one")
    target = Path(path)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Before anything is written: in a directory someone else controls, a link planted at
    # ``path`` would otherwise make us create the keyring (and its lock) wherever it points.
    _check_directories(target, expected_owner())
    doc = _new_document()
    with _locked(target):
        if target.exists() and exist_ok:
            return FileKeyProvider(target)
        if target.exists() and not overwrite:
            raise ConfigError(
                f"a keyring already exists at {target}; refusing to replace it (messages "
                "wrapped under it would become undecryptable). Rotate it with `tigerseal "
                "rotate`, or delete it deliberately first"
            )
        if target.exists() and backup_to is not None:
            from tigerseal import _files

            try:
                _files.write_backup(target, Path(backup_to))
            except OSError as exc:
                raise ConfigError(
                    f"could not back up keyring {target} to {backup_to} ({exc.strerror}); "
                    "nothing was replaced"
                ) from exc
        try:
            _write_atomic(target, doc)
        except OSError as exc:
            raise ConfigError(
                f"could not create keyring {target} ({exc.strerror}); check the directory"
            ) from exc
    return FileKeyProvider(target)


def from_uri(uri: str, **options: Any) -> FileKeyProvider:
    """Build a :class:`FileKeyProvider` from ``file://PATH`` (the keyring must exist)."""
    path = path_from_uri(uri)
    build_options(FileOptions, plugin="file:// keyring", code=options)  # refuses any option
    return FileKeyProvider(path)


@hookimpl
def register_key_providers() -> list[ProviderSpec]:
    """Register the built-in ``file`` key provider."""
    return [
        ProviderSpec(
            name="file",
            factory="tigerseal.providers.file:from_uri",
            description="Versioned JSON keyring on local disk (mode 0600, rotation, retirement)",
        )
    ]
