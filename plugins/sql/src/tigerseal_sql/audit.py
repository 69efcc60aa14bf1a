"""SQL audit sink (``postgresql://``, ``sqlite://``): one hash chain shared by every process.

Records use the chain format of :mod:`tigerseal.audit._chain` (``tigerseal-audit/2``): each row
holds one chained JSON line, whose ``prev`` is the SHA-256 of the previous row's line and which
ends with an HMAC under its writer's key (a keyed chain). Each process's key is named and
committed to in the chain and stored, encrypted by the envelope, in the keys table (outside the
chain, so ``tigerseal audit rewrap-keys`` can rewrap it after a rotation). What the file sink
keeps in ``<file>.head`` (the newest anchored record, MACed, against truncation) lives in the
head row.

Many processes (gunicorn workers, several hosts) append to **one** chain: a writer locks the head
row (``SELECT ... FOR UPDATE`` on PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite), reads the last
``seq`` and hash, inserts its rows and moves the head, all in one transaction. The first write of
each process adds an ``audit_chain_resume`` record naming its checkpoint key (the very first
writer an ``audit_chain_start``).

Schema (created by the first write if missing; ``?table=`` changes the name; see
docs/plugins/sql.md)::

    tigerseal_audit       (seq BIGINT PRIMARY KEY, ts VARCHAR(32), event_type VARCHAR(64),
                           risk_level VARCHAR(16), line TEXT NOT NULL)
    tigerseal_audit_head  (id INTEGER PRIMARY KEY, chain_id VARCHAR(64), seq BIGINT,
                           prev CHAR(64), head TEXT)
    tigerseal_audit_keys  (chain_id VARCHAR(64), key_id VARCHAR(64), commit_hash VARCHAR(64),
                           wrapped TEXT, PRIMARY KEY (chain_id, key_id))

Verify with ``tigerseal audit verify postgresql://...`` or :meth:`SQLAuditSink.verify`.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError
from tigerseal.audit._chain import (
    CHECKPOINT,
    FORMAT,
    GENESIS_PREV,
    HEAD_FORMAT,
    KEYS_FORMAT,
    RESUME,
    START,
    AuditKeys,
    LineMac,
    MacKey,
    head_mac,
    head_snapshot,
    key_commitment,
)
from tigerseal.audit._clock import timestamp
from tigerseal.errors import AuditError, ConfigError, TigerSealError
from tigerseal.spi.options import given_options
from tigerseal.spi.services import AuditSink

from tigerseal_sql._engine import display_url
from tigerseal_sql._options import split_audit_url

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine
    from tigerseal.audit import VerifyReport
    from tigerseal.envelope import EncryptionService
    from tigerseal.keyuse import KeyUse, RewrapCount

__all__ = ["SQLAuditSink", "audit_key_uses", "audit_tables", "from_uri"]

Durability = Literal["commit", "batch"]
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str, check_circular=False)
_encode = _ENCODER.encode


def audit_tables(
    prefix: str = "tigerseal_audit", metadata: MetaData | None = None
) -> tuple[Table, Table, Table]:
    """The log, head and keys tables (for Alembic migrations: add them to your metadata)."""
    md = metadata if metadata is not None else MetaData()
    log = Table(
        prefix,
        md,
        Column("seq", BigInteger, primary_key=True, autoincrement=False),
        Column("ts", String(32), nullable=False),
        Column("event_type", String(64), nullable=False, index=True),
        Column("risk_level", String(16), nullable=False),
        Column("line", Text, nullable=False),
    )
    head = Table(
        f"{prefix}_head",
        md,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("chain_id", String(64), nullable=False),
        Column("seq", BigInteger, nullable=False),
        Column("prev", String(64), nullable=False),
        Column("head", Text, nullable=True),
    )
    keys = Table(
        f"{prefix}_keys",
        md,
        Column("chain_id", String(64), primary_key=True),
        Column("key_id", String(64), primary_key=True),
        Column("commit_hash", String(64), nullable=False),
        Column("wrapped", Text, nullable=False),
    )
    return log, head, keys


class SQLAuditSink(AuditSink):
    """Hash-chained audit records in a SQL table, one chain for all writers.

    Args:
        engine: a SQLAlchemy engine (PostgreSQL or SQLite; others with ``SELECT ... FOR
            UPDATE`` work too). For SQLite, build it with :func:`from_uri` or
            :func:`sqlite_engine`, which take the database write lock at ``BEGIN``.
        table: name of the log table; the head table is ``<table>_head``.
        durability: ``commit`` (default): each :meth:`write` commits before returning;
            ``batch``: records are committed ``batch_size`` at a time and on :meth:`flush` /
            :meth:`close` (a crash loses the uncommitted ones; the chain stays valid).
        batch_size: records per transaction in ``batch`` mode.
        checkpoint_every: records (of this process) between two HMAC checkpoints.
        checkpoint_interval: seconds after which the next write also checkpoints.
        keys: where checkpoint keys come from (default: the configured encryption service).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        table: str = "tigerseal_audit",
        durability: Durability = "commit",
        batch_size: int = 100,
        checkpoint_every: int = 1000,
        checkpoint_interval: float = 60.0,
        keys: AuditKeys | None = None,
    ) -> None:
        if durability not in ("commit", "batch"):
            raise ConfigError(f"durability must be 'commit' or 'batch', got {durability!r}")
        if batch_size < 1 or checkpoint_every < 1 or not checkpoint_interval > 0:
            raise ConfigError(
                "batch_size and checkpoint_every must be >= 1, checkpoint_interval > 0 seconds"
            )
        if not table.replace("_", "").isalnum():
            raise ConfigError(f"audit table name {table!r} must be letters, digits and '_'")
        self.engine = engine
        self.durability = durability
        self.batch_size = batch_size
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = checkpoint_interval
        self._keys = keys or AuditKeys()
        self._log, self._head, self._keys_table = audit_tables(table)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        # (json body, event_type, risk_level, ts) waiting to be chained and committed
        self._buffer: list[tuple[str, str, str, str]] = []
        self._enqueued = 0  # records handed to write()
        self._done = 0  # of those, committed or failed (in order)
        self._committing = False
        self._failures: deque[tuple[int, int, Exception]] = deque(maxlen=64)
        self._mac: MacKey | None = None  # this process's MAC key, once announced
        self._sealer: LineMac | None = None
        self._chain_id: str | None = None
        self._last: tuple[int, str] | None = None  # seq and hash of our last committed row
        self._since_checkpoint = 0
        self._checkpoint_due = time.monotonic() + checkpoint_interval
        self._closed = False
        self._pid = os.getpid()
        self._schema_ready = False  # tables are created by the first write, not by verify()

    # -- schema ----------------------------------------------------------------------------
    def _create_schema(self) -> None:
        if self._schema_ready:
            return
        for attempt in range(5):
            try:
                self._log.metadata.create_all(self.engine, checkfirst=True)
                with self.engine.begin() as conn:
                    found = conn.execute(
                        select(self._head.c.id).where(self._head.c.id == 1)
                    ).first()
                    if found is None:
                        conn.execute(
                            insert(self._head).values(
                                id=1, chain_id=secrets.token_hex(8), seq=-1, prev=GENESIS_PREV
                            )
                        )
                self._schema_ready = True
                return
            except (IntegrityError, ProgrammingError, OperationalError):
                # Another process created the tables or the head row at the same moment.
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))

    # -- writing ---------------------------------------------------------------------------
    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record to the shared chain.

        In ``commit`` mode the record is committed when this returns. Threads writing at the
        same time share transactions (group commit): while one thread's transaction runs, the
        others queue, and the next transaction takes them all.

        Raises:
            AuditError: the sink is closed or the database refused the write.
        """
        body = _encode(record)
        if body[:1] != "{":
            raise AuditError("an audit record must be a JSON object (a mapping)")
        entry = (
            body,
            str(record.get("event_type", ""))[:64],
            str(record.get("risk_level", ""))[:16],
            str(record.get("ts", ""))[:32],
        )
        with self._cond:
            if self._closed:
                raise AuditError("the SQL audit sink is closed")
            self._buffer.append(entry)
            self._enqueued += 1
            mine = self._enqueued
            if self.durability == "batch":
                if len(self._buffer) >= self.batch_size and not self._committing:
                    self._flush_locked()
                return
            while self._done < mine:
                if self._committing:
                    self._cond.wait()
                else:
                    self._flush_locked(raise_error=False)
            for lo, hi, error in self._failures:
                if lo < mine <= hi:
                    raise error

    def _flush_locked(self, *, force_checkpoint: bool = False, raise_error: bool = True) -> None:
        """Commit everything buffered in one transaction (lock held; released meanwhile)."""
        if not self._buffer and not force_checkpoint:
            return
        self._committing = True
        batch, self._buffer = self._buffer, []
        start = self._done
        upto = start + len(batch)
        self._lock.release()
        error: Exception | None = None
        result: tuple[MacKey, bool, tuple[int, str]] | None = None
        try:
            result = self._transaction(batch, force_checkpoint)
        except Exception as exc:
            error = _write_error(exc)
        finally:
            self._lock.acquire()
            self._committing = False
            if result is not None:
                # Only now that the transaction committed does this process's key count as
                # announced.
                mac, checkpointed, self._last = result
                if mac is not self._mac:
                    self._mac, self._sealer = mac, LineMac(mac.key_id, mac.key)
                if checkpointed:
                    self._since_checkpoint = 0
                    self._checkpoint_due = time.monotonic() + self.checkpoint_interval
                else:
                    self._since_checkpoint += len(batch)
                self._done = upto
            elif self.durability == "batch":
                self._buffer = batch + self._buffer  # nothing committed: retried next time
            else:
                # The writers waiting for these records get the error; nothing was committed.
                self._failures.append((start, upto, error or AuditError("audit write failed")))
                self._done = upto
            self._cond.notify_all()
        if error is not None and raise_error:
            raise error

    def _transaction(
        self, batch: list[tuple[str, str, str, str]], force_checkpoint: bool
    ) -> tuple[MacKey, bool, tuple[int, str]]:
        if os.getpid() != self._pid:
            # Forked (gunicorn preload): the child announces its own key.
            self._pid, self._mac, self._sealer, self._last = os.getpid(), None, None, None
        self._create_schema()
        try:
            with self.engine.begin() as conn:
                return self._append(conn, batch, force_checkpoint)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        # A pooled connection died (database restarted): once more on a fresh one. The chain
        # head is read again, so even a commit that did land only repeats records, in order.
        with self.engine.begin() as conn:
            return self._append(conn, batch, force_checkpoint)

    def _append(
        self, conn: Connection, bodies: list[tuple[str, str, str, str]], force_checkpoint: bool
    ) -> tuple[MacKey, bool, tuple[int, str]]:
        head = self._head
        row = conn.execute(select(head).where(head.c.id == 1).with_for_update()).mappings().one()
        chain_id, seq, prev = row["chain_id"], row["seq"], row["prev"]
        rows: list[dict[str, Any]] = []
        mac = self._mac
        sealer = self._sealer
        cut: dict[str, Any] | None = None
        if self._last is not None and seq < self._last[0]:
            # The head row went back behind our own last row: writers only append, so rows
            # were deleted and the head row rewound. Announce again and say so in the chain.
            cut = {"seq": self._last[0], "sha256": self._last[1]}
        announce = mac is None or sealer is None or self._chain_id != chain_id or cut is not None
        if announce:
            self._chain_id = chain_id
            mac = self._keys.new_key(chain_id)
            sealer = LineMac(mac.key_id, mac.key)
        assert mac is not None
        assert sealer is not None

        def chain(body: str, event_type: str, risk: str, ts: str) -> None:
            nonlocal seq, prev
            seq += 1
            prefix = f'{{"seq":{seq},"prev":"{prev}"'
            if len(body) > 2:
                prefix += "," + body[1:-1]
            line = sealer.seal(prefix.encode("ascii")).decode("ascii")
            prev = _sha256_hex(line)
            rows.append(
                {"seq": seq, "ts": ts, "event_type": event_type, "risk_level": risk, "line": line}
            )

        if announce:
            start: dict[str, Any] = {
                "ts": timestamp(),
                "event_type": START if seq < 0 else RESUME,
                "risk_level": "low",
                "format": FORMAT,
                "chain_id": chain_id,
                "pid": self._pid,
                "mac_key_id": mac.key_id,
                "mac_key_commit": key_commitment(mac.key),
            }
            if seq >= 0:
                # The head this writer moves on, for the verifier to check (see
                # tigerseal.audit._chain.head_snapshot); a deleted or rewound head is caught.
                start["head"] = head_snapshot(row["head"])
                if cut is not None:
                    start["cut"] = cut
            if mac.wrapped is not None:
                # The wrapped key goes in before any line MACed with it, in this transaction.
                conn.execute(
                    insert(self._keys_table).values(
                        chain_id=chain_id,
                        key_id=mac.key_id,
                        commit_hash=key_commitment(mac.key),
                        wrapped=mac.wrapped,
                    )
                )
            chain(_encode(start), start["event_type"], "low", start["ts"])
        for body, event_type, risk, ts in bodies:
            chain(body, event_type, risk, ts)
        checkpointed = force_checkpoint or (
            self._since_checkpoint + len(bodies) >= self.checkpoint_every
            or time.monotonic() >= self._checkpoint_due
        )
        head_doc: str | None = None
        if checkpointed:
            ts = timestamp()
            cp = {"ts": ts, "event_type": CHECKPOINT, "risk_level": "low", "chain_id": chain_id}
            chain(_encode(cp), CHECKPOINT, "low", ts)
        if checkpointed or announce:
            ts = timestamp()
            doc: dict[str, Any] = {
                "format": HEAD_FORMAT,
                "chain_id": chain_id,
                "seq": seq,
                "sha256": prev,
                "ts": ts,
                "mac_key_id": mac.key_id,
                "mac": head_mac(mac.key, chain_id, seq, prev, ts),
            }
            head_doc = json.dumps(doc, indent=1)
        conn.execute(insert(self._log), rows)
        values: dict[str, Any] = {"seq": seq, "prev": prev}
        if head_doc is not None:
            values["head"] = head_doc
        conn.execute(update(head).where(head.c.id == 1).values(values))
        return mac, checkpointed, (seq, prev)

    # -- control -----------------------------------------------------------------------------
    def _idle(self) -> None:
        while self._committing:
            self._cond.wait()

    def checkpoint(self) -> None:
        """Commit buffered records and write a checkpoint now."""
        with self._cond:
            if self._closed:
                raise AuditError("the SQL audit sink is closed")
            self._idle()
            self._flush_locked(force_checkpoint=True)

    def flush(self) -> None:
        """Commit buffered records (``batch`` mode)."""
        with self._cond:
            if not self._closed:
                self._idle()
                self._flush_locked()

    def close(self) -> None:
        """Commit, write a final checkpoint if this process wrote anything since the last."""
        with self._cond:
            if self._closed:
                return
            try:
                self._idle()
                if self._buffer or (self._mac is not None and self._since_checkpoint):
                    self._flush_locked(force_checkpoint=True)
            finally:
                self._closed = True
                self.engine.dispose()

    # -- reading -----------------------------------------------------------------------------
    def verify(
        self,
        *,
        keys: AuditKeys | None = None,
        check_macs: bool = True,
        allow_unanchored: bool = False,
        anchor: tuple[int, str] | None = None,
    ) -> VerifyReport:
        """Verify the chain, line MACs and head (same checks as for an audit file).

        The rows are read in ``seq`` order; "line N" in findings means the N-th row.
        """
        from sqlalchemy import inspect
        from tigerseal.audit import verify_audit_file

        if not inspect(self.engine).has_table(self._log.name):
            raise AuditError(
                f"no audit table {self._log.name!r} at {display_url(self.engine)}; check the URI "
                "(and ?table= if the sink uses another name)"
            )
        log = self._log
        mismatched: list[tuple[int, int, str]] = []
        with tempfile.TemporaryDirectory(prefix="tigerseal-audit-") as tmp:
            path = Path(tmp) / "audit.jsonl"
            with self.engine.connect() as conn, path.open("w", encoding="ascii") as out:
                result = conn.execution_options(stream_results=True, yield_per=5000).execute(
                    select(
                        log.c.seq, log.c.ts, log.c.event_type, log.c.risk_level, log.c.line
                    ).order_by(log.c.seq)
                )
                for n, (seq, ts, event_type, risk, line) in enumerate(result, 1):
                    out.write(line + "\n")
                    columns = _column_mismatch(seq, ts, event_type, risk, line)
                    if columns:
                        mismatched.append((n, seq, columns))
                head = conn.execute(
                    select(self._head.c.head).where(self._head.c.id == 1)
                ).scalar_one_or_none()
                entries = self._key_entries(conn)
            if head:
                path.with_name(path.name + ".head").write_text(head, encoding="ascii")
            if entries:
                path.with_name(path.name + ".keys").write_text(
                    "".join(json.dumps(e) + "\n" for e in entries), encoding="ascii"
                )
            report = verify_audit_file(
                path,
                keys=keys,
                check_macs=check_macs,
                allow_unanchored=allow_unanchored,
                anchor=anchor,
            )
        report.path = display_url(self.engine)
        from tigerseal.audit import Issue

        for n, seq, columns in mismatched[:20]:
            # The columns are copies for queries and dashboards; only the line is MACed, so a
            # changed column (a critical event relabelled low) is an edit the MACs cannot see.
            report.issues.append(
                Issue(
                    "edited",
                    "error",
                    n,
                    seq,
                    f"row {n} (seq {seq}): its {columns} column(s) do not match its MACed line: "
                    "the row was edited",
                )
            )
        return report

    def key_uses(self) -> list[KeyUse]:
        """Which provider key versions this trail's MAC keys use (keys table, legacy rows).

        Raises:
            AuditError: the database cannot be read.
        """
        from tigerseal.audit.keystore import entry_key_uses

        shown = display_url(self.engine)
        try:
            with self.engine.connect() as conn:
                entries = self._all_entries(conn)
        except DBAPIError as exc:
            raise _write_error(exc) from exc
        table = "" if self._log.name == "tigerseal_audit" else f"?table={self._log.name}"
        return entry_key_uses(
            entries, f"{shown} ({self._log.name})", f"tigerseal audit rewrap-keys {shown}{table}"
        )

    def rewrap_keys(self, encryption: EncryptionService | None = None) -> RewrapCount:
        """Rewrap this trail's MAC keys to the newest key versions (the chain is untouched).

        Legacy keys (inside chained rows) are copied, rewrapped, into the keys table.
        """
        from tigerseal.audit.keystore import rewrap_entries

        if encryption is None:
            from tigerseal.envelope import get_encryption_service

            encryption = get_encryption_service()
        self._create_schema()
        t = self._keys_table
        # Rewrap outside the transaction: a rewrap is itself audited (crypto_rewrap), maybe
        # into this table, whose writers lock the head row.
        with self.engine.connect() as conn:
            entries, count = rewrap_entries(self._all_entries(conn), encryption)
        if not count.rewrapped:
            return count
        with self.engine.begin() as conn:
            conn.execute(select(self._head.c.id).where(self._head.c.id == 1).with_for_update())
            stored = {(e["chain_id"], e["key_id"]) for e in self._key_entries(conn)}
            for e in entries:
                if (e["chain_id"], e["key_id"]) in stored:
                    conn.execute(
                        update(t)
                        .where(t.c.chain_id == e["chain_id"], t.c.key_id == e["key_id"])
                        .values(wrapped=e["wrapped"])
                    )
                else:
                    conn.execute(
                        insert(t).values(
                            chain_id=e["chain_id"],
                            key_id=e["key_id"],
                            commit_hash=e["commit"],
                            wrapped=e["wrapped"],
                        )
                    )
        return count

    def _all_entries(self, conn: Connection) -> list[dict[str, str]]:
        from sqlalchemy import inspect
        from tigerseal.audit.keystore import legacy_key_entries

        entries = self._key_entries(conn)
        if not inspect(conn).has_table(self._log.name):
            return entries
        known = {(e["chain_id"], e["key_id"]) for e in entries}
        rows = conn.execute(
            select(self._log.c.line).where(self._log.c.event_type.in_((START, RESUME)))
        ).scalars()
        for entry in legacy_key_entries(rows):
            if (entry["chain_id"], entry["key_id"]) not in known:
                known.add((entry["chain_id"], entry["key_id"]))
                entries.append(entry)
        return entries

    def _key_entries(self, conn: Connection) -> list[dict[str, str]]:
        """The wrapped MAC keys, as ``<file>.keys`` entries (none if the table is missing)."""
        from sqlalchemy import inspect

        if not inspect(conn).has_table(self._keys_table.name):
            return []
        t = self._keys_table
        return [
            {
                "format": KEYS_FORMAT,
                "chain_id": r.chain_id,
                "key_id": r.key_id,
                "commit": r.commit_hash,
                "wrapped": r.wrapped,
            }
            for r in conn.execute(select(t).order_by(t.c.chain_id, t.c.key_id))
        ]

    def __repr__(self) -> str:
        return f"<SQLAuditSink {display_url(self.engine)} table={self._log.name}>"


def audit_key_uses(uri: str) -> list[KeyUse]:
    """Which provider key versions the MAC keys of the SQL audit sink at ``uri`` use.

    A database without the audit tables has none. Raises :class:`AuditError` if it cannot be
    read.
    """
    sink = from_uri(uri, keys=AuditKeys(static_key=b"\0" * 32))  # reads only; never writes
    try:
        return sink.key_uses()
    finally:
        sink.close()


def _write_error(exc: Exception) -> Exception:
    """What writers see when their records could not be committed."""
    if isinstance(exc, TigerSealError):
        return exc  # e.g. the key provider could not create a checkpoint key
    if isinstance(exc, DBAPIError):
        error = AuditError(
            f"audit records could not be written to the database ({type(exc.orig).__name__}: "
            f"{exc.orig}); events are not being recorded: check the database, then retry"
        )
    else:
        error = AuditError(f"audit records could not be written ({type(exc).__name__}: {exc})")
    error.__cause__ = exc
    return error


def _column_mismatch(seq: int, ts: str, event_type: str, risk: str, line: str) -> str:
    """The names of a row's columns that differ from its line (as the writer derived them)."""
    try:
        rec = json.loads(line)
    except ValueError:
        return ""  # not a record: the verifier reports the line itself
    if not isinstance(rec, dict):
        return ""
    wrong = [
        name
        for name, column, value in (
            ("seq", seq, rec.get("seq")),
            ("ts", ts, str(rec.get("ts", ""))[:32]),
            ("event_type", event_type, str(rec.get("event_type", ""))[:64]),
            ("risk_level", risk, str(rec.get("risk_level", ""))[:16]),
        )
        if column != value
    ]
    return ", ".join(wrong)


def _sha256_hex(line: str) -> str:
    import hashlib

    return hashlib.sha256(line.encode("ascii")).hexdigest()


_display = display_url  # the name older tests import


def sqlite_engine(url: str | URL, **kwargs: Any) -> Engine:
    """A SQLite engine whose transactions take the write lock at ``BEGIN`` (``IMMEDIATE``).

    Without it, two processes that both read the chain head and then write would deadlock into
    ``database is locked``; with it the second waits (``timeout`` seconds, default 30).
    """
    connect_args = {"timeout": 30.0, **kwargs.pop("connect_args", {})}
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def from_uri(uri: str, **options: Any) -> SQLAuditSink:
    """Build the sink from ``postgresql[+driver]://...`` or ``sqlite:///path``.

    tigerseal's options may be given in the query (``table``, ``durability``, ``batch_size``,
    ``checkpoint_every``, ``checkpoint_interval``) or as keyword arguments; other query
    parameters go to the database driver.

    Raises:
        ConfigError: unknown scheme or bad option.
    """
    url, opts = split_audit_url(uri, options)
    base = url.get_backend_name()
    if (
        base == "postgresql"
        and url.get_driver_name() == "psycopg2"
        and "+" not in uri.split(":", 1)[0]
    ):
        url = url.set(drivername="postgresql+psycopg")  # psycopg 3 by default, not psycopg2
    engine_options = dict(opts.engine_options or {})
    engine = (
        sqlite_engine(url, **engine_options)
        if base == "sqlite"
        else create_engine(url, **engine_options)
    )
    kwargs = {k: v for k, v in given_options(opts).items() if k != "engine_options"}
    return SQLAuditSink(engine, **kwargs)
