"""Verification of hash-chained audit files (``tigerseal audit verify FILE``).

What is detected, and how (the format is in :mod:`tigerseal.audit.chain`):

* **edit** of a record: the next record's ``prev`` no longer matches; if the attacker also
  recomputed every later hash, the next checkpoint's MAC fails instead;
* **deletion**: a gap in ``seq`` (or, from the start of the file, a first ``seq`` above 0);
* **reordering** or **insertion**: ``seq`` going backwards or repeating;
* **truncation** back past a checkpoint: ``<file>.head`` names a checkpoint the file no longer
  holds (records after the newest checkpoint are chained but not yet anchored; the report says
  how many);
* a **torn last line** (a crash during a write) is reported as a warning and everything before
  it is verified; a torn line that a later process terminated is reported the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tigerseal.audit.chain import (
    CHECKPOINT,
    GENESIS_PREV,
    HEAD_FORMAT,
    RESUME,
    START,
    AuditKeys,
    checkpoint_mac,
    head_mac,
)
from tigerseal.errors import AuditError, TigerSealError

__all__ = ["Issue", "VerifyReport", "verify_audit_file"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding.

    Attributes:
        kind: ``edited``, ``deleted``, ``reordered``, ``inserted``, ``corrupt``, ``torn``,
            ``truncated``, ``forged``, ``key`` or ``unanchored``.
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
    def __init__(self, path: Path, keys: AuditKeys | None, check_macs: bool) -> None:
        self.path = path
        self.keys = keys
        self.check_macs = check_macs
        self.report = VerifyReport(str(path))
        self.mac_keys: dict[tuple[str, str], bytes | None] = {}
        self.wrapped: dict[tuple[str, str], str | None] = {}
        self.seen: dict[int, int] = {}
        self.gaps: list[tuple[int, int, int]] = []
        self.backwards: list[tuple[int, int, int]] = []
        self.checkpoint_hashes: dict[int, str] = {}
        self.since_anchor = 0
        self.mac_warning = False

    def issue(
        self, kind: str, severity: Severity, line: int | None, seq: int | None, message: str
    ) -> None:
        self.report.issues.append(Issue(kind, severity, line, seq, message))

    # -- keys --------------------------------------------------------------------------------
    def _keys(self) -> AuditKeys:
        if self.keys is None:
            self.keys = AuditKeys()
        return self.keys

    def mac_key(self, chain_id: str, key_id: str, line: int, seq: int) -> bytes | None:
        ident = (chain_id, key_id)
        if ident in self.mac_keys:
            return self.mac_keys[ident]
        key: bytes | None = None
        try:
            key = self._keys().open_key(chain_id, key_id, self.wrapped.get(ident))
        except TigerSealError as exc:
            self.issue(
                "key",
                "error",
                line,
                seq,
                f"checkpoint key {key_id} cannot be opened ({type(exc).__name__}: {exc}); the "
                "key record was altered, or verify with the keys the writer used",
            )
        self.mac_keys[ident] = key
        return key

    # -- the walk ----------------------------------------------------------------------------
    def run(self) -> VerifyReport:
        report = self.report
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise AuditError(f"cannot read the audit file {self.path}: {exc.strerror}") from exc
        prev_hash: str | None = None
        expected: int | None = None
        chain_id: str | None = None
        pending_bad: tuple[int, bytes] | None = None
        tail: tuple[int, bytes] | None = None
        line_no = 0
        with handle:
            for raw in handle:
                line_no += 1
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
                if seq in self.seen:
                    pass  # reported through self.backwards
                else:
                    self.seen[seq] = line_no
                line_sha = hashlib.sha256(body).hexdigest()
                # record kinds
                if event_type in (START, RESUME):
                    cid = rec.get("chain_id")
                    if isinstance(cid, str):
                        chain_id = cid
                        if cid not in report.chain_ids:
                            report.chain_ids.append(cid)
                    key_id = rec.get("mac_key_id")
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
                elif event_type == CHECKPOINT:
                    self._checkpoint(rec, chain_id, line_no, seq, prev_hash, resync)
                    self.checkpoint_hashes[seq] = line_sha
                report.records += 1
                self.since_anchor += 1
                report.last_seq = seq if report.last_seq is None else max(report.last_seq, seq)
                prev_hash = line_sha
        report.lines = line_no
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
        report.unanchored = self.since_anchor
        if report.checkpoints == 0 and report.records:
            self.issue(
                "unanchored",
                "warning",
                None,
                None,
                "no checkpoint: the records are hash-chained but not authenticated, so a "
                "rewritten file would go unnoticed",
            )
        return report

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
        resync: bool,
    ) -> None:
        report = self.report
        report.checkpoints += 1
        if not self.check_macs:
            if not self.mac_warning:
                self.mac_warning = True
                self.issue(
                    "unanchored",
                    "warning",
                    None,
                    None,
                    "checkpoint MACs were not checked (--no-macs)",
                )
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

    def _check_head(self) -> None:
        head_path = self.path.with_name(self.path.name + ".head")
        report = self.report
        if not head_path.exists():
            if report.checkpoints:
                self.issue(
                    "unanchored",
                    "warning",
                    None,
                    None,
                    f"no head file ({head_path.name}): truncation of the file cannot be detected",
                )
            return
        try:
            head = json.loads(head_path.read_bytes())
            if head.get("format") != HEAD_FORMAT:
                raise ValueError("format")
            chain_id, seq = str(head["chain_id"]), int(head["seq"])
            sha, ts, key_id, mac = (
                str(head["sha256"]),
                str(head["ts"]),
                str(head["mac_key_id"]),
                str(head["mac"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            self.issue("forged", "error", None, None, f"the head file {head_path.name} is damaged")
            return
        report.head_seq = seq
        if self.check_macs:
            wrapped = head.get("mac_key")
            ident = (chain_id, key_id)
            if ident not in self.wrapped:
                self.wrapped[ident] = wrapped if isinstance(wrapped, str) else None
            key = self.mac_key(chain_id, key_id, 0, seq)
            if key is None:
                return
            if not hmac.compare_digest(head_mac(key, chain_id, seq, sha, ts), mac):
                self.issue(
                    "forged",
                    "error",
                    None,
                    seq,
                    f"the head file {head_path.name} does not authenticate: it was altered",
                )
                return
        last = report.last_seq if report.last_seq is not None else -1
        if seq > last:
            self.issue(
                "truncated",
                "error",
                None,
                seq,
                f"the file ends at seq {last} but its head records a checkpoint at seq {seq}: "
                "records were cut off the end of the file",
            )
        elif self.checkpoint_hashes.get(seq) != sha:
            self.issue(
                "truncated",
                "error",
                None,
                seq,
                f"the checkpoint at seq {seq} recorded in the head file is not in the file as "
                "written: the file was truncated and rewritten",
            )


def verify_audit_file(
    path: str | os.PathLike[str],
    *,
    keys: AuditKeys | None = None,
    check_macs: bool = True,
) -> VerifyReport:
    """Check a hash-chained audit file and its head.

    Args:
        path: the JSONL file written by the ``file://`` sink.
        keys: how to open checkpoint keys (default: the configured encryption service; pass
            ``AuditKeys(static_key=...)`` for a static key).
        check_macs: ``False`` checks the chain only (no key access needed).

    Returns:
        A :class:`VerifyReport`; ``report.ok`` is false if anything was altered.

    Raises:
        AuditError: the file cannot be read.
    """
    return _Verifier(Path(path), keys, check_macs).run()
