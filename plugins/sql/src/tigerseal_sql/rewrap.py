"""Bulk rewrap of a table after a key rotation: batched, resumable, with a progress bar.

After a key provider rotates (a new KEK version), old rows still carry data keys wrapped under
the old version. :func:`rewrap_table` walks the table in primary-key order, ``batch_size`` rows
per transaction, and moves every stale wrapped key to the newest version with
:meth:`EncryptionService.rewrap_many` (one batch call per provider: Vault's batch rewrap, an
HSM session). Payloads are not re-encrypted and plaintexts never leave the envelope layer.

Resumable: each batch commits its ``UPDATE``s together with a checkpoint row (the last primary
key done) in ``tigerseal_rewrap_checkpoints``, so a killed job restarts exactly after the last
committed batch, and no row is rewrapped twice or skipped. On PostgreSQL (and MySQL) the rows
of a batch are locked with ``SELECT ... FOR UPDATE`` while they are rewrapped, so a concurrent
application write is never overwritten with an older value.

:func:`key_version_report` reads headers only (no key is needed) and says how many values per
column still use each key version, and how many are stale: the thing to check before raising a
provider's minimum decryption version.
"""

from __future__ import annotations

import datetime as dt
import json
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
from tigerseal.envelope import EncryptedData
from tigerseal.errors import ConfigError, DecryptionError

from tigerseal_sql.types import EncryptedType

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from tigerseal.envelope import EncryptionService
    from tigerseal.keyuse import KeyUse

__all__ = [
    "CHECKPOINTS_TABLE",
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
        resumed_from: the primary key the run started after (``None``: from the start).
        finished: the whole table has been walked.
        elapsed: seconds.
        versions: the table's :class:`VersionReport` after the run (if ``verify``).
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
) -> RewrapReport:
    """Rewrap every stale envelope of ``table`` to the providers' newest key versions.

    Args:
        bind: an engine (each batch is its own transaction).
        table: a ``Table`` or a mapped class.
        columns: columns holding envelopes; default: every ``Encrypted*`` column.
        service: the encryption service (its providers' current versions are the target);
            default: :func:`tigerseal.get_encryption_service`.
        batch_size: rows per transaction and per ``rewrap_many`` call.
        job: checkpoint name (default ``rewrap:<table>``); two jobs with one name share progress.
        resume: continue after the last committed batch of an unfinished job; ``False``
            starts over. A finished job always starts over.
        force: rewrap every value, stale or not (providers without visible versions, such as
            AWS KMS, rotate behind one key id).
        progress: show a progress bar on stderr (click).
        verify: scan the table afterwards and attach a :class:`VersionReport`.
        max_batches: stop after this many batches (the job stays resumable).
        on_batch: called after each committed batch with the running report.

    Returns:
        What was done; ``report.versions.stale_values`` is 0 once the table is current.

    Raises:
        ConfigError: no primary key, no encrypted column, bad arguments.
        KeyProviderError: a provider failed (the current batch is rolled back; resume later).
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    engine = _engine(bind)
    svc = _service(service)
    tbl = _as_table(table)
    cols = _columns(tbl, columns)
    pk_cols = _pk_columns(tbl)
    job = job or f"rewrap:{tbl.name}"
    CHECKPOINTS_TABLE.create(engine, checkfirst=True)
    cp = CHECKPOINTS_TABLE

    start = time.monotonic()
    report = RewrapReport(tbl.name, job, tuple(c.name for c in cols))
    last: tuple[Any, ...] | None = None
    with engine.begin() as conn:
        row = conn.execute(select(cp).where(cp.c.job == job)).mappings().first()
        if row is None:
            conn.execute(
                insert(cp).values(
                    job=job, table_name=tbl.name, last_pk=None, rows_done=0, rewrapped=0,
                    finished=False, updated_at=time.time(),
                )
            )  # fmt: skip
        elif resume and not row["finished"] and row["last_pk"] is not None:
            last = _decode_pk(row["last_pk"])
        else:
            conn.execute(
                update(cp)
                .where(cp.c.job == job)
                .values(
                    last_pk=None, rows_done=0, rewrapped=0, finished=False, updated_at=time.time()
                )
            )
    report.resumed_from = last

    total = None
    if progress:
        count = select(func.count()).select_from(tbl)
        if last is not None:
            count = count.where(_after(pk_cols, last))
        with engine.connect() as conn:
            total = conn.execute(count).scalar_one()

    updates = {
        c.name: update(tbl)
        .where(*[pc == bindparam(f"_pk{i}") for i, pc in enumerate(pk_cols)])
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

    if progress:
        import click

        bar: Any
        with click.progressbar(
            length=total, label=f"rewrap {tbl.name}", show_pos=True, file=sys.stderr
        ) as bar:
            run_batches(bar.update)
    else:
        run_batches(lambda n: None)

    report.elapsed = time.monotonic() - start
    if verify:
        report.versions = key_version_report(
            engine, tbl, columns=[c.name for c in cols], service=svc
        )
    return report


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
            (*row[:npk], _like(col, row[j], new)) for (row, _), new in zip(todo, fresh, strict=True)
        ]
        _write(conn, updates, col, changed)
        done += len(changed)
    report.rewrapped += done
    return done


def _write(
    conn: Connection, updates: dict[str, Any], col: Column[Any], rows: list[tuple[Any, ...]]
) -> None:
    """``UPDATE`` the rewrapped values: one statement per batch on PostgreSQL, else executemany."""
    table: Table = col.table
    pk_cols = list(table.primary_key.columns)
    npk = len(pk_cols)
    if conn.dialect.name != "postgresql":
        many = [{**{f"_pk{i}": r[i] for i in range(npk)}, "_new": r[npk]} for r in rows]
        conn.execute(updates[col.name], many)
        return
    # UPDATE ... FROM unnest(<arrays>): one round trip and one small, cacheable statement for a
    # whole batch (executemany sends a statement per row; a VALUES list takes longer to compile
    # than to run).
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    names = [f"_pk{i}" for i in range(npk)]
    arrays = [
        f"CAST(%({n})s AS {pc.type.compile(dialect=dialect)}[])"
        for n, pc in zip(names, pk_cols, strict=True)
    ]
    if isinstance(col.type, EncryptedType):
        new_type = "TEXT" if col.type.storage == "text" else "BYTEA"
        as_db = col.type._to_db
        new_values = [as_db(r[npk]) for r in rows]
    else:
        new_type = col.type.compile(dialect=dialect)
        new_values = [r[npk] for r in rows]
    arrays.append(f"CAST(%(_new)s AS {new_type}[])")
    match = " AND ".join(
        f"t.{quote(pc.name)} = v.{n}" for pc, n in zip(pk_cols, names, strict=True)
    )
    # Identifiers are quoted by the dialect; every value is a bound parameter.
    statement = (
        f"UPDATE {dialect.identifier_preparer.format_table(table)} AS t "  # noqa: S608
        f"SET {quote(col.name)} = v._new "
        f"FROM unnest({', '.join(arrays)}) AS v({', '.join(names)}, _new) WHERE {match}"
    )
    params: dict[str, Any] = {n: [r[i] for r in rows] for i, n in enumerate(names)}
    params["_new"] = new_values
    conn.exec_driver_sql(statement, params)


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

    from tigerseal_sql._engine import engine_from_url

    engine = engine_from_url(bind) if isinstance(bind, str) else bind.engine
    where = engine.url.render_as_string(hide_password=True)
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
