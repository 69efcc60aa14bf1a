"""An operator's edge cases of the bulk rewrap on the real PostgreSQL: string keys in a
linguistic collation, same-named tables in two schemas, two jobs on one table at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, select, text
from sqlalchemy.engine import Engine
from tigerseal.envelope import EncryptionService
from tigerseal.errors import ConfigError
from tigerseal_sql import EncryptedString, decrypt_value, rewrap_table, seal

from .conftest import Keys

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    eng = create_engine(pg_url)
    yield eng
    eng.dispose()


def str_table(svc: EncryptionService, name: str = "people", schema: str | None = None) -> Table:
    return Table(
        name,
        MetaData(),
        # ICU's root collation orders "a" before "B"; Python's str order puts "B" first.
        Column("id", String(40, collation="und-x-icu"), primary_key=True),
        Column("secret", EncryptedString(service=svc)),
        schema=schema,
    )


def str_keys(n: int) -> list[str]:
    # "00000a" < "00000B" for the database, the other way round for Python's min()/max()
    return [f"{i // 2:05d}{'aB'[i % 2]}" for i in range(n)]


def fill(engine: Engine, table: Table, ids: list[str]) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(table), [{"id": i, "secret": seal(table.c.secret, f"s-{i}", pk=i)} for i in ids]
        )


def plain(engine: Engine, table: Table) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.id, table.c.secret)).all()
    return {i: decrypt_value(table.c.secret, s, pk=i) for i, s in rows}


@pytest.mark.parametrize("workers", [1, 2])
def test_string_keys_in_a_linguistic_collation_are_all_rewrapped(
    engine: Engine, keys: Keys, workers: int
) -> None:
    ids = str_keys(120)
    table = str_table(keys.service())
    table.create(engine)
    fill(engine, table, ids)
    new = keys.rotate()
    report = rewrap_table(engine, table, service=new, batch_size=16, workers=workers)
    assert report.changed_meanwhile == 0  # nobody wrote: every value read is written
    assert report.rewrapped == len(ids)
    assert report.versions is not None
    assert report.versions.stale_values == 0
    assert plain(engine, str_table(new)) == {i: f"s-{i}" for i in ids}


def test_same_table_name_in_two_schemas_are_two_jobs(engine: Engine, keys: Keys) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE SCHEMA tenant_a"))
        conn.execute(text("CREATE SCHEMA tenant_b"))
    ids = str_keys(60)
    a = str_table(keys.service(), schema="tenant_a")
    b = str_table(keys.service(), schema="tenant_b")
    for t in (a, b):
        t.create(engine)
        fill(engine, t, ids)
    new = keys.rotate()
    # tenant_a's job is interrupted after one batch ...
    first = rewrap_table(engine, a, service=new, batch_size=10, max_batches=1, verify=False)
    assert not first.finished
    # ... and tenant_b's table, a different table, must be walked from its start
    other = rewrap_table(engine, b, service=new, batch_size=10)
    assert other.resumed_from is None
    assert other.rows == len(ids)
    assert other.versions is not None
    assert other.versions.stale_values == 0
    # an explicit job name used for another table is refused, not resumed against it
    rewrap_table(engine, a, service=new, batch_size=10, max_batches=1, job="shared")
    with pytest.raises(ConfigError, match="tenant_a"):
        rewrap_table(engine, b, service=new, batch_size=10, job="shared")


def test_two_admins_rewrap_one_table_at_once(engine: Engine, pg_url: str, keys: Keys) -> None:
    from .test_rewrap_parallel import _cli, contents, expected, table_for
    from .test_rewrap_parallel import fill as fill_secrets

    n = 1500
    table = table_for(keys.service())
    table.create(engine)
    fill_secrets(engine, table, n)
    for _ in range(2):  # a fresh database (no job tables yet), then a finished job's row
        keys.rotate()
        procs = [_cli(pg_url, keys, "--workers", "2", "--batch-size", "40") for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, (out, err)
            assert b"0 on old key versions" in out
        assert contents(engine, keys.service()) == expected(n)


def test_two_first_runs_of_a_job_start_together(engine: Engine, keys: Keys) -> None:
    import threading

    from tigerseal_sql.rewrap import CHECKPOINTS_TABLE, CHUNKS_TABLE, RewrapReport

    ids = str_keys(80)
    table = str_table(keys.service())
    table.create(engine)
    fill(engine, table, ids)
    new = keys.rotate()
    CHECKPOINTS_TABLE.create(engine)
    CHUNKS_TABLE.create(engine)
    results: list[RewrapReport | BaseException] = []

    def run() -> None:
        try:
            results.append(rewrap_table(engine, table, service=new, batch_size=10))
        except BaseException as exc:  # reported below
            results.append(exc)

    # Hold both runs just before they look for the job row, then let them go together.
    with engine.begin() as conn:
        conn.execute(text("LOCK TABLE tigerseal_rewrap_checkpoints IN EXCLUSIVE MODE"))
        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            waiting = conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = "
                     "'tigerseal_rewrap_checkpoints'::regclass")
            ).scalar_one()  # fmt: skip
            if waiting >= 2:
                break
            time.sleep(0.02)
    for t in threads:
        t.join(timeout=60)
    assert all(isinstance(r, RewrapReport) and r.finished for r in results), results
    assert plain(engine, str_table(new)) == {i: f"s-{i}" for i in ids}


def test_composite_extreme_keys_nulls_gaps_and_a_resume_with_another_batch_size(
    engine: Engine, keys: Keys
) -> None:
    from sqlalchemy import BigInteger

    svc = keys.service()

    def make(s: EncryptionService) -> Table:
        return Table(
            "wide",
            MetaData(),
            Column("k", BigInteger, primary_key=True, autoincrement=False),
            Column("s", String(20, collation="und-x-icu"), primary_key=True),
            Column("secret", EncryptedString(service=s), nullable=True),
        )

    table = make(svc)
    table.create(engine)
    big = 2**63 - 1
    ks = [-(2**63), -5, -1, 0, 7, 10**12, big - 1, big]  # negative, huge, gaps
    rows = [(k, s) for k in ks for s in ("a", "B", "c", "D", "e")]
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            [
                {
                    "k": k,
                    "s": s,
                    "secret": None if n % 4 == 0 else seal(table.c.secret, f"{k}{s}", pk=(k, s)),
                }
                for n, (k, s) in enumerate(rows)
            ],
        )
    new = keys.rotate()
    first = rewrap_table(engine, table, service=new, batch_size=6, workers=2, max_batches=1)
    assert not first.finished
    # resumed with another batch size and more workers than chunks are left
    again = rewrap_table(engine, table, service=new, batch_size=4, workers=12)
    assert again.finished
    assert again.changed_meanwhile == 0
    assert first.rewrapped + again.rewrapped == sum(1 for n in range(len(rows)) if n % 4)
    assert again.versions is not None
    assert again.versions.stale_values == 0
    reader = make(new)
    with engine.connect() as conn:
        got = {
            (k, s): decrypt_value(reader.c.secret, v, pk=(k, s))
            for k, s, v in conn.execute(select(reader)).all()
        }
    assert got == {(k, s): None if n % 4 == 0 else f"{k}{s}" for n, (k, s) in enumerate(rows)}


def test_a_job_resumed_after_another_rotation_says_to_run_again(
    engine: Engine, pg_url: str, keys: Keys
) -> None:
    from .test_rewrap_parallel import _cli, contents, expected, table_for
    from .test_rewrap_parallel import fill as fill_secrets

    n = 300
    table = table_for(keys.service())
    table.create(engine)
    fill_secrets(engine, table, n)
    v2 = keys.rotate()
    killed = rewrap_table(engine, table, service=v2, batch_size=40, workers=2, max_batches=1)
    assert not killed.finished
    keys.rotate()  # the chunks done so far hold v2 values: not current any more
    proc = _cli(pg_url, keys, "--workers", "2", "--batch-size", "40")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, (out, err)  # never 0 while a value is stale
    assert b"run the same command again" in err
    proc = _cli(pg_url, keys, "--workers", "2", "--batch-size", "40")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (out, err)
    assert b"0 on old key versions" in out
    assert contents(engine, keys.service()) == expected(n)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_parent_killed_workers_stop_after_a_whole_batch(
    engine: Engine, pg_url: str, keys: Keys, sig: str
) -> None:
    import os
    import signal

    from sqlalchemy import func
    from tigerseal_sql.rewrap import CHECKPOINTS_TABLE, CHUNKS_TABLE

    from .test_rewrap_parallel import _cli, _wait_for, contents, expected, table_for
    from .test_rewrap_parallel import fill as fill_secrets

    n = 3000
    table = table_for(keys.service())
    table.create(engine)
    fill_secrets(engine, table, n)
    keys.rotate()
    CHUNKS_TABLE.create(engine, checkfirst=True)
    proc = _cli(pg_url, keys, "--workers", "3", "--batch-size", "20")
    try:
        _wait_for(engine, proc, "some batches", lambda p: len(p) >= 6)
        listing = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text()
        children = [int(c) for c in listing.split()]
        assert len(children) == 3
        os.kill(proc.pid, getattr(signal, sig))  # the parent only
        proc.communicate(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(Path(f"/proc/{c}").exists() for c in children):
            time.sleep(0.05)
        alive = [c for c in children if Path(f"/proc/{c}").exists()]
        assert not alive, "workers outlived their coordinator"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    new = keys.service()
    with engine.connect() as conn:
        done = conn.execute(
            select(func.coalesce(func.sum(CHUNKS_TABLE.c.rows_done), 0))
        ).scalar_one()
        finished = conn.execute(select(CHECKPOINTS_TABLE.c.finished)).scalar_one()
    assert not finished
    from tigerseal_sql import key_version_report

    # nothing half-committed: the rows done are exactly the rows no longer stale
    assert key_version_report(engine, table, service=new).stale_rows == n - done
    proc = _cli(pg_url, keys, "--workers", "2", "--batch-size", "20")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (out, err)
    assert contents(engine, new) == expected(n)


@pytest.mark.parametrize("workers", [1, 2])
def test_application_delete_and_key_change_inside_a_locked_batch(
    engine: Engine, keys: Keys, workers: int
) -> None:
    import threading

    from tigerseal_sql.rewrap import RewrapReport

    from .test_rewrap_parallel import fill as fill_secrets
    from .test_rewrap_parallel import table_for

    table = table_for(keys.service())
    table.create(engine)
    fill_secrets(engine, table, 30)
    new = keys.rotate()
    out: list[RewrapReport] = []
    with engine.connect() as app:
        tx = app.begin()
        app.execute(text("DELETE FROM secrets WHERE id = 3"))
        app.execute(text("UPDATE secrets SET id = 1000 WHERE id = 9"))  # a key changed
        t = threading.Thread(
            target=lambda: out.append(
                rewrap_table(engine, table, service=new, batch_size=10, workers=workers)
            )
        )
        t.start()
        deadline = time.monotonic() + 20  # until the rewrap waits for our row locks
        while time.monotonic() < deadline:
            if app.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar_one():
                break
            time.sleep(0.02)
        tx.commit()
    t.join(60)
    (report,) = out
    assert report.finished
    assert report.versions is not None
    assert report.versions.stale_values == 0  # no row skipped around the moved key
    with engine.connect() as conn:
        ids = sorted(conn.execute(select(table.c.id)).scalars())
    assert ids == sorted({*range(30), 1000} - {3, 9})


def test_rows_appended_after_a_killed_job_are_covered_on_resume(engine: Engine, keys: Keys) -> None:
    from .test_rewrap_parallel import contents, expected, table_for
    from .test_rewrap_parallel import fill as fill_secrets

    old = keys.service()
    table = table_for(old)
    table.create(engine)
    fill_secrets(engine, table, 50)
    new = keys.rotate()
    killed = rewrap_table(engine, table, service=new, batch_size=10, workers=2, max_batches=1)
    assert not killed.finished
    # the table grows past the planned key range, written by an instance on the old key
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            [
                {
                    "id": i,
                    "secret": seal(table.c.secret, f"secret-{i}", pk=i),
                    "note": seal(table.c.note, f"note-{i}", pk=i) if i % 3 else None,
                    "idx": i.to_bytes(8, "big"),
                }
                for i in range(50, 95)
            ],
        )
    resumed = rewrap_table(engine, table, service=new, batch_size=10, workers=3)
    assert resumed.finished
    assert resumed.versions is not None
    assert resumed.versions.stale_values == 0
    assert contents(engine, new) == expected(95)


def test_first_runs_on_a_fresh_database_create_the_job_tables_once(
    engine: Engine, keys: Keys
) -> None:
    import threading

    ids = str_keys(10)
    table = str_table(keys.service())
    table.create(engine)
    fill(engine, table, ids)
    new = keys.rotate()
    errors: list[BaseException] = []
    for _ in range(5):
        with engine.begin() as conn:
            conn.execute(
                text("DROP TABLE IF EXISTS tigerseal_rewrap_checkpoints, tigerseal_rewrap_chunks")
            )
        barrier = threading.Barrier(2)

        def run(barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                rewrap_table(engine, table, service=new, batch_size=5, verify=False)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert errors == []
