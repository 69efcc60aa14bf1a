"""Bulk rewrap of a table after a key rotation: batched, resumable, with a progress bar.

After a key provider rotates (a new KEK version), old rows still carry data keys wrapped under
the old version. :func:`rewrap_table` walks the table in primary-key order, ``batch_size`` rows
per transaction, and moves every stale wrapped key to the newest version with
:meth:`EncryptionService.rewrap_many` (one batch call per provider: Vault's batch rewrap, an
HSM session). Payloads are not re-encrypted and plaintexts never leave the envelope layer.

Resumable: each batch commits its ``UPDATE``s together with a checkpoint row (the last primary
key done) in ``tigerseal_rewrap_checkpoints``, so a killed job restarts exactly after the last
committed batch, and no row is rewrapped twice or skipped. On PostgreSQL (and MySQL) the rows
of a batch are locked with ``SELECT ... FOR UPDATE`` while they are rewrapped (where no lock
can be taken, each ``UPDATE`` requires the cell to still hold the value that was read), so a
concurrent application write is never overwritten with an older value.

Parallel (``workers=N``, PostgreSQL): the primary-key range still to do is cut into chunks of
``batch_size`` rows, recorded in ``tigerseal_rewrap_chunks`` (the work queue and the
checkpoints). N forked worker processes each take the next free chunk with
``SELECT ... FOR UPDATE SKIP LOCKED``, rewrap its rows and mark it done in the same
transaction. A worker killed mid-batch loses only its uncommitted transaction: the chunk's lock
goes with its connection and another worker (or the next run) takes the chunk again.

:func:`key_version_report` reads headers only (no key is needed) and says how many values per
column still use each key version, and how many are stale: the thing to check before raising a
provider's minimum decryption version.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    select,
    tuple_,
    type_coerce,
    update,
)
from tigerseal import errors as _errors
from tigerseal._text import escape_control
from tigerseal.envelope import EncryptedData
from tigerseal.errors import ConfigError, DecryptionError, TigerSealError

from tigerseal_sql.types import EncryptedType

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from tigerseal.envelope import EncryptionService
    from tigerseal.keyuse import KeyUse

__all__ = [
    "CHECKPOINTS_TABLE",
    "CHUNKS_TABLE",
    "RewrapReport",
    "VersionReport",
    "column_key_uses",
    "key_version_report",
    "rewrap_table",
]

CHECKPOINTS_TABLE = Table(
    "tigerseal_rewrap_checkpoints",
    MetaData(),
    Column("job", String(200), primary_key=True),
    Column("table_name", String(200), nullable=False),
    Column("last_pk", Text, nullable=True),
    Column("rows_done", BigInteger, nullable=False, default=0),
    Column("rewrapped", BigInteger, nullable=False, default=0),
    Column("finished", Boolean, nullable=False, default=False),
    Column("updated_at", Float, nullable=False),
)

#: The work queue of a parallel rewrap: one row per primary-key range of about ``batch_size``
#: rows, ``lo_pk`` < key <= ``hi_pk`` (``None``: open), ``last_pk`` the progress inside it.
CHUNKS_TABLE = Table(
    "tigerseal_rewrap_chunks",
    MetaData(),
    Column("job", String(200), primary_key=True),
    Column("chunk", BigInteger, primary_key=True, autoincrement=False),
    Column("lo_pk", Text, nullable=True),
    Column("hi_pk", Text, nullable=True),
    Column("last_pk", Text, nullable=True),
    Column("done", Boolean, nullable=False, default=False),
    Column("rows_done", BigInteger, nullable=False, default=0),
    Column("rewrapped", BigInteger, nullable=False, default=0),
    Column("worker", String(300), nullable=True),
    Column("updated_at", Float, nullable=False),
)


@dataclass
class VersionReport:
    """Which key versions the values of a table use (from headers; nothing is decrypted).

    Attributes:
        table: table name.
        total_values: non-null encrypted values seen.
        stale_values: values with a wrapped key older than its provider's current version.
        stale_rows: rows with at least one stale value.
        unreadable: values that are not tigerseal envelopes (corrupt, or never encrypted).
        by_column: per column, a count per ``provider:key_id:v<version>`` of wrapped keys.
    """

    table: str
    total_values: int = 0
    stale_values: int = 0
    stale_rows: int = 0
    unreadable: int = 0
    by_column: dict[str, Counter[str]] = field(default_factory=dict)

    def summary(self) -> str:
        """A few human-readable lines."""
        lines = [
            f"{self.table}: {self.total_values} encrypted values, {self.stale_values} on old key "
            f"versions ({self.stale_rows} rows), {self.unreadable} unreadable"
        ]
        for col, counts in sorted(self.by_column.items()):
            parts = ", ".join(f"{k}={n}" for k, n in sorted(counts.items()))
            lines.append(f"  {col}: {parts}")
        return "\n".join(lines)


@dataclass
class RewrapReport:
    """Outcome of one :func:`rewrap_table` run.

    Attributes:
        table: table name.
        job: checkpoint name.
        columns: columns processed.
        rows: rows read in this run.
        rewrapped: values rewrapped in this run.
        already_current: values that needed nothing.
        unreadable: values that are not envelopes (left alone).
        batches: transactions committed in this run.
        resumed_from: the primary key the run started after (``None``: from the start); for
            a parallel job resumed, the progress point of its first unfinished chunk.
        finished: the whole table has been walked.
        elapsed: seconds.
        versions: the table's :class:`VersionReport` after the run (if ``verify``).
        workers: worker processes used (1: in this process).
        lost_workers: workers that died without finishing (killed, crashed); their chunks
            were taken over by the others or are left for the next run.
        changed_meanwhile: values not written because the row no longer held what was read
            (an application wrote it meanwhile; its value is kept).
    """

    table: str
    job: str
    columns: tuple[str, ...]
    rows: int = 0
    rewrapped: int = 0
    already_current: int = 0
    unreadable: int = 0
    batches: int = 0
    resumed_from: tuple[Any, ...] | None = None
    finished: bool = False
    elapsed: float = 0.0
    versions: VersionReport | None = None
    workers: int = 1
    lost_workers: int = 0
    changed_meanwhile: int = 0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.elapsed if self.elapsed > 0 else 0.0


# -- helpers -----------------------------------------------------------------------------------
def _as_table(table: Table | type[Any]) -> Table:
    if isinstance(table, Table):
        return table
    found = getattr(table, "__table__", None)
    if isinstance(found, Table):
        return found
    raise ConfigError(f"expected a Table or a mapped class, got {table!r}")


def _columns(table: Table, names: Sequence[str] | None) -> list[Column[Any]]:
    if names:
        missing = [n for n in names if n not in table.c]
        if missing:
            raise ConfigError(
                f"table {table.name!r} has no column(s) {missing}; columns: {list(table.c.keys())}"
            )
        return [table.c[n] for n in names]
    found = [c for c in table.c if isinstance(c.type, EncryptedType)]
    if not found:
        raise ConfigError(
            f"table {table.name!r} has no Encrypted* column; name the columns holding envelopes "
            "(columns=[...] or --column)"
        )
    return found


def _pk_columns(table: Table) -> list[Column[Any]]:
    cols = list(table.primary_key.columns)
    if not cols:
        raise ConfigError(
            f"table {table.name!r} has no primary key: a resumable rewrap walks the table in "
            "primary-key order"
        )
    return cols


def _encode_pk(values: Sequence[Any]) -> str:
    out: list[list[Any]] = []
    for v in values:
        if isinstance(v, bool) or v is None:
            raise ConfigError(f"unsupported primary-key value {v!r} for a rewrap checkpoint")
        if isinstance(v, int):
            out.append(["int", v])
        elif isinstance(v, str):
            out.append(["str", v])
        elif isinstance(v, uuid.UUID):
            out.append(["uuid", str(v)])
        elif isinstance(v, bytes):
            out.append(["bytes", v.hex()])
        elif isinstance(v, dt.datetime):
            out.append(["datetime", v.isoformat()])
        else:
            raise ConfigError(
                f"primary keys of type {type(v).__name__} are not supported by rewrap checkpoints"
            )
    return json.dumps(out)


def _decode_pk(text: str) -> tuple[Any, ...]:
    decoders: dict[str, Callable[[Any], Any]] = {
        "int": int,
        "str": str,
        "uuid": uuid.UUID,
        "bytes": bytes.fromhex,
        "datetime": dt.datetime.fromisoformat,
    }
    try:
        return tuple(decoders[kind](raw) for kind, raw in json.loads(text))
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"the rewrap checkpoint is unreadable ({exc}); restart the job with resume=False"
        ) from exc


def _after(pk_cols: list[Column[Any]], last: tuple[Any, ...]) -> Any:
    if len(pk_cols) == 1:
        return pk_cols[0] > last[0]
    return tuple_(*pk_cols) > tuple_(*last)


def _to_envelope(raw: Any) -> EncryptedData | None:
    if raw is None:
        return None
    if isinstance(raw, EncryptedData):
        return raw
    if raw in (b"", ""):
        return None
    return EncryptedData.parse(raw)


def _like(col: Column[Any], raw: Any, ed: EncryptedData) -> Any:
    """The new envelope in the stored form of ``raw`` (typed columns take EncryptedData)."""
    if isinstance(col.type, EncryptedType):
        return ed
    return str(ed) if isinstance(raw, str) else bytes(ed)


def _raw(col: Column[Any]) -> Any:
    """Select a column's stored value without the Encrypted* result processing."""
    if isinstance(col.type, EncryptedType):
        return type_coerce(col, Text() if col.type.storage == "text" else LargeBinary())
    return col


def _engine(bind: Engine | Connection) -> Engine:
    return bind.engine


def _service(service: EncryptionService | None) -> EncryptionService:
    if service is not None:
        return service
    from tigerseal.envelope import get_encryption_service

    return get_encryption_service()


# -- rewrap ------------------------------------------------------------------------------------
def rewrap_table(
    bind: Engine | Connection,
    table: Table | type[Any],
    *,
    columns: Sequence[str] | None = None,
    service: EncryptionService | None = None,
    batch_size: int = 1000,
    job: str | None = None,
    resume: bool = True,
    force: bool = False,
    progress: bool = False,
    verify: bool = True,
    max_batches: int | None = None,
    on_batch: Callable[[RewrapReport], None] | None = None,
    workers: int = 1,
) -> RewrapReport:
    """Rewrap every stale envelope of ``table`` to the providers' newest key versions.

    Args:
        bind: an engine (each batch is its own transaction).
        table: a ``Table`` or a mapped class.
        columns: columns holding envelopes; default: every ``Encrypted*`` column.
        service: the encryption service (its providers' current versions are the target);
            default: :func:`tigerseal.get_encryption_service` (each worker process builds its
            own from the settings).
        batch_size: rows per transaction and per ``rewrap_many`` call (and per chunk of a
            parallel job).
        job: checkpoint name (default ``rewrap:<schema.table>``); two runs with one name share
            progress; a name with an unfinished job of another table is refused.
        resume: continue after the last committed batch of an unfinished job; ``False``
            starts over. A finished job always starts over.
        force: rewrap every value, stale or not (providers without visible versions, such as
            AWS KMS, rotate behind one key id).
        progress: show a progress bar on stderr (click).
        verify: scan the table afterwards and attach a :class:`VersionReport`.
        max_batches: stop after this many batches (per worker with ``workers`` > 1; the job
            stays resumable).
        on_batch: called (in this process) after each committed batch with the running report.
        workers: worker processes (PostgreSQL only for more than 1). They are forked from this
            process: an explicit ``service`` is shared with them, so its providers must stand
            a ``fork()`` (env, file and PKCS#11 providers do; for network providers leave
            ``service`` unset so each worker builds its own). A parallel job is resumed by a
            run with any number of workers, and an unfinished sequential one continues in
            parallel from its checkpoint.

    Returns:
        What was done; ``report.versions.stale_values`` is 0 once the table is current.

    Raises:
        ConfigError: no primary key, no encrypted column, bad arguments.
        KeyProviderError: a provider failed (the current batch is rolled back; resume later).
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    engine = _engine(bind)
    chunked = engine.dialect.name == "postgresql"
    if workers > 1 and not chunked:
        raise ConfigError(
            f"workers={workers} needs PostgreSQL: the workers share the table with "
            f"SELECT ... FOR UPDATE SKIP LOCKED, which {engine.dialect.name} does not offer "
            "here; run with workers=1"
        )
    own_service = service is None
    svc = _service(service)
    tbl = _as_table(table)
    cols = _columns(tbl, columns)
    pk_cols = _pk_columns(tbl)
    # The schema is part of the table's name: tenant_a.users and tenant_b.users are two jobs.
    job = job or f"rewrap:{tbl.fullname}"
    _create_job_tables(engine, chunked)
    cp, ck = CHECKPOINTS_TABLE, CHUNKS_TABLE

    start = time.monotonic()
    report = RewrapReport(tbl.name, job, tuple(c.name for c in cols))
    report.workers = workers
    last: tuple[Any, ...] | None = None
    parallel = False
    with engine.begin() as conn:
        # The job row is locked while deciding, so two runs starting together plan once. It
        # is created first if absent (a no-op when another run just created it): two first
        # runs would otherwise both find no row to lock and both insert one.
        _insert_job_if_absent(conn, job, tbl.fullname)
        row = conn.execute(select(cp).where(cp.c.job == job).with_for_update()).mappings().first()
        has_chunks = chunked and (
            conn.execute(select(func.count()).select_from(ck).where(ck.c.job == job)).scalar_one()
            > 0
        )
        if row is not None and not row["finished"] and row["table_name"] != tbl.fullname:
            # Its checkpoint and chunk key ranges belong to another table: resuming them here
            # would skip rows, and restarting would hand that table's running workers ours.
            raise ConfigError(
                f"rewrap job {escape_control(job, limit=200)!r} is an unfinished job of table "
                f"{escape_control(str(row['table_name']), limit=200)!r}, not {tbl.fullname!r}; "
                "finish that job first, or give this table its own job name (--job)"
            )
        if row is None:
            conn.execute(
                insert(cp).values(
                    job=job, table_name=tbl.fullname, last_pk=None, rows_done=0, rewrapped=0,
                    finished=False, updated_at=time.time(),
                )
            )  # fmt: skip
        elif resume and not row["finished"] and (has_chunks or row["last_pk"] is not None):
            if not has_chunks:
                last = _decode_pk(row["last_pk"])
        else:
            conn.execute(
                update(cp)
                .where(cp.c.job == job)
                .values(
                    table_name=tbl.fullname,
                    last_pk=None,
                    rows_done=0,
                    rewrapped=0,
                    finished=False,
                    updated_at=time.time(),
                )
            )
            if has_chunks:
                conn.execute(ck.delete().where(ck.c.job == job))
                has_chunks = False
        if has_chunks:
            parallel = True
            first = conn.execute(
                select(ck.c.lo_pk, ck.c.last_pk)
                .where(ck.c.job == job, ck.c.done.is_(False))
                .order_by(ck.c.chunk)
                .limit(1)
            ).first()
            point = first and (first.last_pk or first.lo_pk)
            report.resumed_from = _decode_pk(point) if point else None
        elif workers > 1:
            _plan_chunks(conn, tbl, pk_cols, job, last, batch_size)
            parallel = True
            report.resumed_from = last
        else:
            report.resumed_from = last
    if not parallel:
        report.workers = 1

    total = None
    if progress:
        count = select(func.count()).select_from(tbl)
        if last is not None:
            count = count.where(_after(pk_cols, last))
        with engine.connect() as conn:
            total = conn.execute(count).scalar_one()
            if parallel:
                # sum() of a BIGINT is a NUMERIC on PostgreSQL: a Decimal, which click refuses.
                total -= int(
                    conn.execute(
                        select(func.coalesce(func.sum(ck.c.rows_done), 0)).where(ck.c.job == job)
                    ).scalar_one()
                )

    updates = {
        c.name: update(tbl)
        .where(
            *[pc == bindparam(f"_pk{i}") for i, pc in enumerate(pk_cols)],
            _raw(c) == bindparam("_old"),
        )
        .values({c.name: bindparam("_new")})
        for c in cols
    }

    def run_batches(advance: Callable[[int], None]) -> None:
        nonlocal last
        while max_batches is None or report.batches < max_batches:
            with engine.begin() as conn:
                query = select(*pk_cols, *map(_raw, cols)).order_by(*pk_cols).limit(batch_size)
                if last is not None:
                    query = query.where(_after(pk_cols, last))
                # Lock the batch where the database can (rendered as nothing on SQLite).
                rows = conn.execute(query.with_for_update()).all()
                if not rows:
                    conn.execute(
                        update(cp)
                        .where(cp.c.job == job)
                        .values(finished=True, updated_at=time.time())
                    )
                    report.finished = True
                    return
                done = _rewrap_rows(conn, rows, len(pk_cols), cols, updates, svc, force, report)
                last = tuple(rows[-1][: len(pk_cols)])
                conn.execute(
                    update(cp)
                    .where(cp.c.job == job)
                    .values(
                        last_pk=_encode_pk(last),
                        rows_done=cp.c.rows_done + len(rows),
                        rewrapped=cp.c.rewrapped + done,
                        updated_at=time.time(),
                    )
                )
            report.rows += len(rows)
            report.batches += 1
            advance(len(rows))
            if on_batch is not None:
                on_batch(report)

    def run(advance: Callable[[int], None]) -> None:
        if not parallel:
            run_batches(advance)
            return
        plan = _ChunkPlan(
            engine, job, pk_cols, cols, updates, None if own_service else svc, force,
            batch_size, max_batches,
        )  # fmt: skip

        def merge(delta: RewrapReport) -> None:
            report.rows += delta.rows
            report.batches += delta.batches
            report.rewrapped += delta.rewrapped
            report.already_current += delta.already_current
            report.unreadable += delta.unreadable
            report.changed_meanwhile += delta.changed_meanwhile
            advance(delta.rows)
            if on_batch is not None:
                on_batch(report)

        error = _run_workers(plan, report.workers, svc, merge, report)
        report.finished = _finish_chunks(engine, job)
        if error is not None and not report.finished:
            raise error

    if progress:
        import click

        bar: Any
        with click.progressbar(
            length=total, label=f"rewrap {tbl.name}", show_pos=True, file=sys.stderr
        ) as bar:
            run(bar.update)
    else:
        run(lambda n: None)

    report.elapsed = time.monotonic() - start
    if verify:
        report.versions = key_version_report(
            engine, tbl, columns=[c.name for c in cols], service=svc
        )
    return report


#: PostgreSQL advisory lock key ("tigersea") serializing the creation of the job tables.
_TABLES_LOCK = 0x7469676572736561


def _create_job_tables(engine: Engine, chunked: bool) -> None:
    """Create the checkpoint (and chunk) tables if absent; concurrent first runs are safe."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two first runs at once would both find no table and both CREATE it (one fails
            # with a duplicate pg_type); the lock makes the second see the first's tables.
            conn.execute(select(func.pg_advisory_xact_lock(_TABLES_LOCK)))
        CHECKPOINTS_TABLE.create(conn, checkfirst=True)
        if chunked:
            CHUNKS_TABLE.create(conn, checkfirst=True)


def _insert_job_if_absent(conn: Connection, job: str, table_name: str) -> None:
    """Create the job's checkpoint row unless it exists, without failing on a concurrent run."""
    from sqlalchemy.exc import IntegrityError

    values = {
        "job": job, "table_name": table_name, "last_pk": None, "rows_done": 0, "rewrapped": 0,
        "finished": False, "updated_at": time.time(),
    }  # fmt: skip
    cp = CHECKPOINTS_TABLE
    name = conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(cp).values(values).on_conflict_do_nothing())
        return
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(sqlite_insert(cp).values(values).on_conflict_do_nothing())
        return
    if conn.execute(select(cp.c.job).where(cp.c.job == job)).first() is not None:
        return
    try:
        with conn.begin_nested():  # a savepoint: a lost race leaves the transaction usable
            conn.execute(insert(cp).values(values))
    except IntegrityError:
        pass  # another run created it meanwhile


def _upto(pk_cols: list[Column[Any]], hi: tuple[Any, ...]) -> Any:
    if len(pk_cols) == 1:
        return pk_cols[0] <= hi[0]
    return tuple_(*pk_cols) <= tuple_(*hi)


def _plan_chunks(
    conn: Connection,
    tbl: Table,
    pk_cols: list[Column[Any]],
    job: str,
    after: tuple[Any, ...] | None,
    batch_size: int,
) -> int:
    """Cut the key range after ``after`` into chunks of ``batch_size`` rows (the work queue).

    The boundaries are every ``batch_size``-th key, found by the database (a window function
    over the primary-key index; only the boundaries are sent back). The last chunk is open, so
    rows inserted at the end meanwhile are covered too.
    """
    rn = func.row_number().over(order_by=pk_cols).label("tigerseal_rn")
    inner = select(*pk_cols, rn)
    if after is not None:
        inner = inner.where(_after(pk_cols, after))
    sub = inner.subquery()
    keys = [sub.c[c.name] for c in pk_cols]
    bounds = conn.execute(
        select(*keys).where(sub.c.tigerseal_rn % batch_size == 0).order_by(*keys)
    ).all()
    edges: list[tuple[Any, ...] | None] = [after, *(tuple(b) for b in bounds)]
    now = time.time()
    rows = [
        {
            "job": job,
            "chunk": i,
            "lo_pk": None if lo is None else _encode_pk(lo),
            "hi_pk": _encode_pk(edges[i + 1]) if i + 1 < len(edges) else None,  # type: ignore[arg-type]
            "last_pk": None,
            "done": False,
            "rows_done": 0,
            "rewrapped": 0,
            "worker": None,
            "updated_at": now,
        }
        for i, lo in enumerate(edges)
    ]
    conn.execute(insert(CHUNKS_TABLE), rows)
    return len(rows)


@dataclass
class _ChunkPlan:
    """What a worker needs to take chunks of a parallel job (inherited through fork)."""

    engine: Engine
    job: str
    pk_cols: list[Column[Any]]
    cols: list[Column[Any]]
    updates: dict[str, Any]
    service: EncryptionService | None  # None: build from the settings in the worker
    force: bool
    batch_size: int
    max_batches: int | None


# SQLSTATEs after which the same transaction can simply be tried again.
_RETRY_STATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock detected


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def _work_chunks(
    plan: _ChunkPlan, svc: EncryptionService, send: Callable[[RewrapReport], None]
) -> None:
    """Take free chunks until none is left: one transaction per batch, with its checkpoint."""
    from sqlalchemy.exc import DBAPIError

    ck = CHUNKS_TABLE
    npk = len(plan.pk_cols)
    me = f"{socket.gethostname()}:{os.getpid()}"
    parent = os.getppid()
    batches = 0
    while plan.max_batches is None or batches < plan.max_batches:
        for attempt in range(5):
            delta = RewrapReport("", plan.job, ())
            try:
                with plan.engine.begin() as conn:
                    claim = conn.execute(
                        select(ck.c.chunk, ck.c.lo_pk, ck.c.hi_pk, ck.c.last_pk)
                        .where(ck.c.job == plan.job, ck.c.done.is_(False))
                        .order_by(ck.c.chunk)
                        .limit(1)
                        .with_for_update(skip_locked=True)
                    ).first()
                    if claim is None:
                        return
                    query = (
                        select(*plan.pk_cols, *map(_raw, plan.cols))
                        .order_by(*plan.pk_cols)
                        .limit(plan.batch_size)
                    )
                    start = claim.last_pk or claim.lo_pk
                    if start is not None:
                        query = query.where(_after(plan.pk_cols, _decode_pk(start)))
                    hi = _decode_pk(claim.hi_pk) if claim.hi_pk is not None else None
                    if hi is not None:
                        query = query.where(_upto(plan.pk_cols, hi))
                    # Chunks are disjoint, so this waits only for application writers.
                    rows = conn.execute(query.with_for_update()).all()
                    done = 0
                    if rows:
                        done = _rewrap_rows(
                            conn, rows, npk, plan.cols, plan.updates, svc, plan.force, delta
                        )
                    end = tuple(rows[-1][:npk]) if rows else None
                    values: dict[str, Any] = {
                        # A chunk holds batch_size rows when planned: reaching its upper
                        # bound finishes it without one more (empty) transaction.
                        "done": len(rows) < plan.batch_size or (hi is not None and end == hi),
                        "rows_done": ck.c.rows_done + len(rows),
                        "rewrapped": ck.c.rewrapped + done,
                        "worker": me,
                        "updated_at": time.time(),
                    }
                    if end is not None:
                        values["last_pk"] = _encode_pk(end)
                    conn.execute(
                        update(ck)
                        .where(ck.c.job == plan.job, ck.c.chunk == claim.chunk)
                        .values(values)
                    )
                break
            except DBAPIError as exc:
                if _sqlstate(exc) not in _RETRY_STATES or attempt == 4:
                    raise
        delta.rows = len(rows)
        delta.batches = 1
        batches += 1
        send(delta)
        if os.getppid() != parent:
            return  # the coordinating process is gone (killed): stop after a whole batch


def _describe(exc: BaseException) -> str:
    """An error of a worker for the coordinator: no SQL parameters (ciphertexts) in it."""
    orig = getattr(exc, "orig", None)
    if orig is not None:
        first = (str(orig).strip().splitlines() or [""])[0]
        return f"database error in a rewrap worker: {type(orig).__name__}: {first}"
    return f"{type(exc).__name__} in a rewrap worker: {exc}"


def _worker_main(q: Any, plan: _ChunkPlan) -> None:
    """Entry point of a forked worker process."""
    # Connections of the parent's pool belong to the parent: open new ones, close none.
    plan.engine.dispose(close=False)
    try:
        svc = plan.service
        if svc is None:
            from tigerseal.envelope import get_encryption_service, reset_encryption_service

            reset_encryption_service()
            svc = get_encryption_service()

        def send(d: RewrapReport) -> None:
            q.put(
                ("batch", d.rows, d.rewrapped, d.already_current, d.unreadable,
                 d.changed_meanwhile)
            )  # fmt: skip

        _work_chunks(plan, svc, send)
    except TigerSealError as exc:
        q.put(("error", type(exc).__name__, str(exc)))
        sys.exit(3)
    except Exception as exc:  # reported to the coordinator, which raises it
        q.put(("error", "", _describe(exc)))
        sys.exit(3)


def _rebuild(name: str, message: str) -> TigerSealError:
    cls = getattr(_errors, name, None)
    if isinstance(cls, type) and issubclass(cls, TigerSealError):
        try:
            return cls(message)
        except TypeError:
            pass
    return TigerSealError(message)


def _run_workers(
    plan: _ChunkPlan,
    workers: int,
    svc: EncryptionService,
    merge: Callable[[RewrapReport], None],
    report: RewrapReport,
) -> TigerSealError | None:
    """Run the workers to the end; returns the first error a worker reported, if any."""
    if workers == 1:
        _work_chunks(plan, svc, merge)
        return None
    import multiprocessing

    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:
        raise ConfigError(
            "workers > 1 needs fork() (Linux, macOS); run with workers=1 here"
        ) from None
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker_main, args=(q, plan), daemon=True) for _ in range(workers)]
    errors: list[TigerSealError] = []

    def handle(msg: tuple[Any, ...]) -> None:
        if msg[0] == "batch":
            delta = RewrapReport("", plan.job, ())
            (delta.rows, delta.rewrapped, delta.already_current, delta.unreadable,
             delta.changed_meanwhile) = msg[1:]  # fmt: skip
            delta.batches = 1
            merge(delta)
        elif msg[0] == "error":
            errors.append(_rebuild(msg[1], msg[2]))

    try:
        for p in procs:
            p.start()
        while True:
            try:
                handle(q.get(timeout=0.1))
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    break
        while True:  # what the last workers sent before exiting
            try:
                handle(q.get(timeout=0.05))
            except queue.Empty:
                break
    finally:
        for p in procs:
            if p.is_alive():  # interrupted: stop our workers (their batch rolls back)
                p.terminate()
        for p in procs:
            p.join()
        q.close()
    report.lost_workers = sum(1 for p in procs if p.exitcode not in (0, 3))
    return errors[0] if errors else None


def _finish_chunks(engine: Engine, job: str) -> bool:
    """Close a parallel job whose chunks are all done (totals to the job row, queue cleared)."""
    cp, ck = CHECKPOINTS_TABLE, CHUNKS_TABLE
    with engine.begin() as conn:
        conn.execute(select(cp.c.job).where(cp.c.job == job).with_for_update())
        left = conn.execute(
            select(func.count()).select_from(ck).where(ck.c.job == job, ck.c.done.is_(False))
        ).scalar_one()
        if left:
            return False
        rows, rewrapped = (
            int(v)
            for v in conn.execute(
                select(
                    func.coalesce(func.sum(ck.c.rows_done), 0),
                    func.coalesce(func.sum(ck.c.rewrapped), 0),
                ).where(ck.c.job == job)
            ).one()
        )
        conn.execute(
            update(cp)
            .where(cp.c.job == job)
            .values(
                rows_done=cp.c.rows_done + rows,
                rewrapped=cp.c.rewrapped + rewrapped,
                finished=True,
                updated_at=time.time(),
            )
        )
        conn.execute(ck.delete().where(ck.c.job == job))
    return True


def _rewrap_rows(
    conn: Connection,
    rows: Sequence[Any],
    npk: int,
    cols: list[Column[Any]],
    updates: dict[str, Any],
    svc: EncryptionService,
    force: bool,
    report: RewrapReport,
) -> int:
    done = 0
    for j, col in enumerate(cols, start=npk):
        todo: list[tuple[Any, EncryptedData]] = []
        for row in rows:
            try:
                ed = _to_envelope(row[j])
            except DecryptionError:
                report.unreadable += 1  # corrupt or never encrypted: left alone, reported
                continue
            if ed is None:
                continue
            if force or svc.needs_rewrap(ed):
                todo.append((row, ed))
            else:
                report.already_current += 1
        if not todo:
            continue
        fresh = svc.rewrap_many([ed for _, ed in todo])
        changed = [
            (*row[:npk], _like(col, row[j], new), row[j])
            for (row, _), new in zip(todo, fresh, strict=True)
        ]
        written = _write(conn, updates, col, changed)
        report.changed_meanwhile += len(changed) - written
        done += written
    report.rewrapped += done
    return done


def _bare_type(col: Column[Any]) -> Any:
    """``col``'s type without a collation (``CAST(... AS VARCHAR COLLATE x)`` is no syntax)."""
    if getattr(col.type, "collation", None) is None:
        return col.type
    bare = col.type.copy()
    bare.collation = None  # type: ignore[attr-defined]
    return bare


def _write(
    conn: Connection, updates: dict[str, Any], col: Column[Any], rows: list[tuple[Any, ...]]
) -> int:
    """``UPDATE`` the rewrapped values: one statement per batch on PostgreSQL, else executemany.

    ``rows`` are ``(*pk, new, old)``. On PostgreSQL the batch's rows are locked
    (``SELECT ... FOR UPDATE`` in this transaction, which returns the latest committed
    version), so no application write can come between the read and this ``UPDATE``. Elsewhere
    (SQLite renders no lock) a cell is written only if it still holds ``old`` exactly as read
    (compare-and-set), so an application write that slipped in is never undone. Returns how
    many cells were written.
    """
    table: Table = col.table
    pk_cols = list(table.primary_key.columns)
    npk = len(pk_cols)
    if conn.dialect.name != "postgresql":
        many = [
            {**{f"_pk{i}": r[i] for i in range(npk)}, "_new": r[npk], "_old": r[npk + 1]}
            for r in rows
        ]
        count = conn.execute(updates[col.name], many).rowcount
        return count if count is not None and count >= 0 else len(rows)
    # UPDATE ... FROM unnest(<arrays>): one round trip and one small, cacheable statement for a
    # whole batch (executemany sends a statement per row; a VALUES list takes longer to compile
    # than to run).
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    names = [f"_pk{i}" for i in range(npk)]
    # psycopg 3 sends the arrays in binary with %b; its default (%s) chooses text for arrays,
    # and a batch of bytea values hex-escaped into an array literal cost ~30 ms per 1,000
    # rows to build and parse against ~1 ms in binary (measured). psycopg2 knows only %s.
    f = "b" if dialect.driver == "psycopg" else "s"
    # A key column's type without its COLLATE clause (a cast cannot carry one); comparisons
    # with the column still use the column's collation, which wins over a type's default.
    pk_types = [_bare_type(pc).compile(dialect=dialect) for pc in pk_cols]
    arrays = [f"CAST(%({n}){f} AS {ty}[])" for n, ty in zip(names, pk_types, strict=True)]
    if isinstance(col.type, EncryptedType):
        stored_type = "TEXT" if col.type.storage == "text" else "BYTEA"
        as_db = col.type._to_db
        new_values = [as_db(r[npk]) for r in rows]
    else:
        stored_type = col.type.compile(dialect=dialect)
        new_values = [r[npk] for r in rows]
    arrays.append(f"CAST(%(_new){f} AS {stored_type}[])")
    match = " AND ".join(
        f"t.{quote(pc.name)} = v.{n}" for pc, n in zip(pk_cols, names, strict=True)
    )
    # The key range of the batch, stated outright: without it the planner joins the arrays
    # to a sequential scan of the whole table (a hash join), so every batch cost O(table) and
    # a job O(table^2); with it, an index range scan of the batch's rows.
    row_of = ", ".join(f"t.{quote(pc.name)}" for pc in pk_cols)
    lo = ", ".join(f"CAST(%(_lo{i})s AS {ty})" for i, ty in enumerate(pk_types))
    hi = ", ".join(f"CAST(%(_hi{i})s AS {ty})" for i, ty in enumerate(pk_types))
    if npk == 1:
        bounds = f"{row_of} >= {lo} AND {row_of} <= {hi}"
    else:
        bounds = f"({row_of}) >= ({lo}) AND ({row_of}) <= ({hi})"
    # Identifiers are quoted by the dialect; every value is a bound parameter.
    statement = (
        f"UPDATE {dialect.identifier_preparer.format_table(table)} AS t "  # noqa: S608
        f"SET {quote(col.name)} = v._new "
        f"FROM unnest({', '.join(arrays)}) AS v({', '.join(names)}, _new) "
        f"WHERE {bounds} AND {match}"
    )
    params: dict[str, Any] = {n: [r[i] for r in rows] for i, n in enumerate(names)}
    # rows come in primary-key order as the database sorts (the batch query orders by it), so
    # the first and last rows bound the batch. Never Python's min()/max(): strings in a
    # linguistic collation sort differently ("a" < "B" there), and rows outside a Python-made
    # range would be silently left unwritten.
    first, last = tuple(rows[0][:npk]), tuple(rows[-1][:npk])
    for i in range(npk):
        params[f"_lo{i}"] = first[i]
        params[f"_hi{i}"] = last[i]
    params["_new"] = new_values
    return int(conn.exec_driver_sql(statement, params).rowcount)


# -- report ------------------------------------------------------------------------------------
def _scan_envelopes(
    engine: Engine, tbl: Table, cols: Sequence[Column[Any]], batch_size: int
) -> Iterator[list[tuple[str, EncryptedData | DecryptionError | None]]]:
    """Per row, each column's envelope (``None`` if empty, the error if not an envelope).

    Walks the table in primary-key order, ``batch_size`` rows per query, reading raw stored
    values (a corrupt cell is yielded, not raised). The one scan behind
    :func:`key_version_report` and :func:`column_key_uses`.
    """
    pk_cols = _pk_columns(tbl)
    raw_cols = [_raw(c) for c in cols]
    last: tuple[Any, ...] | None = None
    with engine.connect() as conn:
        while True:
            query = select(*pk_cols, *raw_cols).order_by(*pk_cols).limit(batch_size)
            if last is not None:
                query = query.where(_after(pk_cols, last))
            rows = conn.execute(query).all()
            if not rows:
                break
            for row in rows:
                cells: list[tuple[str, EncryptedData | DecryptionError | None]] = []
                for j, col in enumerate(cols, start=len(pk_cols)):
                    try:
                        cells.append((col.name, _to_envelope(row[j])))
                    except DecryptionError as exc:  # not an envelope
                        cells.append((col.name, exc))
                yield cells
            last = tuple(rows[-1][: len(pk_cols)])


def key_version_report(
    bind: Engine | Connection,
    table: Table | type[Any],
    *,
    columns: Sequence[str] | None = None,
    service: EncryptionService | None = None,
    batch_size: int = 5000,
) -> VersionReport:
    """Count the key versions used by a table's envelopes, reading headers only.

    Args:
        bind: an engine or connection.
        table: a ``Table`` or a mapped class.
        columns: columns holding envelopes; default: every ``Encrypted*`` column.
        service: decides what "stale" means (its providers' current versions); default: the
            configured service.
        batch_size: rows read per query.
    """
    engine = _engine(bind)
    svc = _service(service)
    tbl = _as_table(table)
    cols = _columns(tbl, columns)
    rep = VersionReport(tbl.name, by_column={c.name: Counter() for c in cols})
    for cells in _scan_envelopes(engine, tbl, cols, batch_size):
        stale = False
        for name, ed in cells:
            if isinstance(ed, DecryptionError):
                rep.unreadable += 1
                continue
            if ed is None:
                continue
            rep.total_values += 1
            for w in ed.wrapped_keys:
                rep.by_column[name][f"{w.provider}:{w.key_id}:v{w.key_version}"] += 1
            if svc.needs_rewrap(ed):
                rep.stale_values += 1
                stale = True
        rep.stale_rows += stale
    return rep


def column_key_uses(
    bind: Engine | Connection | str,
    table: str,
    columns: Sequence[str],
    *,
    batch_size: int = 5000,
) -> list[KeyUse]:
    """The key versions the envelopes of ``table``'s ``columns`` use (headers only).

    One :class:`~tigerseal.keyuse.KeyUse` per column and wrapping key version, saying how many
    values use it. Cells that are not envelopes are skipped (``key_version_report`` counts them
    as unreadable). No key is needed.

    Args:
        bind: an engine, a connection or a database URL.
        table: the table name (``schema.table`` allowed); it is reflected.
        columns: columns holding envelopes.
        batch_size: rows read per query.

    Raises:
        ConfigError: the database, table or a column cannot be read.
    """
    from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError
    from tigerseal.keyuse import KeyUse

    from tigerseal_sql._engine import display_url, engine_from_url

    engine = engine_from_url(bind) if isinstance(bind, str) else bind.engine
    where = display_url(engine)
    try:
        schema, _, name = table.rpartition(".")
        try:
            tbl = Table(name, MetaData(), autoload_with=engine, schema=schema or None)
        except NoSuchTableError:
            raise ConfigError(f"no table {table!r} at {where}") from None
        cols = _columns(tbl, columns)
        counts: Counter[tuple[str, str, str, int]] = Counter()
        for cells in _scan_envelopes(engine, tbl, cols, batch_size):
            for col, ed in cells:
                if isinstance(ed, EncryptedData):
                    for w in ed.wrapped_keys:
                        counts[(col, w.provider, w.key_id, w.key_version)] += 1
    except SQLAlchemyError as exc:
        raise ConfigError(
            f"cannot read {table!r} at {where} to check its key versions "
            f"({type(exc).__name__}); check the database URL and that it is reachable"
        ) from None
    finally:
        if isinstance(bind, str):
            engine.dispose()
    return [
        KeyUse(
            f"{n} value(s) of {table}.{col} at {where}",
            provider,
            key_id,
            version,
            f"tigerseal sql rewrap DATABASE_URL {table} -c {col}",
        )
        for (col, provider, key_id, version), n in sorted(counts.items())
    ]
