"""Parallel bulk rewrap (``workers=N``) on the real PostgreSQL: correctness, a concurrent
application writer, a worker killed with SIGKILL, the whole job killed and resumed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    LargeBinary,
    MetaData,
    Table,
    create_engine,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from tigerseal.envelope import EncryptionService
from tigerseal.errors import ConfigError
from tigerseal_sql import EncryptedString, decrypt_value, key_version_report, rewrap_table, seal
from tigerseal_sql.rewrap import CHECKPOINTS_TABLE, CHUNKS_TABLE

from .conftest import VAR, Keys

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def table_for(svc: EncryptionService) -> Table:
    return Table(
        "secrets",
        MetaData(),
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("secret", EncryptedString(service=svc)),
        Column("note", EncryptedString(service=svc, storage="text"), nullable=True),
        # stands for a blind-index digest: a rewrap must never touch it
        Column("idx", LargeBinary, nullable=True),
    )


def fill(engine: Engine, table: Table, n: int) -> None:
    for lo in range(0, n, 5000):
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
                    for i in range(lo, min(lo + 5000, n))
                ],
            )


def contents(engine: Engine, svc: EncryptionService) -> dict[int, tuple[str, str | None, bytes]]:
    reader = table_for(svc)
    with engine.connect() as conn:
        rows = conn.execute(select(reader).order_by(reader.c.id)).all()
    return {
        i: (
            decrypt_value(reader.c.secret, s, pk=i),
            decrypt_value(reader.c.note, n, pk=i),
            bytes(x),
        )
        for i, s, n, x in rows
    }


def expected(n: int) -> dict[int, tuple[str, str | None, bytes]]:
    return {
        i: (f"secret-{i}", f"note-{i}" if i % 3 else None, i.to_bytes(8, "big")) for i in range(n)
    }


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    eng = create_engine(pg_url)
    yield eng
    eng.dispose()


@pytest.mark.parametrize("workers", [2, 3, 4])
def test_workers_rewrap_every_value_once(engine: Engine, keys: Keys, workers: int) -> None:
    n = 900
    table = table_for(keys.service())
    table.create(engine)
    fill(engine, table, n)
    new = keys.rotate()
    report = rewrap_table(engine, table, service=new, batch_size=30, workers=workers)
    assert report.workers == workers
    assert report.finished
    assert report.lost_workers == 0
    assert report.rows == n
    assert report.rewrapped == n + sum(1 for i in range(n) if i % 3)  # each value once
    assert report.versions is not None
    assert report.versions.stale_values == 0
    # payloads, row binding and the untouched index column
    assert contents(engine, new) == expected(n)
    with engine.connect() as conn:
        cp = conn.execute(select(CHECKPOINTS_TABLE)).mappings().one()
        left = conn.execute(select(func.count()).select_from(CHUNKS_TABLE)).scalar_one()
    assert cp["finished"]
    assert cp["rows_done"] == n
    assert left == 0  # the work queue is cleared once the job is finished
    again = rewrap_table(engine, table, service=new, workers=workers, verify=False)
    assert again.rewrapped == 0


def test_bad_worker_counts(engine: Engine, keys: Keys, tmp_path: Path) -> None:
    table = table_for(keys.service())
    with pytest.raises(ConfigError, match="workers"):
        rewrap_table(engine, table, service=keys.service(), workers=0)
    lite = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        table.create(lite)
        with pytest.raises(ConfigError, match="SKIP LOCKED"):
            rewrap_table(lite, table, service=keys.service(), workers=2)
    finally:
        lite.dispose()


def test_a_sequential_job_continues_in_parallel(engine: Engine, keys: Keys) -> None:
    n = 600
    table = table_for(keys.service())
    table.create(engine)
    fill(engine, table, n)
    new = keys.rotate()
    first = rewrap_table(engine, table, service=new, batch_size=50, max_batches=3, verify=False)
    assert first.rows == 150
    seen: list[int] = []
    rest = rewrap_table(
        engine, table, service=new, batch_size=50, workers=2, progress=True,
        on_batch=lambda r: seen.append(r.rows),
    )  # fmt: skip
    # progress: on_batch runs here, in the calling process, once per committed batch
    assert seen == sorted(seen)
    assert seen[-1] == n - 150
    assert len(seen) == rest.batches
    assert rest.resumed_from == (149,)
    assert rest.rows == n - 150
    assert rest.finished
    assert rest.versions is not None
    assert rest.versions.stale_values == 0
    assert contents(engine, new) == expected(n)


def test_a_concurrent_application_writer_loses_no_update(engine: Engine, keys: Keys) -> None:
    n = 2000
    old = keys.service()
    table = table_for(old)
    table.create(engine)
    fill(engine, table, n)
    new = keys.rotate()
    last: dict[int, str] = {}
    stop = threading.Event()

    def writer() -> None:
        # An application instance that has not seen the rotation yet: it writes version-1
        # values, which the rewrap must neither overwrite with the old value nor lose.
        rnd = random.Random(7)
        k = 0
        while not stop.is_set():
            i = rnd.randrange(n)
            value = f"app-{i}-{k}"
            with engine.begin() as conn:
                conn.execute(
                    update(table)
                    .where(table.c.id == i)
                    .values(secret=seal(table.c.secret, value, pk=i))
                )
            last[i] = value
            k += 1
            time.sleep(0.001)  # an application, not a flood: leave the workers some CPU

    t = threading.Thread(target=writer)
    t.start()
    try:
        report = rewrap_table(engine, table, service=new, batch_size=25, workers=3, verify=False)
    finally:
        stop.set()
        t.join()
    assert report.finished
    assert last, "the writer did not run during the rewrap"
    got = contents(engine, new)
    for i, value in last.items():
        assert got[i][0] == value
    untouched = [i for i in range(n) if i not in last]
    assert all(got[i] == expected(n)[i] for i in untouched)
    # values the late writer stored under version 1 are picked up by the next run
    rewrap_table(engine, table, service=new, workers=2, verify=False)
    assert key_version_report(engine, table, service=new).stale_values == 0


def _cli(pg_url: str, keys: Keys, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(VAR)}
    env.update(keys.env)
    env["TIGERSEAL_KEY_PROVIDERS"] = f"env://{VAR}"
    cmd = [sys.executable, "-m", "tigerseal_sql", "rewrap", pg_url, "secrets",
           "-c", "secret", "-c", "note", "--no-progress", *extra]  # fmt: skip
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )


def _wait_for(engine: Engine, proc: subprocess.Popen[bytes], what: str, ok: object) -> list[str]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        with engine.connect() as conn:
            rows = conn.execute(
                select(CHUNKS_TABLE.c.worker).where(CHUNKS_TABLE.c.done.is_(True))
            ).all()
        pids = [r[0] for r in rows if r[0]]
        if ok(pids):  # type: ignore[operator]
            return pids
        time.sleep(0.02)
    raise AssertionError(f"{what}: {proc.poll()} {proc.communicate()}")


def test_one_worker_killed_the_others_finish(engine: Engine, pg_url: str, keys: Keys) -> None:
    n = 3000
    table = table_for(keys.service())
    table.create(engine)
    fill(engine, table, n)
    keys.rotate()
    CHUNKS_TABLE.create(engine, checkfirst=True)
    proc = _cli(pg_url, keys, "--workers", "2", "--batch-size", "40")
    try:
        pids = _wait_for(engine, proc, "two workers", lambda p: len(set(p)) >= 2 and len(p) >= 6)
        victim = int(pids[-1].rsplit(":", 1)[1])
        assert victim != proc.pid
        os.kill(victim, signal.SIGKILL)  # mid-batch: its transaction rolls back
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, (out, err)
    assert b"1 worker(s) lost" in out + err
    assert b"0 on old key versions" in out
    assert contents(engine, keys.service()) == expected(n)


def test_whole_job_killed_and_resumed(engine: Engine, pg_url: str, keys: Keys) -> None:
    n = 3000
    table = table_for(keys.service())
    table.create(engine)
    fill(engine, table, n)
    keys.rotate()
    CHUNKS_TABLE.create(engine, checkfirst=True)
    proc = _cli(pg_url, keys, "--workers", "3", "--batch-size", "40")
    try:
        _wait_for(engine, proc, "some batches", lambda p: len(p) >= 10)
        os.killpg(proc.pid, signal.SIGKILL)  # parent and workers at once: a crash
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    new = keys.service()
    with engine.connect() as conn:
        done = conn.execute(
            select(func.coalesce(func.sum(CHUNKS_TABLE.c.rows_done), 0))
        ).scalar_one()
        finished = conn.execute(select(CHECKPOINTS_TABLE.c.finished)).scalar_one()
    assert not finished
    assert 0 < done < n
    # every committed batch is whole: rows done are exactly the rows no longer stale
    assert key_version_report(engine, table, service=new).stale_rows == n - done
    proc = _cli(pg_url, keys, "--workers", "2", "--batch-size", "40")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (out, err)
    assert b"0 on old key versions" in out
    assert contents(engine, new) == expected(n)
