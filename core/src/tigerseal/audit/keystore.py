"""The audit trail's wrapped MAC keys: which key versions they use, and rewrapping them.

From format ``tigerseal-audit/2`` on, the chain only names each writer's MAC key and commits to
it; the key, encrypted by the envelope, lives in a side store that is not hashed into the chain
(``<file>.keys`` for the file sink, the keys table for the SQL sink), so it can be rewrapped
after a key rotation without touching a single chained line.

Legacy (``tigerseal-audit/1``) trails carry their wrapped keys *inside* chained lines, which can
never change. Rewrapping such a trail copies each of those keys, rewrapped, into the side store;
the verifier prefers the side store's copy (a wrong key would fail the checkpoint MACs), so
the old key version can then be retired.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tigerseal.audit._chain import KEYS_FORMAT, LEGACY_FORMAT, RESUME, START
from tigerseal.errors import AuditError

if TYPE_CHECKING:
    from tigerseal.envelope import EncryptionService
    from tigerseal.keyuse import KeyUse, RewrapCount

__all__ = [
    "entry_key_uses",
    "file_key_entries",
    "file_key_uses",
    "file_target_path",
    "legacy_key_entries",
    "rewrap_entries",
    "rewrap_file_keys",
]


def file_target_path(target: str) -> str | None:
    """The path of a file target (a path or ``file://`` URI), ``None`` for other URIs."""
    scheme, sep, _ = target.partition("://")
    if not sep or not scheme:
        return target
    if scheme.lower() == "file":  # the file sink's own rule (query options do not matter)
        from tigerseal.audit._filesink import path_from_uri

        return path_from_uri(target)
    return None


def _keys_path(path: Path) -> Path:
    return path.with_name(path.name + ".keys")


def legacy_key_entries(lines: Iterable[bytes | str]) -> Iterator[dict[str, str]]:
    """Side-store entries for the wrapped keys inside legacy start/resume lines."""
    for raw in lines:
        text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
        if '"mac_key":"' not in text:
            continue
        try:
            rec = json.loads(text)
        except ValueError:
            continue
        if (
            isinstance(rec, dict)
            and rec.get("event_type") in (START, RESUME)
            and rec.get("format") == LEGACY_FORMAT
            and isinstance(rec.get("mac_key"), str)
            and isinstance(rec.get("chain_id"), str)
            and isinstance(rec.get("mac_key_id"), str)
        ):
            yield {
                "format": KEYS_FORMAT,
                "chain_id": rec["chain_id"],
                "key_id": rec["mac_key_id"],
                "commit": "",  # legacy keys are checked by the checkpoint MACs instead
                "wrapped": rec["mac_key"],
            }


def _read_entries(keys_path: Path) -> list[dict[str, Any]]:
    try:
        data = keys_path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise AuditError(f"cannot read the audit key file {keys_path}: {exc.strerror}") from exc
    entries = []
    for n, raw in enumerate(data.splitlines(), 1):
        try:
            entry = json.loads(raw)
            if entry.get("format") != KEYS_FORMAT or not isinstance(entry.get("wrapped"), str):
                raise ValueError("format")
        except (ValueError, AttributeError):
            raise AuditError(
                f"line {n} of the audit key file {keys_path} is damaged; restore it from a "
                "backup (the MAC keys of the trail cannot be opened without it)"
            ) from None
        entries.append(entry)
    return entries


def file_key_entries(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every wrapped MAC key of an audit file: ``<file>.keys`` and legacy in-chain keys.

    Raises:
        AuditError: the key file is damaged or a file cannot be read.
    """
    path = Path(path)
    entries = _read_entries(_keys_path(path))
    known = {(e["chain_id"], e["key_id"]) for e in entries}
    try:
        with path.open("rb") as handle:
            for entry in legacy_key_entries(handle):
                if (entry["chain_id"], entry["key_id"]) not in known:
                    known.add((entry["chain_id"], entry["key_id"]))
                    entries.append(entry)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise AuditError(f"cannot read the audit file {path}: {exc.strerror}") from exc
    return entries


def entry_key_uses(entries: Iterable[dict[str, Any]], where: str, remedy: str) -> list[KeyUse]:
    """One :class:`~tigerseal.keyuse.KeyUse` per wrapped key of every entry."""
    from tigerseal.envelope._message import EncryptedData
    from tigerseal.keyuse import KeyUse

    uses = []
    for entry in entries:
        try:
            wrapped_keys = EncryptedData.parse(entry["wrapped"]).wrapped_keys
        except Exception as exc:
            raise AuditError(
                f"the wrapped audit MAC key {entry.get('key_id')!r} in {where} is not an "
                f"envelope message ({type(exc).__name__}); restore the key store from a backup"
            ) from exc
        legacy = " (legacy, inside the chain)" if not entry.get("commit") else ""
        for w in wrapped_keys:
            uses.append(
                KeyUse.of(f"audit MAC key {entry['key_id']!r}{legacy} of {where}", w, remedy)
            )
    return uses


def file_key_uses(path: str | os.PathLike[str], uri: str | None = None) -> list[KeyUse]:
    """Which provider key versions the MAC keys of an audit file still use.

    Raises:
        AuditError: the key store cannot be read.
    """
    shown = uri or os.fspath(path)
    return entry_key_uses(file_key_entries(path), shown, f"tigerseal audit rewrap-keys {shown}")


def rewrap_entries(
    entries: list[dict[str, Any]], encryption: EncryptionService
) -> tuple[list[dict[str, Any]], RewrapCount]:
    """The entries with every stale wrapped key rewrapped to its provider's newest version."""
    from tigerseal.envelope._message import EncryptedData
    from tigerseal.keyuse import RewrapCount

    rewrapped = current = other = 0
    out = []
    for entry in entries:
        ed = EncryptedData.parse(entry["wrapped"])
        new = encryption.rewrap(ed)
        if bytes(new) != bytes(ed):
            rewrapped += 1
            entry = {**entry, "wrapped": str(new)}
        elif all(any(p.owns(w) for p in encryption.providers) for w in ed.wrapped_keys):
            current += 1
        else:
            other += 1
        out.append(entry)
    return out, RewrapCount(rewrapped, current, other)


def rewrap_file_keys(
    path: str | os.PathLike[str], encryption: EncryptionService | None = None
) -> RewrapCount:
    """Rewrap the MAC keys of an audit file (``tigerseal audit rewrap-keys FILE``).

    Writers are held off by the file's lock meanwhile; the key file is replaced atomically.
    Legacy in-chain keys are copied, rewrapped, into ``<file>.keys``.

    Raises:
        AuditError: the file or its key store cannot be read or written.
    """
    from tigerseal.audit._filesink import _lock_file, open_no_follow

    if encryption is None:
        from tigerseal.envelope import get_encryption_service

        encryption = get_encryption_service()
    path = Path(path)
    if not path.exists():
        raise AuditError(f"no audit file {path}")
    # Rewrap first, without the lock: the provider calls may be slow, and a rewrap is itself
    # audited (crypto_rewrap), possibly into this very file, whose writer takes the lock.
    entries, count = rewrap_entries(file_key_entries(path), encryption)
    if not count.rewrapped:
        return count
    fresh = {(e["chain_id"], e["key_id"]): e for e in entries}
    fd = open_no_follow(path, os.O_RDONLY, "audit file")
    try:
        _lock_file(fd)
        # Writers may have added keys meanwhile (on the newest version): keep them.
        merged = [fresh.get((e["chain_id"], e["key_id"]), e) for e in file_key_entries(path)]
        _replace(_keys_path(path), b"".join(_line(e) for e in merged))
    finally:
        os.close(fd)  # releases the lock
    return count


def _line(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, separators=(",", ":")).encode("ascii") + b"\n"


def _replace(target: Path, data: bytes) -> None:
    from tigerseal import _files

    try:
        _files.write_private(target, data)
    except OSError as exc:
        raise AuditError(f"cannot write the audit key file {target}: {exc.strerror}") from exc
