"""Verification of hash-chained audit files (``tigerseal audit verify FILE``).

What is detected, and how (the format is in :mod:`tigerseal.audit._chain`):

* **edit** of a record: the next record's ``prev`` no longer matches; if the attacker also
  recomputed every later hash, the line MACs fail (``tigerseal-audit/2``: every line is MACed);
* **deletion**: a gap in ``seq`` (or, from the start of the file, a first ``seq`` above 0);
* **reordering** or **insertion**: ``seq`` going backwards or repeating;
* **stripping the MACs** (rewriting the trail as an unkeyed chain): a chain that announced a
  key must MAC every later line, and a trail in which no record is authenticated, or whose
  head is missing, fails unless ``allow_unanchored`` (``--allow-unanchored``);
* **truncation** back past the head: ``<file>.head`` names a record the file no longer holds
  (records after the head are MACed but can be cut off; the report says how many);
* a **torn last line** (a crash during a write) is reported as a warning and everything before
  it is verified; a torn line that a later process terminated is reported the same way.

Trails in the legacy format ``tigerseal-audit/1`` still verify, with a ``legacy`` warning: only
their checkpoints are MACed.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from tigerseal._text import escape_control
from tigerseal.audit._chain import (
    CHECKPOINT,
    FORMAT,
    GENESIS_PREV,
    HEAD_FORMAT,
    KEYS_FORMAT,
    LEGACY_HEAD_FORMAT,
    RESUME,
    START,
    AuditKeys,
    LineMac,
    checkpoint_mac,
    head_mac,
    key_commitment,
    split_mac,
)
from tigerseal.errors import AuditError, TigerSealError

__all__ = ["Issue", "VerifyReport", "verify_audit_file"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding.

    Attributes:
        kind: ``edited``, ``deleted``, ``reordered``, ``inserted``, ``corrupt``, ``torn``,
            ``truncated``, ``forged``, ``key``, ``unanchored`` or ``legacy``.
        severity: ``error`` (the trail was altered or cannot be trusted) or ``warning``.
        line: 1-based line number, when the finding is about a line.
        seq: the record's sequence number, when known.
        message: what was found, in words.
    """

    kind: str
    severity: Severity
    line: int | None
    seq: int | None
    message: str


@dataclass(slots=True)
class VerifyReport:
    """The result of :func:`verify_audit_file`."""

    path: str
    lines: int = 0
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    chain_ids: list[str] = field(default_factory=list)
    checkpoints: int = 0
    verified_checkpoints: int = 0
    last_checkpoint_seq: int | None = None
    unanchored: int = 0
    head_seq: int | None = None
    authenticated: int = 0
    legacy: bool = False
    last_sha256: str | None = None
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not any(i.severity == "error" for i in self.issues)

    @property
    def errors(self) -> list[Issue]:
        """The errors only."""
        return [i for i in self.issues if i.severity == "error"]

    def kinds(self) -> set[str]:
        """The kinds of every finding."""
        return {i.kind for i in self.issues}

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "path": self.path,
            "ok": self.ok,
            "lines": self.lines,
            "records": self.records,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "chain_ids": self.chain_ids,
            "checkpoints": self.checkpoints,
            "verified_checkpoints": self.verified_checkpoints,
            "last_checkpoint_seq": self.last_checkpoint_seq,
            "unanchored_records": self.unanchored,
            "head_seq": self.head_seq,
            "authenticated_records": self.authenticated,
            "last_sha256": self.last_sha256,
            "legacy_format": self.legacy,
            "issues": [
                {
                    "kind": i.kind,
                    "severity": i.severity,
                    "line": i.line,
                    "seq": i.seq,
                    "message": i.message,
                }
                for i in self.issues
            ],
        }


def _parse(body: bytes) -> dict[str, Any] | None:
    try:
        rec = json.loads(body)
    except ValueError:
        return None
    if not isinstance(rec, dict):
        return None
    seq, prev = rec.get("seq"), rec.get("prev")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        return None
    if not isinstance(prev, str) or len(prev) != 64:
        return None
    return rec


class _Verifier:
    def __init__(
        self,
        path: Path,
        keys: AuditKeys | None,
        check_macs: bool,
        allow_unanchored: bool,
        anchor: tuple[int, str] | None = None,
    ) -> None:
        self.path = path
        self.anchor = anchor
        self.anchor_sha: str | None = None
        self.keys = keys
        self.check_macs = check_macs
        self.allow_unanchored = allow_unanchored
        self.report = VerifyReport(str(path))
        self.mac_keys: dict[tuple[str, str], bytes | None] = {}
        self.wrapped: dict[tuple[str, str], str | None] = {}
        self.seen: dict[int, int] = {}
        self.gaps: list[tuple[int, int, int]] = []
        self.backwards: list[tuple[int, int, int]] = []
        self.checkpoint_hashes: dict[int, str] = {}
        self.since_anchor = 0
        self.mac_warning = False
        # tigerseal-audit/2: keys from the side store, keys announced in the chain
        self.entries: dict[tuple[str, str], dict[str, Any]] = {}
        self.announced: dict[tuple[str, str], str] = {}
        self.sealers: dict[tuple[str, str], LineMac | None] = {}
        self.raw_keys: dict[tuple[str, str], bytes] = {}
        self.keyed = False  # a v2 writer announced a key: every later line must carry a MAC
        self.forged_lines = 0
        self.head: dict[str, Any] | None = None
        self.head_line_sha: str | None = None
        # The heads resuming writers found (checked after the walk). The line a head names is
        # at or after the newest checkpoint or writer start before it (each moves the head;
        # one more back for a crash before the head was stored), so only the hashes of those
        # two spans are kept; an older seq is looked up in a second pass, only if needed.
        self.window: dict[int, str] = {}
        self.window_before: dict[int, str] = {}
        self.wanted: set[int] = set()
        self.late_hashes: dict[int, str] = {}
        self.carried: list[tuple[int, int, dict[str, Any], bool, str | None]] = []

    def issue(
        self, kind: str, severity: Severity, line: int | None, seq: int | None, message: str
    ) -> None:
        self.report.issues.append(Issue(kind, severity, line, seq, message))

    def unanchored(self, message: str) -> None:
        """An authentication gap: an error unless the caller accepts unanchored trails."""
        severity: Severity = "warning" if self.allow_unanchored else "error"
        hint = "" if self.allow_unanchored else " (--allow-unanchored accepts this)"
        self.issue("unanchored", severity, None, None, message + hint)

    # -- keys --------------------------------------------------------------------------------
    def _keys(self) -> AuditKeys:
        if self.keys is None:
            self.keys = AuditKeys()
        return self.keys

    def mac_key(self, chain_id: str, key_id: str, line: int, seq: int) -> bytes | None:
        """A legacy (v1) checkpoint key, wrapped inside the trail or rewrapped in .keys."""
        ident = (chain_id, key_id)
        if ident in self.mac_keys:
            return self.mac_keys[ident]
        key: bytes | None = None
        entry = self.entries.get(ident)
        wrapped = entry["wrapped"] if entry is not None else self.wrapped.get(ident)
        try:
            key = self._keys().open_key(chain_id, key_id, wrapped)
        except TigerSealError as exc:
            self.issue(
                "key",
                "error",
                line,
                seq,
                f"checkpoint key {escape_control(key_id, limit=40)} cannot be opened "
                f"({type(exc).__name__}: {exc}); the key record was altered, or verify with "
                "the keys the writer used",
            )
        self.mac_keys[ident] = key
        return key

    def _read_sidecar(self, suffix: str, kind: str) -> bytes | None:
        """The trail's ``<file><suffix>`` side file, or None if absent or unreadable (reported)."""
        path = self.path.with_name(self.path.name + suffix)
        try:
            return _read_regular(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.issue(kind, "error", None, None, f"cannot read {path.name}: {exc}")
            return None

    def _load_entries(self) -> None:
        data = self._read_sidecar(".keys", "key")
        if data is None:
            return
        for n, raw in enumerate(data.splitlines(), 1):
            try:
                entry = json.loads(raw)
                if entry.get("format") != KEYS_FORMAT:
                    raise ValueError("format")
                ident = (str(entry["chain_id"]), str(entry["key_id"]))
                if not isinstance(entry["wrapped"], str):
                    raise TypeError("wrapped")
            except (ValueError, KeyError, TypeError, AttributeError):
                self.issue(
                    "key", "error", None, None, f"line {n} of {self.path.name}.keys is damaged"
                )
                continue
            self.entries[ident] = entry

    def sealer(self, chain_id: str, key_id: str, line: int, seq: int | None) -> LineMac | None:
        """The line-MAC key ``key_id`` of ``chain_id`` (from the side store), or ``None``."""
        ident = (chain_id, key_id)
        if ident in self.sealers:
            return self.sealers[ident]
        sealer: LineMac | None = None
        shown = escape_control(key_id, limit=40)
        entry = self.entries.get(ident)
        try:
            key = self._keys().open_key(
                chain_id, key_id, entry["wrapped"] if entry is not None else None
            )
        except TigerSealError as exc:
            where = "its wrapped form" if entry is not None else "no wrapped form in the key store"
            self.issue(
                "key",
                "error",
                line,
                seq,
                f"MAC key {shown} cannot be opened ({where}: {type(exc).__name__}: {exc}); the "
                "key store (<file>.keys / keys table) was altered or lost, the key version was "
                "retired before `tigerseal audit rewrap-keys`, or verify with the writer's keys",
            )
        else:
            commit = key_commitment(key)
            expected = self.announced.get(ident) or (entry or {}).get("commit")
            if expected is not None and not hmac.compare_digest(str(expected), commit):
                self.issue(
                    "key",
                    "error",
                    line,
                    seq,
                    f"MAC key {shown} is not the key the chain announced (its commitment "
                    "differs): the key file was altered",
                )
            else:
                sealer = LineMac(key_id, key)
                self.raw_keys[ident] = key
        self.sealers[ident] = sealer
        return sealer

    # -- the walk ----------------------------------------------------------------------------
    def run(self) -> VerifyReport:
        report = self.report
        try:
            handle = _open_regular(self.path)
        except OSError as exc:
            raise AuditError(f"cannot read the audit file {self.path}: {exc.strerror}") from exc
        self._load_entries()
        self._read_head()
        prev_hash: str | None = None
        expected: int | None = None
        chain_id: str | None = None
        pending_bad: tuple[int, bytes] | None = None
        tail: tuple[int, bytes] | None = None
        line_no = 0
        with handle:
            while raw := handle.readline(_MAX_LINE + 1):
                line_no += 1
                if len(raw) > _MAX_LINE:
                    # Far above any record (the auditor bounds them at 64 KiB): a planted
                    # giant line (free in a sparse file) must not be read whole into memory.
                    length = len(raw) + _skip_line(handle)
                    self.issue(
                        "corrupt",
                        "error",
                        line_no,
                        None,
                        f"line {line_no} is {length} bytes long, far longer than any audit "
                        "record: it was planted",
                    )
                    continue
                if not raw.endswith(b"\n"):
                    tail = (line_no, raw)
                    break
                body = raw[:-1]
                rec = _parse(body)
                if rec is None:
                    if pending_bad is not None:
                        self._corrupt(*pending_bad)
                    pending_bad = (line_no, body)
                    continue
                seq: int = rec["seq"]
                prev: str = rec["prev"]
                event_type = rec.get("event_type")
                resync = False
                if pending_bad is not None:
                    resync = True
                    recovered = rec.get("recovered")
                    torn_hash = hashlib.sha256(pending_bad[1]).hexdigest()
                    if (
                        event_type in (START, RESUME)
                        and isinstance(recovered, dict)
                        and recovered.get("torn_sha256") == torn_hash
                        and prev == (prev_hash or GENESIS_PREV)
                    ):
                        self.issue(
                            "torn",
                            "warning",
                            pending_bad[0],
                            None,
                            f"line {pending_bad[0]} is a record torn by a crash "
                            f"({len(pending_bad[1])} bytes); the next process recovered at "
                            f"line {line_no} (the torn record is lost)",
                        )
                        resync = False
                    else:
                        self._corrupt(*pending_bad)
                    pending_bad = None
                # sequence and chain
                if expected is None:
                    report.first_seq = seq
                    if seq != 0:
                        self.issue(
                            "deleted",
                            "error",
                            line_no,
                            seq,
                            f"the file starts at seq {seq}, not 0: records 0..{seq - 1} were "
                            "removed from its beginning",
                        )
                    elif prev != GENESIS_PREV and not resync:
                        self.issue(
                            "edited",
                            "error",
                            line_no,
                            seq,
                            "the first record does not chain to the genesis value",
                        )
                    expected = seq + 1
                elif seq == expected:
                    if prev != prev_hash and not resync:
                        self.issue(
                            "edited",
                            "error",
                            line_no - 1,
                            seq - 1,
                            f"line {line_no - 1} (seq {seq - 1}) was modified or replaced: its "
                            f"hash does not match the 'prev' of line {line_no}",
                        )
                    expected = seq + 1
                elif seq > expected:
                    self.gaps.append((line_no, expected, seq - 1))
                    expected = seq + 1
                else:
                    self.backwards.append((line_no, seq, expected))
                if seq not in self.seen:  # repeats are reported through self.backwards
                    self.seen[seq] = line_no
                line_sha = hashlib.sha256(body).hexdigest()
                if self.head is not None and seq == self.head["seq"]:
                    self.head_line_sha = line_sha
                if self.anchor is not None and seq == self.anchor[0]:
                    self.anchor_sha = line_sha
                # record kinds
                if rec.get("format") == FORMAT and (
                    event_type == RESUME or (event_type == START and "cut" in rec)
                ):
                    # Was a head due before this writer came? (a keyed chain, checkpoints)
                    due = self.keyed or report.checkpoints > 0
                    self.carried.append((line_no, seq, rec, due, self._named_hash(rec, seq)))
                if event_type in (START, RESUME, CHECKPOINT):
                    self.window_before, self.window = self.window, {}
                self.window.setdefault(seq, line_sha)
                if event_type in (START, RESUME):
                    cid = rec.get("chain_id")
                    if isinstance(cid, str):
                        chain_id = cid
                        if cid not in report.chain_ids:
                            report.chain_ids.append(cid)
                    key_id = rec.get("mac_key_id")
                    if rec.get("format") == FORMAT:
                        commit = rec.get("mac_key_commit")
                        if isinstance(key_id, str) and chain_id is not None:
                            self.announced[(chain_id, key_id)] = str(commit)
                            self.keyed = True
                    else:
                        self._legacy(line_no, seq)
                        if isinstance(key_id, str) and chain_id is not None:
                            wrapped = rec.get("mac_key")
                            self.wrapped[(chain_id, key_id)] = (
                                wrapped if isinstance(wrapped, str) else None
                            )
                    if event_type == START and seq != 0:
                        self.issue(
                            "inserted",
                            "error",
                            line_no,
                            seq,
                            f"a chain start record at seq {seq} (line {line_no}): lines from "
                            "another audit file were spliced in",
                        )
                authentic = self._line_mac(body, chain_id, line_no, seq)
                if event_type == CHECKPOINT:
                    if authentic is None:
                        self._checkpoint(rec, chain_id, line_no, seq, prev_hash)
                    else:
                        report.checkpoints += 1
                        if authentic:
                            report.verified_checkpoints += 1
                            report.last_checkpoint_seq = seq
                    self.checkpoint_hashes[seq] = line_sha
                report.records += 1
                self.since_anchor += 1
                report.last_seq = seq if report.last_seq is None else max(report.last_seq, seq)
                prev_hash = line_sha
        report.lines = line_no
        report.last_sha256 = prev_hash
        if pending_bad is not None:
            self._corrupt(*pending_bad)
        if tail is not None:
            self.issue(
                "torn",
                "warning",
                tail[0],
                None,
                f"the last line ({tail[0]}, {len(tail[1])} bytes) is incomplete: a write was cut "
                f"short, e.g. by a crash; the {report.records} records before it were checked",
            )
        self._classify_sequence()
        self._check_head()
        self._check_carried()
        self._check_anchored()
        self._check_external_anchor()
        return report

    def _check_external_anchor(self) -> None:
        if self.anchor is None:
            return
        seq, sha = self.anchor
        if self.anchor_sha is None:
            self.issue(
                "truncated",
                "error",
                None,
                seq,
                f"the anchor names seq {seq}, which the trail no longer holds: records were cut "
                "off (or the trail was replaced)",
            )
        elif not hmac.compare_digest(self.anchor_sha, sha.lower()):
            self.issue(
                "truncated",
                "error",
                None,
                seq,
                f"the record at seq {seq} is not the one anchored: the trail was rewritten or "
                "replaced",
            )

    def _legacy(self, line: int, seq: int) -> None:
        if self.report.legacy:
            return
        self.report.legacy = True
        self.issue(
            "legacy",
            "warning",
            line,
            seq,
            "records from line "
            f"{line} on were written in the legacy format tigerseal-audit/1, where only "
            "checkpoints are MACed: records after its last checkpoint could have been rewritten "
            "undetected. Writers of this version use tigerseal-audit/2 (every line MACed).",
        )

    def _line_mac(self, body: bytes, chain_id: str | None, line: int, seq: int) -> bool | None:
        """Check a v2 line MAC: ``True``/``False``, or ``None`` for a line without one."""
        parts = split_mac(body)
        if parts is None:
            if self.keyed:
                self.forged_lines += 1
                self.issue(
                    "forged",
                    "error",
                    line,
                    seq,
                    f"line {line} (seq {seq}) carries no MAC after a writer announced a MAC "
                    "key: records were rewritten without the key (MACs stripped)",
                )
                return False
            return None
        prefix, key_id, mac = parts
        if not self.check_macs:
            self._no_macs_warning()
            return False
        if chain_id is None or (chain_id, key_id) not in self.announced:
            self.forged_lines += 1
            self.issue(
                "forged",
                "error",
                line,
                seq,
                f"line {line} (seq {seq}) is MACed under key {escape_control(key_id, limit=40)}, "
                "which no writer announced in this chain",
            )
            return False
        sealer = self.sealer(chain_id, key_id, line, seq)
        if sealer is None:
            return False
        if hmac.compare_digest(sealer.digest(prefix), mac):
            self.report.authenticated += 1
            return True
        self.forged_lines += 1
        if self.forged_lines <= 20:
            self.issue(
                "forged",
                "error",
                line,
                seq,
                f"the MAC of line {line} (seq {seq}) does not match: the record was altered "
                "(even if the hash chain was recomputed) or forged",
            )
        return False

    def _no_macs_warning(self) -> None:
        if not self.mac_warning:
            self.mac_warning = True
            self.issue("unanchored", "warning", None, None, "MACs were not checked (--no-macs)")

    def _corrupt(self, line: int, body: bytes) -> None:
        self.issue(
            "corrupt",
            "error",
            line,
            None,
            f"line {line} is not an audit record ({len(body)} bytes): it was edited or replaced",
        )

    def _checkpoint(
        self,
        rec: dict[str, Any],
        chain_id: str | None,
        line: int,
        seq: int,
        prev_hash: str | None,
    ) -> None:
        """A legacy (v1) checkpoint record."""
        report = self.report
        report.checkpoints += 1
        if not self.check_macs:
            self._no_macs_warning()
            return
        key_id, mac, ts = rec.get("mac_key_id"), rec.get("mac"), rec.get("ts")
        cid = rec.get("chain_id")
        if (
            not isinstance(key_id, str)
            or not isinstance(mac, str)
            or not isinstance(ts, str)
            or cid != chain_id
            or chain_id is None
        ):
            self.issue(
                "forged",
                "error",
                line,
                seq,
                f"checkpoint at line {line} (seq {seq}) is malformed or names another chain",
            )
            return
        key = self.mac_key(chain_id, key_id, line, seq)
        if key is None:
            return
        # The MAC is checked over the hash of the line actually preceding it, so any change
        # before this point, even with every later hash recomputed, fails here.
        expected = checkpoint_mac(key, chain_id, seq, prev_hash or GENESIS_PREV, ts)
        if hmac.compare_digest(expected, mac):
            report.verified_checkpoints += 1
            report.last_checkpoint_seq = seq
            self.since_anchor = -1  # the checkpoint itself is counted next
        else:
            self.issue(
                "forged",
                "error",
                line,
                seq,
                f"checkpoint at line {line} (seq {seq}) does not authenticate the records before "
                "it: they were altered (even if their hashes were recomputed) or the checkpoint "
                "was forged",
            )

    def _classify_sequence(self) -> None:
        for line, first, last in self.gaps:
            missing = range(first, last + 1)
            later = [s for s in missing if s in self.seen and self.seen[s] > line]
            span = f"seq {first}" if first == last else f"seqs {first}..{last}"
            if len(later) == len(missing):
                self.issue(
                    "reordered",
                    "error",
                    line,
                    first,
                    f"{span} appear(s) later in the file than line {line}: records were reordered",
                )
            else:
                self.issue(
                    "deleted",
                    "error",
                    line,
                    first,
                    f"{span} missing before line {line}: records were deleted",
                )
        for line, seq, expected in self.backwards:
            if self.seen.get(seq, line) < line:
                self.issue(
                    "inserted",
                    "error",
                    line,
                    seq,
                    f"seq {seq} at line {line} repeats an earlier record (line "
                    f"{self.seen[seq]}): a record was duplicated or inserted",
                )
            else:
                self.issue(
                    "reordered",
                    "error",
                    line,
                    seq,
                    f"seq {seq} at line {line} comes after seq {expected - 1}: records were "
                    "reordered",
                )

    # -- head --------------------------------------------------------------------------------
    def _read_head(self) -> None:
        data = self._read_sidecar(".head", "forged")
        if data is None:
            return
        try:
            head = json.loads(data)
        except ValueError:
            head = None
        parsed = _parse_head(head)
        if parsed is None:
            self.issue(
                "forged", "error", None, None, f"the head file {self.path.name}.head is damaged"
            )
            self.head = {"damaged": True, "seq": -2}
            return
        self.head = parsed
        self.report.head_seq = parsed["seq"]

    def _check_head(self) -> None:
        report = self.report
        head = self.head
        name = self.path.name + ".head"
        if head is None:
            if report.records and (report.checkpoints or self.keyed):
                self.unanchored(
                    f"no head file ({name}): records cut off the end of the file, or the "
                    "removal of every MAC, could not be detected"
                )
            return
        if head.get("damaged"):
            return
        seq, sha = head["seq"], head["sha256"]
        if self.check_macs:
            authentic = self._head_authentic(head)
            if authentic is None:
                return
            if not authentic:
                self.issue(
                    "forged",
                    "error",
                    None,
                    seq,
                    f"the head file {name} does not authenticate: it was altered",
                )
                return
        last = report.last_seq if report.last_seq is not None else -1
        if seq > last:
            self.issue(
                "truncated",
                "error",
                None,
                seq,
                f"the file ends at seq {last} but its head records seq {seq}: records were cut "
                "off the end of the file",
            )
            return
        actual = (
            self.head_line_sha if head["format"] == HEAD_FORMAT else self.checkpoint_hashes.get(seq)
        )
        if actual != sha:
            self.issue(
                "truncated",
                "error",
                None,
                seq,
                f"the record at seq {seq} named by the head file is not in the file as written: "
                "the file was truncated and rewritten",
            )
            return
        if head["format"] == HEAD_FORMAT:
            self.since_anchor = last - seq

    def _head_authentic(self, head: dict[str, Any]) -> bool | None:
        """Whether a parsed head's MAC matches; ``None`` if its key cannot be opened (reported)."""
        chain_id, seq, sha, ts = head["chain_id"], head["seq"], head["sha256"], head["ts"]
        key_id = head["mac_key_id"]
        if head["format"] == HEAD_FORMAT:
            if self.sealer(chain_id, key_id, 0, seq) is None:
                return None
            opened = self.raw_keys[(chain_id, key_id)]
            expected = head_mac(opened, chain_id, seq, sha, ts, HEAD_FORMAT)
        else:
            ident = (chain_id, key_id)
            wrapped = head.get("mac_key")
            if ident not in self.wrapped:
                self.wrapped[ident] = wrapped if isinstance(wrapped, str) else None
            legacy_key = self.mac_key(chain_id, key_id, 0, seq)
            if legacy_key is None:
                return None
            expected = head_mac(legacy_key, chain_id, seq, sha, ts, LEGACY_HEAD_FORMAT)
        return hmac.compare_digest(expected, head["mac"])

    def _named_hash(self, rec: dict[str, Any], seq: int) -> str | None:
        """The hash of the line a resume record's carried head names, if kept (see window)."""
        snap = rec.get("head")
        named = snap.get("seq") if isinstance(snap, dict) else None
        if not isinstance(named, int) or isinstance(named, bool) or not 0 <= named < seq:
            return None
        found = self.window.get(named) or self.window_before.get(named)
        if found is None:
            self.wanted.add(named)
        return found

    def _second_pass(self) -> None:
        """Hashes of the older lines carried heads name (rare: a head that lagged)."""
        if not self.wanted:
            return
        with _open_regular(self.path) as handle:
            while raw := handle.readline(_MAX_LINE + 1):
                if len(raw) > _MAX_LINE:
                    _skip_line(handle)
                    continue
                body = raw[:-1] if raw.endswith(b"\n") else raw
                rec = _parse(body)
                if rec is not None and rec["seq"] in self.wanted:
                    self.late_hashes.setdefault(rec["seq"], hashlib.sha256(body).hexdigest())

    def _check_carried(self) -> None:
        """The heads resuming writers replaced (and cuts they saw) must match the file.

        A writer moves the head on, so without this a cut (with or without deleting the
        head) would pass once the application had written again.
        """
        self._second_pass()
        for line, seq, rec, due, known in self.carried:
            if rec.get("event_type") == START:
                # A running writer found its file emptied, replaced or deleted and started
                # this chain: what it had written is gone (log rotation by copytruncate does
                # this too, so it is a warning).
                self.issue(
                    "truncated",
                    "warning",
                    line,
                    seq,
                    f"this chain was started (line {line}) by a writer whose previous file was "
                    "emptied, replaced or deleted while it ran: its earlier records are not in "
                    "this file (a copytruncate log rotation, or they were deleted)",
                )
                continue
            where = f"the writer that resumed at line {line} (seq {seq})"
            cut = rec.get("cut")
            if isinstance(cut, dict) and cut.get("chain_id") not in (None, rec.get("chain_id")):
                # Its file was replaced by another chain (log rotation, or the trail deleted
                # and restarted by another writer): what it wrote is elsewhere, not here.
                self.issue(
                    "truncated",
                    "warning",
                    line,
                    seq,
                    f"{where} had been writing another chain, whose file was rotated, replaced "
                    "or deleted while it ran: its earlier records are not in this file",
                )
            elif cut is not None:
                self.issue(
                    "truncated",
                    "error",
                    line,
                    seq,
                    f"the file shrank under {where}, or was replaced by another: records it had "
                    "written were cut off or rolled back",
                )
            if "head" not in rec:
                continue  # written before resume records carried the head
            snap = rec["head"]
            if snap is None:
                if due:
                    self.unanchored(
                        f"the head file was missing when {where} started: records cut off the "
                        "end before it, with the head deleted, could not be detected"
                    )
                continue
            parsed = _parse_head(snap)
            if parsed is None:
                self.issue(
                    "forged",
                    "error",
                    line,
                    seq,
                    f"the head file {where} found was damaged or replaced",
                )
                continue
            if self.check_macs:
                authentic = self._head_authentic(parsed)
                if authentic is None:
                    continue
                if not authentic:
                    self.issue(
                        "forged",
                        "error",
                        line,
                        seq,
                        f"the head file {where} found does not authenticate: it was altered",
                    )
                    continue
            named = parsed["seq"]
            actual = known or self.late_hashes.get(named)
            if named >= seq or actual != parsed["sha256"]:
                self.issue(
                    "truncated",
                    "error",
                    line,
                    seq,
                    f"the head {where} found names seq {named}, which the file does not hold "
                    "as written before that writer: records were cut off the end (and maybe "
                    "rewritten) before it started",
                )

    def _check_anchored(self) -> None:
        report = self.report
        report.unanchored = max(self.since_anchor, 0)
        if not report.records:
            return
        if not self.check_macs:
            self._no_macs_warning()
            return
        if (
            report.authenticated == 0
            and report.verified_checkpoints == 0
            and not any(i.kind in ("key", "forged") for i in report.issues)
        ):
            self.unanchored(
                "no record of this trail is authenticated (no line MAC, no verified "
                "checkpoint): it is a plain hash chain anyone can rewrite"
            )


#: Longest line the verifier reads (records are bounded at 64 KiB by the auditor).
_MAX_LINE = 8 * 1024 * 1024


def _skip_line(handle: BinaryIO) -> int:
    """Read past the rest of an overlong line in bounded pieces; how many bytes it had."""
    skipped = 0
    while piece := handle.readline(1 << 20):
        skipped += len(piece)
        if piece.endswith(b"\n"):
            break
    return skipped


def _open_regular(path: Path) -> BinaryIO:
    """Open a file for reading, refusing anything but a regular file.

    ``O_NONBLOCK``: a FIFO planted in place of the trail, its head or its key store must not
    hang ``audit verify`` (a check run from cron would then never report the tampering).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_regular(path: Path) -> bytes:
    with _open_regular(path) as handle:
        return handle.read()


def _parse_head(head: Any) -> dict[str, Any] | None:
    """The fields of a head document (file, head row or a resume record's copy), or ``None``."""
    try:
        if head.get("format") not in (HEAD_FORMAT, LEGACY_HEAD_FORMAT):
            raise ValueError("format")
        return {
            "format": head["format"],
            "chain_id": str(head["chain_id"]),
            "seq": int(head["seq"]),
            "sha256": str(head["sha256"]),
            "ts": str(head["ts"]),
            "mac_key_id": str(head["mac_key_id"]),
            "mac": str(head["mac"]),
            "mac_key": head.get("mac_key"),
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def verify_audit_file(
    path: str | os.PathLike[str],
    *,
    keys: AuditKeys | None = None,
    check_macs: bool = True,
    allow_unanchored: bool = False,
    anchor: tuple[int, str] | None = None,
) -> VerifyReport:
    """Check a hash-chained audit file and its head.

    Args:
        path: the JSONL file written by the ``file://`` sink.
        keys: how to open checkpoint keys (default: the configured encryption service; pass
            ``AuditKeys(static_key=...)`` for a static key).
        check_macs: ``False`` checks the chain only (no key access needed).
        allow_unanchored: accept a trail in which no record is authenticated, or whose head
            file is missing (reported as warnings instead of errors).
        anchor: ``(seq, sha256)`` of a record kept outside the host (``tigerseal audit
            anchor``): the trail must still hold exactly that record, which detects a cut or
            rollback back past it, and a trail replaced as a whole.

    Returns:
        A :class:`VerifyReport`; ``report.ok`` is false if anything was altered.

    Raises:
        AuditError: the file cannot be read.
    """
    return _Verifier(Path(path), keys, check_macs, allow_unanchored, anchor).run()
