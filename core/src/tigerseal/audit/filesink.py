"""The default audit sink: hash-chained JSONL with HMAC checkpoints (``file://``).

See :mod:`tigerseal.audit.chain` for the format. Durability, chosen per sink:

============ ================================================================================
``buffered`` records collect in memory and reach the file every 64 KiB, at checkpoints and at
             close: fastest; a crash loses the unwritten tail (the chain stays verifiable).
``flush``    (default) every record is written to the OS before :meth:`write` returns: it
             survives a crash of the process, not of the machine.
``fsync``    every record is written and fsynced before :meth:`write` returns.
``group``    group commit: durable (fsynced) before :meth:`write` returns, like ``fsync``, but
             concurrent writers share one fsync: the first waiting thread writes and syncs
             everything queued while the others wait for it.
============ ================================================================================

Concurrent writers (threads) never lose or interleave records: sequence numbers, the chain and
the file order are all assigned under one lock. Several *processes* must not share one file
(each would start its own chain in the middle of the other's); give each its own path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from tigerseal.audit.chain import (
    CHECKPOINT,
    FORMAT,
    GENESIS_PREV,
    HEAD_FORMAT,
    RESUME,
    START,
    AuditKeys,
    MacKey,
    checkpoint_mac,
    head_mac,
)
from tigerseal.audit.clock import timestamp
from tigerseal.errors import AuditError, AuditIntegrityError, ConfigError
from tigerseal.spi.services import AuditSink

__all__ = ["DURABILITY_MODES", "Durability", "FileAuditSink", "from_uri"]

Durability = Literal["buffered", "flush", "fsync", "group"]
DURABILITY_MODES: tuple[Durability, ...] = ("buffered", "flush", "fsync", "group")
_BUFFER_LIMIT = 64 * 1024
_TAIL_CHUNK = 64 * 1024
# Compact, ASCII-only JSON. The redactor hands over trees (no cycles), so the cycle check is
# skipped; one encoder instance, because json.dumps with any option builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str, check_circular=False)
_encode = _ENCODER.encode
_sha256 = hashlib.sha256
# fdatasync skips metadata an append does not need (mtime); it still syncs the new size.
_datasync = getattr(os, "fdatasync", os.fsync)
# Longest a group-commit leader waits for the writers it expects (see _commit).
_MAX_GROUP_DELAY = 0.002
# ... as a multiple of the average sync time.
_GROUP_WAIT = 0.5


class _Forked(OSError):
    """The sink was inherited by a forked child process."""


# Sinks alive in this process; a forked child must not continue its parent's chain (both would
# append to one file). Marked at fork time, so writes pay nothing for the check.
_SINKS: weakref.WeakSet[FileAuditSink] = weakref.WeakSet()


def _mark_forked() -> None:
    for sink in list(_SINKS):
        sink._error = _Forked(
            f"this audit sink was opened by process {sink._pid} and this is a forked child "
            f"({os.getpid()}); open sinks after forking, one file per process (a {{pid}} in the "
            "path is replaced by the process id)"
        )


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_mark_forked)


class FileAuditSink(AuditSink):
    """Append audit records to a hash-chained JSONL file.

    Args:
        path: the file; created (mode 0600, parent directories 0700) if missing. ``{pid}`` in
            it is replaced by the process id (one file per worker process).
        durability: ``buffered``, ``flush`` (default), ``fsync`` or ``group`` (see above).
        checkpoint_every: records between two HMAC checkpoints.
        checkpoint_interval: seconds after which the next record also writes a checkpoint.
        checkpoints: ``False`` for a plain hash chain without MACs (not recommended).
        keys: where checkpoint keys come from (default: the configured encryption service).

    Raises:
        AuditIntegrityError: the existing file's last whole line is not an audit record, so the
            chain cannot be continued (move the file aside and run ``tigerseal audit verify``).
        AuditError: the file cannot be opened.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: Durability = "flush",
        checkpoint_every: int = 1000,
        checkpoint_interval: float = 60.0,
        checkpoints: bool = True,
        keys: AuditKeys | None = None,
    ) -> None:
        if durability not in DURABILITY_MODES:
            raise ConfigError(
                f"unknown audit durability {durability!r}; use one of: "
                f"{', '.join(DURABILITY_MODES)}"
            )
        if checkpoint_every < 1 or not checkpoint_interval > 0:
            raise ConfigError("checkpoint_every must be >= 1 and checkpoint_interval > 0 seconds")
        self._pid = os.getpid()
        self.path = Path(os.fspath(path).replace("{pid}", str(self._pid)))
        self.head_path = self.path.with_name(self.path.name + ".head")
        self.durability: Durability = durability
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = checkpoint_interval
        self._keys = (keys or AuditKeys()) if checkpoints else None
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._leader_cond = threading.Condition(self._lock)
        self._leader_waiting = False
        self._last_batch = 1
        self._sync_time = 0.0
        self._buf = bytearray()
        self._pending: list[bytes] = []
        self._flushing = False
        self._durable = -1
        self._error: BaseException | None = None
        self._closed = False
        self._head: tuple[int, str, str] | None = None
        self._since_checkpoint = 0
        self._checkpoint_due = time.monotonic() + checkpoint_interval
        self._mac: MacKey | None = None
        self._open()
        _SINKS.add(self)

    # -- opening ---------------------------------------------------------------------------
    def _open(self) -> None:
        parent = self.path.parent
        try:
            if not parent.exists():
                parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._fd = os.open(
                self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600
            )
        except OSError as exc:
            raise AuditError(
                f"cannot open the audit file {self.path}: {exc.strerror}; check the directory "
                "exists and is writable, or set TIGERSEAL_AUDIT_SINKS"
            ) from exc
        try:
            self._resume()
        except BaseException:
            os.close(self._fd)
            raise

    def _resume(self) -> None:
        size = os.fstat(self._fd).st_size
        recovered: dict[str, Any] | None = None
        last_line: bytes | None = None
        if size:
            last_line, torn = self._read_tail(size)
            if torn:
                # A crash tore the last record. Terminate it so it stays visible (and
                # reported by the verifier), then chain to the last whole line.
                self._write_all(b"\n")
                recovered = {
                    "torn_bytes": len(torn),
                    "torn_sha256": _sha256(torn).hexdigest(),
                }
        if last_line is None:
            self.chain_id = secrets.token_hex(8)
            self._seq = -1
            self._prev = GENESIS_PREV
            kind = START
        else:
            try:
                record = json.loads(last_line)
                seq = record["seq"]
                if not isinstance(seq, int) or isinstance(seq, bool):
                    raise TypeError("seq")
            except (ValueError, KeyError, TypeError):
                raise AuditIntegrityError(
                    f"the last line of {self.path} is not an audit record, so its hash chain "
                    "cannot be continued; run `tigerseal audit verify` on it and move it aside "
                    "(a new file starts a new chain)"
                ) from None
            self.chain_id = self._read_chain_id()
            self._seq = seq
            self._prev = _sha256(last_line).hexdigest()
            kind = RESUME
        if recovered is not None:
            recovered["after_seq"] = self._seq
        self._durable = self._seq
        self._start_record(kind, recovered)

    def _read_tail(self, size: int) -> tuple[bytes | None, bytes]:
        """The last whole line (without newline) and the torn bytes after it."""
        end = size
        chunk = b""
        while True:
            start = max(0, end - _TAIL_CHUNK)
            chunk = os.pread(self._fd, end - start, start) + chunk
            end = start
            body = chunk
            torn = b""
            if not body.endswith(b"\n"):
                cut = body.rfind(b"\n")
                torn = body[cut + 1 :]
                body = body[: cut + 1]
            if body:
                cut = body.rfind(b"\n", 0, len(body) - 1)
                if cut >= 0 or start == 0:
                    return body[cut + 1 : -1], torn
            elif start == 0:
                return None, torn

    def _read_chain_id(self) -> str:
        first = b""
        offset = 0
        while b"\n" not in first and len(first) < 1 << 20:
            piece = os.pread(self._fd, _TAIL_CHUNK, offset)
            if not piece:
                break
            first += piece
            offset += len(piece)
        try:
            chain_id = json.loads(first.split(b"\n", 1)[0])["chain_id"]
            if isinstance(chain_id, str) and chain_id:
                return chain_id
        except (ValueError, KeyError, TypeError):
            pass
        # The first line is damaged (the verifier reports it); keep writing under a new id.
        return secrets.token_hex(8)

    def _start_record(self, kind: str, recovered: Mapping[str, Any] | None) -> None:
        record: dict[str, Any] = {
            "ts": timestamp(),
            "event_type": kind,
            "risk_level": "low" if recovered is None else "medium",
            "format": FORMAT,
            "chain_id": self.chain_id,
            "pid": os.getpid(),
        }
        if self._keys is not None:
            self._mac = self._keys.new_key(self.chain_id)
            record["mac_key_id"] = self._mac.key_id
            if self._mac.wrapped is not None:
                record["mac_key"] = self._mac.wrapped
        if recovered is not None:
            record["recovered"] = dict(recovered)
        with self._lock:
            line = self._chain(_encode(record))
            self._write_all(line)
            self._durable = self._seq
            if self.durability in ("fsync", "group"):
                _datasync(self._fd)

    # -- writing ---------------------------------------------------------------------------
    def _chain(self, body: str) -> bytes:
        """Prefix ``seq`` and ``prev`` to a JSON object and advance the chain (lock held)."""
        seq = self._seq + 1
        rest = body[1:] if len(body) > 2 else "}"
        sep = "," if len(body) > 2 else ""
        line = f'{{"seq":{seq},"prev":"{self._prev}"{sep}{rest}'.encode("ascii")
        self._prev = _sha256(line).hexdigest()
        self._seq = seq
        return line + b"\n"

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record (see the class docstring for when it is durable).

        Raises:
            AuditError: the sink is closed or the file cannot be written.
        """
        body = _encode(record)
        if body[:1] != "{":
            raise AuditError("an audit record must be a JSON object (a mapping)")
        with self._lock:
            if self._closed or self._error is not None:
                raise self._unusable()
            out = self._chain(body)
            self._since_checkpoint += 1
            if self._mac is not None and (
                self._since_checkpoint >= self.checkpoint_every
                or time.monotonic() >= self._checkpoint_due
            ):
                out += self._checkpoint_line()
            mode = self.durability
            if mode == "group":
                self._pending.append(out)
                if self._leader_waiting:
                    self._leader_cond.notify()
                self._commit(self._seq)
                return
            try:
                if mode == "buffered":
                    self._buf += out
                    if len(self._buf) >= _BUFFER_LIMIT or self._head is not None:
                        self._drain()
                else:
                    self._write_all(out)
                    if mode == "fsync":
                        _datasync(self._fd)
                    if self._head is not None:
                        self._write_head()
            except OSError as exc:
                self._error = exc
                raise self._unusable() from exc

    def _checkpoint_line(self) -> bytes:
        """A checkpoint record chained after the current one (lock held)."""
        assert self._mac is not None
        ts = timestamp()
        seq = self._seq + 1
        record = {
            "ts": ts,
            "event_type": CHECKPOINT,
            "risk_level": "low",
            "chain_id": self.chain_id,
            "mac_key_id": self._mac.key_id,
            "mac": checkpoint_mac(self._mac.key, self.chain_id, seq, self._prev, ts),
        }
        line = self._chain(_encode(record))
        self._since_checkpoint = 0
        self._checkpoint_due = time.monotonic() + self.checkpoint_interval
        self._head = (self._seq, self._prev, ts)
        return line

    def _commit(self, seq: int) -> None:
        """Group commit: return once ``seq`` is synced, leading the flush if nobody is.

        The leader first waits (at most a fraction of one sync, and never more than 2 ms) until
        as many records are queued as went into the previous batch: right after a sync, the
        writers it released are still building their next record, and flushing at once would
        sync them one by one. One writer alone never waits (its previous batch was 1).
        """
        while self._durable < seq:
            if self._error is not None:
                raise self._unusable()
            if self._flushing:
                self._cond.wait()
                continue
            self._flushing = True
            expected = self._last_batch
            if len(self._pending) < expected:
                deadline = time.monotonic() + min(_MAX_GROUP_DELAY, self._sync_time * _GROUP_WAIT)
                self._leader_waiting = True
                while len(self._pending) < expected:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._leader_cond.wait(left)
                self._leader_waiting = False
            batch, self._pending = self._pending, []
            upto = self._seq
            head, self._head = self._head, None
            self._lock.release()
            error: OSError | None = None
            started = time.monotonic()
            try:
                self._write_all(b"".join(batch))
                _datasync(self._fd)
                if head is not None:
                    self._store_head(head, sync=True)
            except OSError as exc:
                error = exc
            finally:
                elapsed = time.monotonic() - started
                self._lock.acquire()
                self._sync_time = (
                    elapsed if not self._sync_time else (3 * self._sync_time + elapsed) / 4
                )
                self._last_batch = len(batch)
                self._flushing = False
                if error is None:
                    self._durable = upto
                else:
                    self._error = error
                self._cond.notify_all()

    def _drain(self) -> None:
        """Write the buffer (and a pending head) to the file (lock held)."""
        if self._buf:
            self._write_all(bytes(self._buf))
            self._buf.clear()
        if self._head is not None:
            self._write_head()

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def _write_head(self) -> None:
        head, self._head = self._head, None
        if head is not None:
            self._store_head(head, sync=self.durability in ("fsync", "group"))

    def _store_head(self, head: tuple[int, str, str], *, sync: bool) -> None:
        assert self._mac is not None
        seq, line_sha256, ts = head
        doc: dict[str, Any] = {
            "format": HEAD_FORMAT,
            "chain_id": self.chain_id,
            "seq": seq,
            "sha256": line_sha256,
            "ts": ts,
            "mac_key_id": self._mac.key_id,
        }
        if self._mac.wrapped is not None:
            doc["mac_key"] = self._mac.wrapped
        doc["mac"] = head_mac(self._mac.key, self.chain_id, seq, line_sha256, ts)
        tmp = self.head_path.with_name(f"{self.head_path.name}.{os.getpid()}.tmp")
        # O_NOFOLLOW: a symlink planted under the temporary name must not redirect the write.
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(tmp, flags, 0o600)
        try:
            os.write(fd, json.dumps(doc, indent=1).encode("ascii") + b"\n")
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.head_path)

    def _unusable(self) -> AuditError:
        if self._closed:
            return AuditError(f"the audit sink for {self.path} is closed")
        if isinstance(self._error, _Forked):
            return AuditError(str(self._error))
        return AuditError(
            f"the audit file {self.path} could not be written ({self._error}); audit events "
            "are not being recorded: free space or fix permissions, then restart (the next "
            "process continues the chain)"
        )

    # -- control ---------------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Write a checkpoint now (and make everything before it durable)."""
        with self._lock:
            if self._closed or self._error is not None:
                raise self._unusable()
            if self._mac is None:
                return
            out = self._checkpoint_line()
            if self.durability == "group":
                self._pending.append(out)
                self._commit(self._seq)
                return
            self._buf += out
            self._drain_and_sync()

    def _drain_and_sync(self) -> None:
        try:
            if self._buf:
                self._write_all(bytes(self._buf))
                self._buf.clear()
            _datasync(self._fd)
            self._durable = self._seq
            head, self._head = self._head, None
            if head is not None:
                self._store_head(head, sync=True)
        except OSError as exc:
            self._error = exc
            raise self._unusable() from exc

    def flush(self) -> None:
        """Write buffered records and fsync the file."""
        with self._lock:
            if self._closed or self._error is not None:
                return
            if self.durability == "group":
                self._commit(self._seq)
                return
            self._drain_and_sync()

    def close(self) -> None:
        """Write a final checkpoint, sync and close. Idempotent."""
        with self._lock:
            if self._closed:
                return
            try:
                if self._error is None:
                    while self._flushing:
                        self._cond.wait()
                    if self._mac is not None and self._since_checkpoint:
                        self._pending.append(self._checkpoint_line())
                    self._buf += b"".join(self._pending)
                    self._pending.clear()
                    self._drain_and_sync()
            finally:
                self._closed = True
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._cond.notify_all()

    @property
    def seq(self) -> int:
        """Sequence number of the newest record."""
        return self._seq

    def __repr__(self) -> str:
        return f"<FileAuditSink {self.path} {self.durability} seq={self._seq}>"


def from_uri(uri: str, **options: Any) -> FileAuditSink:
    """Factory of the ``file`` spec.

    ``file:///var/log/app/audit.jsonl`` (absolute) or ``file://./audit.jsonl`` (relative to the
    working directory), with options in the query: ``durability``, ``checkpoint_every``,
    ``checkpoint_interval``, ``checkpoints`` (``0`` disables MACs). Keyword ``options`` win.
    """
    parts = urlsplit(uri)
    if parts.scheme != "file":
        raise ConfigError(f"not a file URI: {uri!r}")
    if parts.netloc in ("", "localhost"):
        path = unquote(parts.path)
    elif parts.netloc in (".", ".."):
        path = parts.netloc + unquote(parts.path)
    else:
        raise ConfigError(
            f"audit file URI {uri!r} names a host; use file:///absolute/path or "
            "file://./relative/path"
        )
    if not path or path.endswith("/"):
        raise ConfigError(f"audit file URI {uri!r} names no file")
    query: dict[str, Any] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if name == "durability":
            query[name] = value
        elif name == "checkpoint_every":
            query[name] = _number(uri, name, value, int)
        elif name == "checkpoint_interval":
            query[name] = _number(uri, name, value, float)
        elif name == "checkpoints":
            query[name] = value.lower() not in ("0", "false", "no", "off")
        else:
            raise ConfigError(
                f"unknown option {name!r} in audit sink URI {uri!r}; known: durability, "
                "checkpoint_every, checkpoint_interval, checkpoints"
            )
    query.update(options)
    return FileAuditSink(path, **query)


def _number(uri: str, name: str, value: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"option {name} in {uri!r} must be a number, got {value!r}") from None
