r"""The hash-chained JSONL format shared by the file sink and the verifier.

Format ``tigerseal-audit/1`` (one JSON object per line, ASCII, ``\n``-terminated)::

    {"seq":0,"prev":"000...0","ts":...,"event_type":"audit_chain_start","chain_id":"...",
     "format":"tigerseal-audit/1","mac_key_id":"...","mac_key":"ts1...."}
    {"seq":1,"prev":"<sha256 hex of line 0>","ts":...,"event_type":"authn_login_fail",...}
    ...
    {"seq":1000,"prev":"<sha256 of line 999>",...,"event_type":"audit_checkpoint",
     "chain_id":"...","mac_key_id":"...","mac":"<hmac-sha256 hex>"}

* ``seq`` counts records from 0 in a file; ``prev`` is the SHA-256 (hex) of the previous line's
  bytes without its newline, so editing, deleting, inserting or reordering any line breaks the
  chain at the next line.
* A plain hash chain can be recomputed by whoever can write the file, so every
  ``checkpoint_every`` records (and at close) the sink writes a checkpoint: an HMAC-SHA256,
  under a key only the key provider can give back, over ``chain_id``, ``seq``, the hash of the
  previous line and the time. A rewritten chain no longer matches the MACs.
* The MAC key is random per process and stored in the ``audit_chain_start`` /
  ``audit_chain_resume`` record *encrypted by the envelope* (``mac_key``, a ``ts1.`` message
  bound to ``{"purpose": "tigerseal-audit-mac", "chain": chain_id, "key_id": mac_key_id}``).
  Writers need only permission to create data keys; verifiers need permission to decrypt.
* At every checkpoint the sink also replaces ``<file>.head``: the last checkpoint's ``seq`` and
  line hash, MACed, so cutting records off the end of the file (truncation back past a
  checkpoint) is detected. Records written after the last checkpoint are protected by the
  chain only; ``tigerseal audit verify`` says how many.
* A line torn by a crash is terminated by the next process, whose ``audit_chain_resume`` record
  chains to the last whole line and names the torn bytes' hash in ``recovered``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tigerseal.errors import AuditError

if TYPE_CHECKING:
    from tigerseal.envelope import EncryptionService

__all__ = [
    "FORMAT",
    "GENESIS_PREV",
    "HEAD_FORMAT",
    "AuditKeys",
    "MacKey",
    "checkpoint_mac",
    "head_mac",
    "line_hash",
    "mac_context",
]

FORMAT = "tigerseal-audit/1"
HEAD_FORMAT = "tigerseal-audit-head/1"
GENESIS_PREV = "0" * 64
START = "audit_chain_start"
RESUME = "audit_chain_resume"
CHECKPOINT = "audit_checkpoint"


def line_hash(line: bytes) -> str:
    """SHA-256 (hex) of one line without its newline."""
    return hashlib.sha256(line).hexdigest()


def checkpoint_mac(key: bytes, chain_id: str, seq: int, prev: str, ts: str) -> str:
    """The MAC of a checkpoint record."""
    msg = f"{FORMAT}\ncheckpoint\n{chain_id}\n{seq}\n{prev}\n{ts}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def head_mac(key: bytes, chain_id: str, seq: int, line_sha256: str, ts: str) -> str:
    """The MAC of a head file (the newest checkpoint's position and hash)."""
    msg = f"{HEAD_FORMAT}\n{chain_id}\n{seq}\n{line_sha256}\n{ts}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


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
