"""The default audit sink: a keyed hash chain in a JSONL file (``file://``).

See :mod:`tigerseal.audit._chain` for the format. Durability, chosen per sink:

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

Concurrent writers never lose or interleave records. Threads are serialised by a lock;
*processes* sharing one file (gunicorn workers on the default path) by an exclusive
``flock`` taken around each write: under it a writer checks whether the file grew since its own
last write and, if so, continues the chain from the file's last line. Every process MACs its
lines with its own key, announced once in the chain. A sink inherited by a forked child reopens
the file in the child (an inherited descriptor would share the parent's lock).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import stat
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tigerseal import _files
from tigerseal.audit._chain import (
    CHECKPOINT,
    FORMAT,
    GENESIS_PREV,
    HEAD_FORMAT,
    RESUME,
    START,
    AuditKeys,
    LineMac,
    MacKey,
    head_mac,
    head_snapshot,
    key_commitment,
    keys_entry,
)
from tigerseal.audit._clock import timestamp
from tigerseal.errors import AuditError, AuditIntegrityError, ConfigError
from tigerseal.spi.options import (
    ParsedURI,
    build_options,
    decode_path,
    given_options,
    option,
    parse_uri,
)
from tigerseal.spi.services import AuditSink

try:
    import fcntl

    def _lock_file(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock_file(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - not POSIX: one writer process per file

    def _lock_file(fd: int) -> None:
        pass

    def _unlock_file(fd: int) -> None:
        pass


__all__ = ["DURABILITY_MODES", "Durability", "FileAuditSink", "from_uri", "open_no_follow"]

Durability = Literal["buffered", "flush", "fsync", "group"]
DURABILITY_MODES: tuple[Durability, ...] = ("buffered", "flush", "fsync", "group")
_BUFFER_LIMIT = 64 * 1024
_TAIL_CHUNK = 64 * 1024
# Longest last line (or torn tail) a writer reads back; records are bounded at 64 KiB.
_MAX_TAIL_LINE = 8 * 1024 * 1024
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
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def open_no_follow(path: Path, flags: int, what: str) -> int:
    """``os.open`` refusing symbolic links and anything but a regular file.

    Raises:
        AuditError: the path is a symlink or not a regular file, or cannot be opened.
    """
    try:
        # O_NONBLOCK: opening a FIFO planted under the name must fail, not block forever.
        fd = os.open(path, flags | _NOFOLLOW | _CLOEXEC | _NONBLOCK, 0o600)
    except OSError as exc:
        if path.is_symlink():
            raise AuditError(
                f"the {what} {path} is a symbolic link; audit files are never opened through "
                "one (it could redirect writes): remove it or point the sink at the real file"
            ) from exc
        raise AuditError(
            f"cannot open the {what} {path}: {exc.strerror}; check the directory exists and "
            "is writable, or set TIGERSEAL_AUDIT_SINKS"
        ) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise AuditError(f"the {what} {path} is not a regular file")
    return fd


# Sinks alive in this process; a forked child reopens them (see FileAuditSink._after_fork).
_SINKS: weakref.WeakSet[FileAuditSink] = weakref.WeakSet()


def _reopen_in_child() -> None:
    for sink in list(_SINKS):
        sink._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reopen_in_child)


class FileAuditSink(AuditSink):
    """Append audit records to a keyed hash chain in a JSONL file.

    Several processes may share one file (each write takes an exclusive ``flock``).

    Args:
        path: the file; created (mode 0600, parent directories 0700) if missing; never opened
            through a symbolic link. ``{pid}`` in it is replaced by the process id (one file
            per process, if you prefer that).
        durability: ``buffered``, ``flush`` (default), ``fsync`` or ``group`` (see above).
        checkpoint_every: records between two checkpoints (head file updates).
        checkpoint_interval: seconds after which the next record also writes a checkpoint.
        checkpoints: ``False`` for a plain hash chain without MACs (verification then fails
            unless ``--allow-unanchored``; not recommended).
        keys: where MAC keys come from (default: the configured encryption service).

    Raises:
        AuditIntegrityError: the existing file's last whole line is not an audit record, so the
            chain cannot be continued (move the file aside and run ``tigerseal audit verify``).
        AuditError: the file cannot be opened (or is a symbolic link).
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
        # Absolute now: a later chdir of the host app must not move the head, keys or checkpoint.
        self._template = os.path.abspath(os.fspath(path))
        self._pid = os.getpid()
        self._set_path()
        self.durability: Durability = durability
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = checkpoint_interval
        self._keys = (keys or AuditKeys()) if checkpoints else None
        self._init_state()
        self._error: BaseException | None = None
        self._closed = False
        self._since_checkpoint = 0
        self._checkpoint_due = time.monotonic() + checkpoint_interval
        self._mac: MacKey | None = None
        self._sealer: LineMac | None = None
        self._mac_chain: str | None = None  # the chain the key was made (and stored) for
        self._announced: str | None = None  # the chain our key was announced in
        self.chain_id = ""
        self._seq = -1
        self._prev = GENESIS_PREV
        self._end = -1  # the file's size after our last write (-1: unknown, resync)
        self._ident = (0, 0)  # (st_dev, st_ino) of the open file, set by _open_file
        self._fd = self._open_file()
        try:
            with self._lock:
                self._emit([], checkpoint=False, sync=durability in ("fsync", "group"))
        except OSError as exc:
            os.close(self._fd)
            raise AuditError(f"cannot write the audit file {self.path}: {exc}") from exc
        except BaseException:
            os.close(self._fd)
            raise
        _SINKS.add(self)

    def _set_path(self) -> None:
        self.path = Path(self._template.replace("{pid}", str(self._pid)))
        self.head_path = self.path.with_name(self.path.name + ".head")
        self.keys_path = self.path.with_name(self.path.name + ".keys")

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._leader_cond = threading.Condition(self._lock)
        self._leader_waiting = False
        self._last_batch = 1
        self._sync_time = 0.0
        self._bodies: list[bytes] = []  # encoded records not yet chained (buffered, group)
        self._buffered = 0
        self._checkpoint_wanted = False
        self._flushing = False
        self._enqueued = 0  # records accepted by write()
        self._done = 0  # ... of those, written (and synced in group mode)

    def _after_fork(self) -> None:
        """In a forked child: drop the parent's queue and locks, reopen the file on next use.

        The inherited descriptor shares its ``flock`` with the parent, so it cannot exclude
        the parent; the child's first write opens the file again and announces itself.
        """
        if self._closed:
            return
        self._init_state()
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = -1
        self._pid = os.getpid()
        if "{pid}" in self._template:
            self._set_path()
        self._announced = None
        self._end = -1

    # -- opening ---------------------------------------------------------------------------
    def _open_file(self) -> int:
        parent = self.path.parent
        if not parent.exists():
            try:
                parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise AuditError(
                    f"cannot create the audit directory {parent}: {exc.strerror}"
                ) from exc
        fd = open_no_follow(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, "audit file")
        st = os.fstat(fd)
        # Which file we hold: each write compares the path's (dev, inode) with it, so one
        # lstat of the path tells both whether it was moved and (if not) the file's size.
        self._ident = (st.st_dev, st.st_ino)
        return fd

    def _resync(self, size: int) -> tuple[dict[str, Any] | None, int]:
        """Continue from the file's last line (flock held); returns recovery facts and size."""
        recovered: dict[str, Any] | None = None
        last_line: bytes | None = None
        if size:
            last_line, torn = self._read_tail(size)
            if torn:
                # A crash tore the last record. Terminate it so it stays visible (and
                # reported by the verifier), then chain to the last whole line.
                self._write_all(b"\n")
                size += 1
                recovered = {"torn_bytes": len(torn), "torn_sha256": _sha256(torn).hexdigest()}
        if last_line is None:
            self.chain_id = secrets.token_hex(8)
            self._seq = -1
            self._prev = GENESIS_PREV
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
            if not self.chain_id or self._end < 0 or size < self._end:
                self.chain_id = self._read_chain_id()
            self._seq = seq
            self._prev = _sha256(last_line).hexdigest()
        if recovered is not None:
            recovered["after_seq"] = self._seq
        return recovered, size

    def _read_tail(self, size: int) -> tuple[bytes | None, bytes]:
        """The last whole line (without newline) and the torn bytes after it."""
        end = size
        chunk = b""
        while True:
            if len(chunk) > _MAX_TAIL_LINE:
                # No crash tears that much off a record: it was planted (free in a sparse
                # file), and reading it back whole would hold up every writer.
                raise AuditIntegrityError(
                    f"the end of {self.path} holds a line longer than any audit record "
                    f"({len(chunk)} bytes and more); run `tigerseal audit verify` on it and "
                    "move it aside (a new file starts a new chain)"
                )
            # Read back in doubling steps: a long line costs a few reads, not one per 64 KiB.
            start = max(0, end - max(_TAIL_CHUNK, len(chunk)))
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

    def _announce(
        self, recovered: Mapping[str, Any] | None, cut: Mapping[str, Any] | None = None
    ) -> bytes:
        """This writer's start/resume record, naming its MAC key (flock held).

        A resume record also carries the head it is about to replace (``head``) and, if the
        file shrank under this writer, what was cut (``cut``): the verifier checks both, so
        moving the head on cannot launder a cut made before.
        """
        record: dict[str, Any] = {
            "ts": timestamp(),
            "event_type": START if self._seq < 0 else RESUME,
            "risk_level": "low" if recovered is None else "medium",
            "format": FORMAT,
            "chain_id": self.chain_id,
            "pid": os.getpid(),
        }
        if self._keys is not None:
            if self._mac is None or self._mac_chain != self.chain_id:
                # A wrapped key is bound to its chain id: a new chain needs a new key.
                mac = self._keys.new_key(self.chain_id)
                if mac.wrapped is not None:
                    self._store_key(keys_entry(self.chain_id, mac))
                self._mac, self._mac_chain = mac, self.chain_id
                self._sealer = LineMac(mac.key_id, mac.key)
            record["mac_key_id"] = self._mac.key_id
            record["mac_key_commit"] = key_commitment(self._mac.key)
        if recovered is not None:
            record["recovered"] = dict(recovered)
        if record["event_type"] == RESUME:
            record["head"] = head_snapshot(self._read_head_file())
        if cut is not None:
            record["cut"] = dict(cut)
        self._announced = self.chain_id
        return self._chain(_encode(record).encode("ascii"))

    def _path_size(self) -> int | None:
        """The open file's size if the path still names it, else ``None`` (flock held).

        One ``lstat`` of the path: its (dev, inode) says whether the path was moved (deleted,
        replaced, rolled back, a link planted), and when it was not, its size is our file's.
        """
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError:
            # Cannot tell; the write itself reports real trouble.
            return os.fstat(self._fd).st_size
        if (st.st_dev, st.st_ino) != self._ident:
            return None
        return st.st_size

    def _read_head_file(self) -> bytes | None:
        """The current head file's bytes (``None`` if there is none), never through a link."""
        try:
            # O_NONBLOCK: a FIFO planted as the head must not hang the writer.
            fd = os.open(self.head_path, os.O_RDONLY | _NONBLOCK | _NOFOLLOW | _CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"unreadable: {exc.strerror}".encode()
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return b"not a regular file"
            return os.read(fd, 8193)
        finally:
            os.close(fd)

    def _store_key(self, entry: Mapping[str, str]) -> None:
        """Append a wrapped key to ``<file>.keys`` and sync it before any line uses it."""
        fd = open_no_follow(
            self.keys_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, "audit key file"
        )
        try:
            _files.write_all(fd, _encode(entry).encode("ascii") + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- writing ---------------------------------------------------------------------------
    def _chain(self, body: bytes) -> bytes:
        """Prefix ``seq`` and ``prev`` to a JSON object, MAC it and advance the chain."""
        seq = self._seq + 1
        prefix = b'{"seq":%d,"prev":"%s"' % (seq, self._prev.encode("ascii"))
        if len(body) > 2:
            prefix += b"," + body[1:-1]
        sealer = self._sealer
        line = sealer.seal(prefix) if sealer is not None else prefix + b"}"
        self._prev = _sha256(line).hexdigest()
        self._seq = seq
        return line + b"\n"

    def _checkpoint_body(self) -> bytes:
        assert self._mac is not None
        record = {
            "ts": timestamp(),
            "event_type": CHECKPOINT,
            "risk_level": "low",
            "chain_id": self.chain_id,
        }
        return _encode(record).encode("ascii")

    def _emit(self, bodies: list[bytes], *, checkpoint: bool, sync: bool) -> None:
        """Chain and append ``bodies`` under the file lock (one emitter at a time).

        Callers hold ``self._lock``, or are the group-commit leader (``self._flushing``).
        """
        if self._fd < 0:
            self._fd = self._open_file()
        fd = self._fd
        # Per record in the default mode: flock, lstat, write, unlock (4 system calls; there
        # were 6, with an fstat for the inode and another for the size).
        _lock_file(fd)
        cut: dict[str, Any] | None = None
        try:
            size: int | None = self._path_size() if self._end >= 0 else os.fstat(fd).st_size
        except BaseException:
            _unlock_file(fd)
            raise
        if size is None:
            # The path names another file now, or none (deleted, replaced, rolled back):
            # writing on into the old one would lose every later record. Reopen the path and
            # say so in its chain.
            cut = {"chain_id": self.chain_id, "seq": self._seq, "sha256": self._prev}
            cut["replaced"] = True
            _unlock_file(fd)
            os.close(fd)
            self._fd = -1
            self._fd = fd = self._open_file()
            _lock_file(fd)
            self._end = -1
        try:
            if size is None:
                size = os.fstat(fd).st_size
            recovered = None
            if size != self._end:
                if 0 <= size < self._end:
                    # The file shrank under us: writers only append, so records were cut off.
                    cut = {"chain_id": self.chain_id, "seq": self._seq, "sha256": self._prev}
                    cut["bytes"] = self._end - size
                # Another process wrote since our last write (or this is our first).
                recovered, size = self._resync(size)
            out = bytearray()
            head = checkpoint
            if self._announced != self.chain_id or recovered is not None or cut is not None:
                out += self._announce(recovered, cut)
                head = True
            for body in bodies:
                out += self._chain(body)
            if checkpoint and self._mac is not None:
                out += self._chain(self._checkpoint_body())
            self._write_all(out)
            self._end = size + len(out)
            if sync:
                _datasync(fd)
            if head and self._mac is not None:
                self._store_head(sync=sync)
        finally:
            _unlock_file(fd)

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record (see the class docstring for when it is durable).

        Raises:
            AuditError: the sink is closed or the file cannot be written.
        """
        text = _encode(record)
        if text[:1] != "{":
            raise AuditError("an audit record must be a JSON object (a mapping)")
        body = text.encode("ascii")
        with self._lock:
            if self._closed or self._error is not None:
                raise self._unusable()
            self._since_checkpoint += 1
            checkpoint = False
            if self._keys is not None and (
                self._since_checkpoint >= self.checkpoint_every
                or time.monotonic() >= self._checkpoint_due
            ):
                checkpoint = True
                self._since_checkpoint = 0
                self._checkpoint_due = time.monotonic() + self.checkpoint_interval
            self._enqueued += 1
            mode = self.durability
            if mode == "group":
                self._bodies.append(body)
                self._checkpoint_wanted |= checkpoint
                if self._leader_waiting:
                    self._leader_cond.notify()
                self._commit(self._enqueued)
                return
            try:
                if mode == "buffered":
                    self._bodies.append(body)
                    self._buffered += len(body)
                    if checkpoint or self._buffered >= _BUFFER_LIMIT:
                        self._drain(checkpoint=checkpoint, sync=False)
                else:
                    self._emit([body], checkpoint=checkpoint, sync=mode == "fsync")
                    self._done = self._enqueued
            except OSError as exc:
                self._error = exc
                raise self._unusable() from exc

    def _drain(self, *, checkpoint: bool, sync: bool) -> None:
        """Write everything queued (lock held, no group leader running)."""
        bodies, self._bodies = self._bodies, []
        self._buffered = 0
        checkpoint |= self._checkpoint_wanted
        self._checkpoint_wanted = False
        self._emit(bodies, checkpoint=checkpoint, sync=sync)
        self._done = self._enqueued

    def _commit(self, target: int) -> None:
        """Group commit: return once record ``target`` is synced, leading the flush if nobody is.

        The leader first waits (at most a fraction of one sync, and never more than 2 ms) until
        as many records are queued as there were writers at the end of the previous sync (its
        batch, plus those that queued meanwhile): right after a sync, the writers it released
        are still building their next record, and flushing at once would sync them one by
        one. One writer alone never waits (its previous batch was 1).
        """
        while self._done < target:
            if self._error is not None:
                raise self._unusable()
            if self._flushing:
                self._cond.wait()
                continue
            self._flushing = True
            expected = self._last_batch
            if len(self._bodies) < expected:
                deadline = time.monotonic() + min(_MAX_GROUP_DELAY, self._sync_time * _GROUP_WAIT)
                self._leader_waiting = True
                while len(self._bodies) < expected:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._leader_cond.wait(left)
                self._leader_waiting = False
            batch, self._bodies = self._bodies, []
            checkpoint, self._checkpoint_wanted = self._checkpoint_wanted, False
            upto = self._enqueued
            self._lock.release()
            error: BaseException | None = None
            started = time.monotonic()
            try:
                self._emit(batch, checkpoint=checkpoint, sync=True)
            except (OSError, AuditError) as exc:
                error = exc
            except BaseException as exc:
                # Anything else (an interrupt in the leader's thread, a bug): the batch's
                # durability is unknown, so no writer of it may hear "durable", and the sink
                # fails closed like on an I/O error. The leader re-raises what it got.
                error = exc
                raise
            finally:
                elapsed = time.monotonic() - started
                self._lock.acquire()
                self._sync_time = (
                    elapsed if not self._sync_time else (3 * self._sync_time + elapsed) / 4
                )
                # Every record of the batch was one writer blocked in write(): they come back
                # with their next record, and those queued during the sync wait already. So
                # the next batch expects both (it was len(batch) alone, which could settle on
                # splitting N writers into two half batches, one sync each, for good).
                self._last_batch = max(1, len(batch) + len(self._bodies))
                self._flushing = False
                if error is None:
                    self._done = upto
                else:
                    self._error = error
                self._cond.notify_all()

    def _write_all(self, data: bytes | bytearray) -> None:
        _files.write_all(self._fd, data)

    def _store_head(self, *, sync: bool) -> None:
        """Replace ``<file>.head`` with the newest line's position, MACed (flock held)."""
        assert self._mac is not None
        seq, line_sha256, ts = self._seq, self._prev, timestamp()
        doc: dict[str, Any] = {
            "format": HEAD_FORMAT,
            "chain_id": self.chain_id,
            "seq": seq,
            "sha256": line_sha256,
            "ts": ts,
            "mac_key_id": self._mac.key_id,
            "mac": head_mac(self._mac.key, self.chain_id, seq, line_sha256, ts),
        }
        # The one private-file writer: a registered O_EXCL temporary (never through a planted
        # link, swept if this process dies), renamed over the head; fsynced when durable.
        _files.write_private(
            Path(self.head_path), json.dumps(doc, indent=1).encode("ascii") + b"\n", sync=sync
        )

    def _unusable(self) -> AuditError:
        if self._closed:
            return AuditError(f"the audit sink for {self.path} is closed")
        if isinstance(self._error, AuditError):
            return AuditError(str(self._error))
        return AuditError(
            f"the audit file {self.path} could not be written ({self._error}); audit events "
            "are not being recorded: free space or fix permissions, then restart (the next "
            "process continues the chain)"
        )

    # -- control ---------------------------------------------------------------------------
    def _idle(self) -> None:
        while self._flushing:
            self._cond.wait()

    def checkpoint(self) -> None:
        """Write a checkpoint now (and make everything before it durable)."""
        with self._lock:
            if self._closed or self._error is not None:
                raise self._unusable()
            if self._mac is None:
                return
            self._idle()
            self._sync_out(checkpoint=True)

    def _sync_out(self, *, checkpoint: bool) -> None:
        try:
            self._drain(checkpoint=checkpoint, sync=True)
            if checkpoint:
                self._since_checkpoint = 0
                self._checkpoint_due = time.monotonic() + self.checkpoint_interval
        except OSError as exc:
            self._error = exc
            raise self._unusable() from exc

    def flush(self) -> None:
        """Write queued records and fsync the file."""
        with self._lock:
            if self._closed or self._error is not None:
                return
            self._idle()
            if self._bodies or self._checkpoint_wanted:
                self._sync_out(checkpoint=False)
            elif self._fd >= 0:
                with contextlib.suppress(OSError):
                    _datasync(self._fd)

    def close(self) -> None:
        """Write a final checkpoint, sync and close. Idempotent."""
        with self._lock:
            if self._closed:
                return
            try:
                if self._error is None:
                    self._idle()
                    final = self._mac is not None and bool(self._since_checkpoint or self._bodies)
                    if final or self._bodies:
                        self._sync_out(checkpoint=final)
            finally:
                self._closed = True
                if self._fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(self._fd)
                self._cond.notify_all()

    @property
    def seq(self) -> int:
        """Sequence number of the newest record this sink knows of."""
        return self._seq

    def __repr__(self) -> str:
        return f"<FileAuditSink {self.path} {self.durability} seq={self._seq}>"


@dataclass(frozen=True, slots=True)
class FileSinkOptions:
    """Options of the ``file`` audit sink (see :mod:`tigerseal.spi.options`)."""

    durability: str | None = option(None, help="flush, group or fsync")
    checkpoint_every: int | None = option(None, ge=1, help="records between signed checkpoints")
    checkpoint_interval: float | None = option(None, gt=0, help="seconds between checkpoints")
    checkpoints: bool | None = option(None, help="0 disables the MAC checkpoints")
    keys: Any = option(None, uri=False, help="AuditKeys (keyword only)")


def _parse(uri: str) -> ParsedURI:
    return parse_uri(
        uri, plugin="file audit sink", schemes=("file",), example="file:///var/log/audit.jsonl"
    )


def _path(parsed: ParsedURI) -> str:
    if parsed.authority in (None, "", "localhost"):
        path = decode_path(parsed.path, plugin="file audit sink")
    elif parsed.authority in (".", ".."):
        path = parsed.authority + decode_path(parsed.path, plugin="file audit sink")
    else:
        raise ConfigError(
            f"audit file URI {parsed.redacted()!r} names a host; use file:///absolute/path or "
            "file://./relative/path"
        )
    if not path or path.endswith("/"):
        raise ConfigError(f"audit file URI {parsed.redacted()!r} names no file")
    return path


def path_from_uri(uri: str) -> str:
    """The file a ``file://`` audit sink URI names (the one rule, for the CLI and key store too).

    ``file:///abs/path`` and ``file://localhost/abs/path`` are absolute, ``file://./rel`` and
    ``file://../rel`` relative to the working directory; percent-escapes are decoded.

    Raises:
        ConfigError: not a ``file:`` URI, a host is named, or no file is named.
    """
    return _path(_parse(uri))


def from_uri(uri: str, **options: Any) -> FileAuditSink:
    """Factory of the ``file`` spec.

    ``file:///var/log/app/audit.jsonl`` (absolute) or ``file://./audit.jsonl`` (relative to the
    working directory), with options in the query or as keywords (which must agree):
    ``durability``, ``checkpoint_every``, ``checkpoint_interval``, ``checkpoints`` (``0``
    disables MACs); keyword only: ``keys``.
    """
    plugin = "file audit sink"
    parsed = _parse(uri)
    path = _path(parsed)
    opts = build_options(FileSinkOptions, plugin=plugin, uri=parsed.query, code=options)
    return FileAuditSink(path, **given_options(opts))
