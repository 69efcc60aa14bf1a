r"""The hash-chained JSONL format shared by the file sink, the SQL sink and the verifier.

Format ``tigerseal-audit/2`` (one JSON object per line, ASCII, ``\n``-terminated)::

    {"seq":0,"prev":"000...0","ts":...,"event_type":"audit_chain_start",
     "format":"tigerseal-audit/2","chain_id":"...","mac_key_id":"k1",
     "mac_key_commit":"...","mac":"k1:<hmac>"}
    {"seq":1,"prev":"<sha256 of line 0>","ts":...,"event_type":"authn_login_fail",...,
     "mac":"k1:<hmac>"}

* ``seq`` counts records from 0; ``prev`` is the SHA-256 (hex) of the previous line's bytes,
  so editing, deleting, inserting or reordering a line breaks the chain at the next line
  (checkable by anyone, without keys).
* **Every** line ends with ``"mac":"<key id>:<HMAC-SHA256>"`` over the line's bytes before
  that field (which include ``prev``): a keyed chain. Recomputing the chain after an edit
  needs the MAC key, so an attacker who can write the file but has no key cannot rewrite any
  record, not even the newest ones.
* The MAC key is random per writer process. The chain names it (``mac_key_id``) and commits
  to it (``mac_key_commit``, an HMAC of a fixed label under the key) in the writer's
  ``audit_chain_start`` / ``audit_chain_resume`` record; the key itself, *encrypted by the
  envelope* (bound to ``{"purpose": "tigerseal-audit-mac", "chain": chain_id, "key_id": id}``)
  lives in a side store (``<file>.keys``, or the SQL sink's keys table) that is not hashed
  into the chain, so it can be rewrapped after a key rotation (``tigerseal audit
  rewrap-keys``). Writers need only permission to create data keys; verifiers need
  permission to decrypt.
* The head (``<file>.head``; the SQL sink's head row) names the newest anchored record's
  ``seq`` and line hash, MACed; it is replaced when a writer opens, at every checkpoint and at
  close, so cutting records off the end back past it is detected.
* ``audit_checkpoint`` records mark the moments the head was moved.
* A line torn by a crash is terminated by the next writer, whose ``audit_chain_resume`` record
  chains to the last whole line and names the torn bytes' hash in ``recovered``.

The legacy format ``tigerseal-audit/1`` (MACs only on periodic checkpoint records, the wrapped
key inside the start record) still verifies, reported as a weaker legacy format.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tigerseal.errors import AuditError

if TYPE_CHECKING:
    from tigerseal.envelope import EncryptionService

__all__ = [
    "FORMAT",
    "GENESIS_PREV",
    "HEAD_FORMAT",
    "KEYS_FORMAT",
    "LEGACY_FORMAT",
    "LEGACY_HEAD_FORMAT",
    "AuditKeys",
    "LineMac",
    "MacKey",
    "checkpoint_mac",
    "head_mac",
    "head_snapshot",
    "key_commitment",
    "keys_entry",
    "line_hash",
    "mac_context",
    "split_mac",
]

FORMAT = "tigerseal-audit/2"
HEAD_FORMAT = "tigerseal-audit-head/2"
KEYS_FORMAT = "tigerseal-audit-keys/1"
LEGACY_FORMAT = "tigerseal-audit/1"
LEGACY_HEAD_FORMAT = "tigerseal-audit-head/1"
GENESIS_PREV = "0" * 64
START = "audit_chain_start"
RESUME = "audit_chain_resume"
CHECKPOINT = "audit_checkpoint"


def line_hash(line: bytes) -> str:
    """SHA-256 (hex) of one line without its newline."""
    return hashlib.sha256(line).hexdigest()


def checkpoint_mac(key: bytes, chain_id: str, seq: int, prev: str, ts: str) -> str:
    """The MAC of a legacy (``tigerseal-audit/1``) checkpoint record."""
    msg = f"{LEGACY_FORMAT}\ncheckpoint\n{chain_id}\n{seq}\n{prev}\n{ts}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def head_mac(
    key: bytes, chain_id: str, seq: int, line_sha256: str, ts: str, fmt: str = HEAD_FORMAT
) -> str:
    """The MAC of a head (the newest anchored record's position and line hash)."""
    msg = f"{fmt}\n{chain_id}\n{seq}\n{line_sha256}\n{ts}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


# The head fields a resuming writer copies into its announcement (see head_snapshot).
_HEAD_FIELDS = ("format", "chain_id", "seq", "sha256", "ts", "mac_key_id", "mac", "mac_key")


def head_snapshot(data: bytes | str | None) -> dict[str, Any] | None:
    """What a resuming writer records of the head it is about to replace (``"head"`` field).

    A writer cannot check the head (it may not decrypt MAC keys), so it copies it into its
    MACed ``audit_chain_resume`` record and the verifier checks it there: a cut back past the
    head, or a deleted head, stays detectable after the writer has moved the head on.
    ``None``: there was no head; ``{"unreadable": ...}``: it was not a head document.
    """
    if data is None:
        return None
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    try:
        doc = json.loads(raw) if len(raw) <= 8192 else None
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        snap = {k: doc[k] for k in _HEAD_FIELDS if isinstance(doc.get(k), str | int)}
        if len(snap) >= 7:
            return snap
    return {"unreadable": hashlib.sha256(raw).hexdigest()}


_LINE_LABEL = (FORMAT + "\n").encode()
_COMMIT_LABEL = b"tigerseal-audit-key-commitment"
# The tail every v2 line ends with: ,"mac":"<key id>:<64 hex>"}
_MAC_TAIL = re.compile(rb',"mac":"([A-Za-z0-9-]{1,40}):([0-9a-f]{64})"\}$')


def key_commitment(key: bytes) -> str:
    """What the chain stores about a MAC key: it identifies the key and reveals nothing."""
    return hmac.new(key, _COMMIT_LABEL, hashlib.sha256).hexdigest()[:32]


class LineMac:
    """Appends the keyed-chain MAC to lines (one precomputed HMAC state per key)."""

    __slots__ = ("_base", "key_id")

    def __init__(self, key_id: str, key: bytes) -> None:
        self.key_id = key_id
        self._base = hmac.new(key, _LINE_LABEL, hashlib.sha256)

    def digest(self, prefix: bytes) -> str:
        """The MAC of a line's bytes before its ``,"mac":...`` field."""
        h = self._base.copy()
        h.update(prefix)
        return h.hexdigest()

    def seal(self, prefix: bytes) -> bytes:
        """``prefix`` (a JSON object without its closing brace) completed with its MAC."""
        return prefix + b',"mac":"' + f"{self.key_id}:{self.digest(prefix)}".encode() + b'"}'


def split_mac(line: bytes) -> tuple[bytes, str, str] | None:
    """``(prefix, key_id, mac)`` of a v2 line, or ``None`` if it carries no line MAC."""
    if not line.endswith(b'"}'):
        return None
    m = _MAC_TAIL.search(line, max(0, len(line) - 120))
    if m is None:
        return None
    return line[: m.start()], m.group(1).decode(), m.group(2).decode()


def keys_entry(chain_id: str, key: MacKey) -> dict[str, str]:
    """The side-store entry of a wrapped MAC key (``<file>.keys`` line, keys table row)."""
    assert key.wrapped is not None
    return {
        "format": KEYS_FORMAT,
        "chain_id": chain_id,
        "key_id": key.key_id,
        "commit": key_commitment(key.key),
        "wrapped": key.wrapped,
    }


def mac_context(chain_id: str, key_id: str) -> dict[str, str]:
    """The encryption context binding a wrapped MAC key to its chain."""
    return {"purpose": "tigerseal-audit-mac", "chain": chain_id, "key_id": key_id}


@dataclass(frozen=True, slots=True)
class MacKey:
    """A checkpoint key: its id, the key (never shown) and its envelope-encrypted form."""

    key_id: str
    key: bytes
    wrapped: str | None

    def __repr__(self) -> str:
        return f"MacKey(key_id={self.key_id!r}, key=<redacted>)"


class AuditKeys:
    """Creates and opens checkpoint MAC keys.

    Either through an :class:`~tigerseal.envelope.EncryptionService` (a fresh key per writer,
    stored encrypted in the trail; default: the process's configured service), or with one
    static key the caller manages (``static_key``; the trail then stores only its id).

    Args:
        encryption: the service that encrypts and decrypts MAC keys.
        static_key: use this key (>= 32 bytes) for every checkpoint instead.
    """

    def __init__(
        self, *, encryption: EncryptionService | None = None, static_key: bytes | None = None
    ) -> None:
        if static_key is not None and len(static_key) < 32:
            raise AuditError("an audit MAC key must be at least 32 bytes")
        self._encryption = encryption
        self._static = static_key
        self._opened: dict[tuple[str, str], bytes] = {}

    def _service(self) -> EncryptionService:
        if self._encryption is None:
            from tigerseal.envelope import get_encryption_service

            self._encryption = get_encryption_service()
        return self._encryption

    def _static_id(self) -> str:
        assert self._static is not None
        return (
            "static-" + hmac.new(self._static, b"tigerseal-audit-key-id", "sha256").hexdigest()[:16]
        )

    def new_key(self, chain_id: str) -> MacKey:
        """A key for a writer of ``chain_id``."""
        if self._static is not None:
            return MacKey(self._static_id(), self._static, None)
        key_id = secrets.token_hex(8)
        key = secrets.token_bytes(32)
        wrapped = self._service().encrypt(key, mac_context(chain_id, key_id))
        self._opened[(chain_id, key_id)] = key
        return MacKey(key_id, key, str(wrapped))

    def open_key(self, chain_id: str, key_id: str, wrapped: str | None) -> bytes:
        """The key named in a trail.

        Raises:
            AuditError: it is a static key other than ours, or there is no wrapped form.
            DecryptionError: the wrapped key does not decrypt (wrong keys, tampered, rebound).
        """
        if self._static is not None and key_id == self._static_id():
            return self._static
        cached = self._opened.get((chain_id, key_id))
        if cached is not None:
            return cached
        if wrapped is None:
            raise AuditError(
                f"checkpoint key {key_id!r} is a static key that was not given; pass it to verify"
            )
        key = self._service().decrypt(wrapped, mac_context(chain_id, key_id))
        self._opened[(chain_id, key_id)] = key
        return key
