"""Which stored secrets still depend on which key versions, and a retire that checks first.

tigerseal keeps secrets outside messages too: the password pepper file, the SQL blind-index
root keys, the audit trail's MAC keys. Each is a data key wrapped by a key provider, so each
stops working the moment the provider retires the version it was wrapped under. This module
is the one place that asks every part of tigerseal "what do you store, wrapped under which
key version?" before a version is retired:

* :class:`KeyUse` is one stored wrapped key: what it is (for the operator) and the
  ``provider``/``key_id``/``version`` it is wrapped under;
* :class:`KeyUseScan` says where to look (pepper files, database URLs, audit sinks, files);
* each stored-secret kind answers the ``report_key_uses`` hook
  (:func:`tigerseal.hookspecs.report_key_uses`): the pepper file (built-in password plugin),
  encrypted files named in the scan (this module), the blind-index keys table (tigerseal-sql),
  the audit MAC keys (the audit sinks' plugins);
* :func:`key_uses` collects the answers, :func:`dependents` keeps those a provider would stop
  unwrapping below a version, and :func:`retire` refuses (:class:`KeyVersionInUse`, naming
  every dependent) unless nothing is left, and only then retires.

The provider method itself (``retire_below`` of :class:`tigerseal.spi.Retirable` providers:
file, Vault, PKCS#11) is **not** guarded: they know nothing of peppers or tables. Use
:func:`retire` or ``tigerseal retire`` for the checked path.

A scan fails closed: a source that cannot be read raises, it never counts as "no uses".
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from tigerseal._text import escape_control
from tigerseal.errors import ConfigError, TigerSealError
from tigerseal.hookspecs import hookimpl
from tigerseal.spi._capabilities import retire_below

if TYPE_CHECKING:
    from tigerseal.config import Settings
    from tigerseal.spi._provider import KeyProvider, WrappedKey

__all__ = [
    "KeyUse",
    "KeyUseScan",
    "KeyVersionInUse",
    "RewrapCount",
    "dependents",
    "key_uses",
    "retire",
]

#: How many dependents an error message lists before summarising the rest.
_LISTED = 20


@dataclass(frozen=True, slots=True)
class KeyUse:
    """One stored wrapped key, and the key version it depends on.

    Attributes:
        what: where it is stored, for the operator (``"pepper 'p1' in /etc/ts/peppers.json"``,
            ``"blind-index key 'accounts' in tigerseal_blind_index_keys at sqlite:///x.db"``).
            May contain untrusted text (ids read from storage); it is escaped when shown.
        provider: the provider name (URI scheme) of the wrapped key, as in ``WrappedKey``.
        key_id: the provider's key id.
        version: the key version it is wrapped under.
        remedy: the command that moves it to the newest version (``"tigerseal pepper
            rewrap"``), shown when a retire is refused; empty if none.
    """

    what: str
    provider: str
    key_id: str
    version: int
    remedy: str = ""

    @classmethod
    def of(cls, what: str, wrapped: WrappedKey, remedy: str = "") -> KeyUse:
        """The use of ``wrapped`` described as ``what``."""
        return cls(what, wrapped.provider, wrapped.key_id, wrapped.key_version, remedy)

    def describe(self) -> str:
        """One line for errors and the terminal, with untrusted text escaped."""
        line = (
            f"{escape_control(self.what, limit=200)} (wrapped by "
            f"{escape_control(self.provider, limit=40)}:{escape_control(self.key_id, limit=120)} "
            f"version {self.version})"
        )
        if self.remedy:
            line += f"; rewrap with: {escape_control(self.remedy, limit=300)}"
        return line


@dataclass(frozen=True, slots=True)
class KeyUseScan:
    """Where :func:`key_uses` looks. Every field is optional; plugins answer for what they know.

    Attributes:
        pepper_files: password pepper files (``TIGERSEAL_PASSWORD_PEPPER_FILE``).
        database_urls: SQLAlchemy URLs of databases holding tigerseal tables (the blind-index
            keys table ``tigerseal_blind_index_keys``, SQL audit sinks' key tables).
        audit_sinks: audit sink URIs (``TIGERSEAL_AUDIT_SINKS``), whose MAC keys are wrapped.
        paths: encrypted files or directories (``TSL`` binary messages, or files holding one
            ``ts1.`` text or JSON message); other files are ignored.
        sql_columns: ``table.column`` (or ``schema.table.column``) names of encrypted columns,
            checked in every database of ``database_urls`` (tigerseal-sql).
    """

    pepper_files: tuple[str, ...] = ()
    database_urls: tuple[str, ...] = ()
    audit_sinks: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    sql_columns: tuple[str, ...] = ()

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        database_urls: Iterable[str] = (),
        audit_sinks: Iterable[str] | None = None,
        paths: Iterable[str | os.PathLike[str]] = (),
        sql_columns: Iterable[str] = (),
    ) -> KeyUseScan:
        """Everything the settings name: the pepper file, ``DATABASE_URL``, the audit sinks.

        Args:
            settings: defaults to :func:`tigerseal.config.get_settings`.
            database_urls: further databases (added to ``DATABASE_URL``).
            audit_sinks: replaces ``TIGERSEAL_AUDIT_SINKS`` when given.
            paths: encrypted files or directories to check as well.
            sql_columns: encrypted SQL columns (``table.column``) to check in the databases.
        """
        if settings is None:
            from tigerseal.config import get_settings

            settings = get_settings()
        # Retiring keys must see every store: an unusable database URL is an error, not "none".
        settings.require("database_url")
        dbs = list(database_urls)
        if settings.database_url is not None:
            dbs.insert(0, settings.database_url.get_secret_value())
        sinks = settings.audit_sinks.split() if audit_sinks is None else list(audit_sinks)
        return cls(
            pepper_files=(settings.password_pepper_file,) if settings.password_pepper_file else (),
            database_urls=tuple(dict.fromkeys(dbs)),
            audit_sinks=tuple(dict.fromkeys(sinks)),
            paths=tuple(os.fspath(p) for p in paths),
            sql_columns=tuple(sql_columns),
        )


class RewrapCount(NamedTuple):
    """What a rewrap of stored secrets did.

    Attributes:
        rewrapped: wrapped keys moved to their provider's newest key version.
        current: wrapped keys already on it.
        other: wrapped keys of providers not configured here, left as they are (configure
            their provider too, or they keep depending on its old versions).
    """

    rewrapped: int
    current: int
    other: int = 0


class KeyVersionInUse(ConfigError):
    """A key version cannot be retired: stored secrets still depend on it.

    Attributes:
        uses: the dependents found.
    """

    def __init__(self, message: str, uses: Sequence[KeyUse]) -> None:
        super().__init__(message)
        self.uses = tuple(uses)


def key_uses(scan: KeyUseScan) -> list[KeyUse]:
    """Every stored wrapped key the installed plugins find in the places ``scan`` names.

    Raises:
        ConfigError: a source could not be read (never treated as "no uses").
    """
    from tigerseal.plugins import key_uses as _collect

    return _collect(scan)


def dependents(provider: KeyProvider, min_version: int, uses: Iterable[KeyUse]) -> list[KeyUse]:
    """The uses ``provider`` would stop unwrapping if versions below ``min_version`` retired."""
    from tigerseal.spi._provider import WrappedKey

    return [
        u
        for u in uses
        if u.version < min_version
        and provider.owns(WrappedKey(u.provider, u.key_id, u.version, b""))
    ]


def retire(
    provider: KeyProvider,
    min_version: int,
    scan: KeyUseScan | None = None,
    *,
    uses: Iterable[KeyUse] = (),
) -> None:
    """Retire versions below ``min_version`` of ``provider``, unless something still uses them.

    Args:
        provider: the provider to retire versions of (``file://``, ``fake://``, Vault, PKCS#11).
        min_version: the lowest version that stays usable.
        scan: where to look; defaults to :meth:`KeyUseScan.from_settings`.
        uses: further uses the caller knows of (they are checked too).

    Raises:
        KeyVersionInUse: something still depends on a version below ``min_version``; the
            message lists what (run the rewrap command for each, then retry).
        UnsupportedOperation: the provider cannot retire versions.
    """
    if scan is None:
        scan = KeyUseScan.from_settings()
    found = dependents(provider, min_version, [*key_uses(scan), *uses])
    if found:
        lines = [u.describe() for u in found[:_LISTED]]
        if len(found) > _LISTED:
            lines.append(f"... and {len(found) - _LISTED} more")
        uri = escape_control(provider.uri, limit=200)
        raise KeyVersionInUse(
            f"cannot retire versions below {min_version} of {uri}: "
            f"{len(found)} stored secret(s) still use them:\n  "
            + "\n  ".join(lines)
            + "\nrewrap them first (see the Rotation section of docs/encryption.md), then retry",
            found,
        )
    retire_below(provider, min_version)


# -- built-in answers: encrypted files named in the scan -------------------------------------
def file_key_uses(paths: Iterable[str]) -> list[KeyUse]:
    """The wrapped keys of the tigerseal messages among ``paths`` (headers only).

    The files are exactly those ``tigerseal rewrap`` works on (:mod:`tigerseal._files` decides
    both): temporary files and symlinks inside directories are left out, text and JSON files
    may carry a BOM and surrounding whitespace.

    Raises:
        ConfigError: a file cannot be read, or a running tigerseal process is still writing a
            temporary file among them (it becomes a message, on an unknown version, later).
    """
    from tigerseal import _files
    from tigerseal.envelope._format import parse_header

    found: list[KeyUse] = []
    writing: list[Path] = []
    files = _files.walk_message_files(paths, live_temps=writing)[0]
    if writing:
        # A running writer (an `encrypt -o` started before the rotation) renames its
        # temporary file into place later, wrapped under whatever version it began with.
        listed = ", ".join(escape_control(str(p), limit=200) for p in writing[:5])
        raise ConfigError(
            f"{len(writing)} file(s) are still being written by a running tigerseal process "
            f"({listed}); wait until they finish, rewrap them, then retry"
        )
    for path in files:
        try:
            with open(path, "rb") as f:
                form, raw = _files.read_message_file(f)
            if form is None:
                continue
            if form == "binary":
                header = parse_header(raw)
            else:
                # One that looks like a message but does not parse is reported, not skipped.
                header = _files.parse_message_file(raw).header
        except (OSError, ValueError, TigerSealError) as exc:
            raise ConfigError(
                f"could not read {escape_control(str(path), limit=300)} to check its key versions "
                f"({type(exc).__name__}); fix or remove it, then retry"
            ) from exc
        remedy = f"tigerseal rewrap {path}"
        found += [KeyUse.of(f"message file {path}", w, remedy) for w in header.wrapped_keys]
    return found


@hookimpl
def report_key_uses(scan: KeyUseScan) -> list[KeyUse]:
    """Built-in answer: encrypted files and directories listed in ``scan.paths``."""
    return file_key_uses(scan.paths)
