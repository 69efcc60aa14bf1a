"""Bulk rewrap after rotation: batches, checkpoints, resume after a kill, reports, the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from tigerseal.envelope import EncryptionService
from tigerseal.errors import ConfigError
from tigerseal_sql import EncryptedString, decrypt_value, key_version_report, rewrap_table, seal
from tigerseal_sql.cli import main as cli
from tigerseal_sql.rewrap import CHECKPOINTS_TABLE

from .conftest import VAR, Keys


def secrets_table(svc: EncryptionService, metadata: MetaData | None = None) -> Table:
    return Table(
        "secrets",
        metadata or MetaData(),
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("secret", EncryptedString(service=svc)),
        Column("note", EncryptedString(service=svc, storage="text"), nullable=True),
    )


def fill(engine: Engine, table: Table, n: int, *, start: int = 0, chunk: int = 5000) -> None:
    for lo in range(start, start + n, chunk):
        rows = [
            {
                "id": i,
                "secret": seal(table.c.secret, f"secret-{i}", pk=i),
                "note": seal(table.c.note, f"note-{i}", pk=i) if i % 3 else None,
            }
            for i in range(lo, min(lo + chunk, start + n))
        ]
        with engine.begin() as conn:
            conn.execute(insert(table), rows)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


def versions(engine: Engine, table: Table) -> set[int]:
    with engine.connect() as conn:
        raw = conn.execute(select(table.c.secret)).scalars().all()
    return {ed.key_version for ed in raw}


def test_rewrap_moves_every_value_to_the_new_version(engine: Engine, keys: Keys) -> None:
    old = keys.service()
    table = secrets_table(old)
    table.create(engine)
    fill(engine, table, 250)
    new = keys.rotate()
    before = key_version_report(engine, table, service=new)
    assert before.total_values == 250 + 166
    assert before.stale_values == before.total_values
    assert before.stale_rows == 250
    assert before.by_column["secret"] == {f"env:{VAR}:v1": 250}

    report = rewrap_table(engine, table, service=new, batch_size=64)
    assert report.finished
    assert report.rows == 250
    assert report.rewrapped == 416
    assert report.batches == 4
    assert report.versions is not None
    assert report.versions.stale_values == 0
    assert report.versions.by_column["note"] == {f"env:{VAR}:v2": 166}
    assert versions(engine, table) == {2}
    # values still decrypt, bound to their rows, under the new service
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.id, table.c.secret).order_by(table.c.id)).all()
    reader = secrets_table(new).c.secret
    assert [decrypt_value(reader, ed, pk=i) for i, ed in rows[:5]] == [
        f"secret-{i}" for i in range(5)
    ]
    # a second run finds nothing to do
    again = rewrap_table(engine, table, service=new)
    assert again.rewrapped == 0
    assert again.already_current == 416


def test_interrupted_job_resumes_after_the_last_batch(engine: Engine, keys: Keys) -> None:
    table = secrets_table(keys.service())
    table.create(engine)
    fill(engine, table, 100)
    new = keys.rotate()
    first = rewrap_table(engine, table, service=new, batch_size=10, max_batches=3, verify=False)
    assert not first.finished
    assert first.rows == 30
    with engine.connect() as conn:
        cp = conn.execute(select(CHECKPOINTS_TABLE)).mappings().one()
    assert cp["rows_done"] == 30
    assert cp["last_pk"] is not None
    assert not cp["finished"]
    assert key_version_report(engine, table, service=new).stale_rows == 70

    second = rewrap_table(engine, table, service=new, batch_size=10)
    assert second.resumed_from == (29,)
    assert second.rows == 70
    assert second.finished
    assert second.versions is not None
    assert second.versions.stale_values == 0
    # resume=False starts from the beginning
    third = rewrap_table(engine, table, service=new, resume=False, force=True, verify=False)
    assert third.resumed_from is None
    assert third.rows == 100
    assert third.rewrapped == 166


def test_corrupt_cells_are_reported_and_left_alone(engine: Engine, keys: Keys) -> None:
    table = secrets_table(keys.service())
    table.create(engine)
    fill(engine, table, 10)
    raw = Table("secrets", MetaData(), Column("id", BigInteger, primary_key=True),
                Column("secret", LargeBinary))  # fmt: skip
    with engine.begin() as conn:
        conn.execute(update(raw).where(raw.c.id == 4).values(secret=b"garbage, not an envelope"))
    new = keys.rotate()
    report = rewrap_table(engine, table, service=new, columns=["secret"])
    assert report.unreadable == 1
    assert report.rewrapped == 9
    assert report.versions is not None
    assert report.versions.unreadable == 1
    assert report.versions.stale_values == 0


def test_composite_keys_and_text_columns(engine: Engine, keys: Keys) -> None:
    svc = keys.service()
    table = Table(
        "pairs",
        MetaData(),
        Column("tenant", String(10), primary_key=True),
        Column("n", Integer, primary_key=True, autoincrement=False),
        Column("value", EncryptedString(service=svc, storage="text")),
    )
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            [
                {"tenant": t, "n": n, "value": seal(table.c.value, f"{t}{n}", pk=(t, n))}
                for t in ("a", "b", "c")
                for n in range(7)
            ],
        )
    new = keys.rotate()
    first = rewrap_table(engine, table, service=new, batch_size=5, max_batches=2, verify=False)
    assert first.rows == 10
    rest = rewrap_table(engine, table, service=new, batch_size=5)
    assert rest.resumed_from == ("b", 2)
    assert rest.rows == 11
    assert rest.versions is not None
    assert rest.versions.stale_values == 0
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT value FROM pairs WHERE tenant = 'b' AND n = 3")).scalar()
    assert stored.startswith("ts1.")
    assert (
        new.decrypt_to_string(stored, {"table": "pairs", "column": "value", "pk": '["b","3"]'})
        == "b3"
    )


def test_bad_arguments(engine: Engine, keys: Keys) -> None:
    svc = keys.service()
    no_pk = Table("no_pk", MetaData(), Column("v", EncryptedString(service=svc)))
    plain = Table("plain", MetaData(), Column("id", Integer, primary_key=True))
    with pytest.raises(ConfigError, match="primary key"):
        rewrap_table(engine, no_pk, service=svc)
    with pytest.raises(ConfigError, match="no Encrypted"):
        rewrap_table(engine, plain, service=svc)
    with pytest.raises(ConfigError, match="no column"):
        rewrap_table(engine, plain, service=svc, columns=["missing"])
    with pytest.raises(ConfigError, match="batch_size"):
        rewrap_table(engine, plain, service=svc, batch_size=0)
    with pytest.raises(ConfigError, match="mapped class"):
        rewrap_table(engine, object, service=svc)  # type: ignore[arg-type]


@pytest.fixture
def configured_keys(keys: Keys, monkeypatch: pytest.MonkeyPatch) -> Iterator[Keys]:
    """The process settings point at the test keyring (for the CLI)."""
    from tigerseal.config import reset_settings
    from tigerseal.envelope import reset_encryption_service

    def apply() -> None:
        for name in [k for k in os.environ if k.startswith(VAR)]:
            monkeypatch.delenv(name)
        for name, value in keys.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", f"env://{VAR}")
        reset_settings()
        reset_encryption_service()

    keys.apply = apply  # type: ignore[attr-defined]
    apply()
    yield keys
    monkeypatch.undo()
    reset_settings()
    reset_encryption_service()


def test_cli_report_and_rewrap(engine: Engine, configured_keys: Keys, db_url: str) -> None:
    keys = configured_keys
    table = secrets_table(keys.service())
    table.create(engine)
    fill(engine, table, 40)
    keys.rotate()
    keys.apply()  # type: ignore[attr-defined]
    runner = CliRunner()
    out = runner.invoke(cli, ["report", db_url, "secrets", "-c", "secret", "-c", "note"])
    assert out.exit_code == 1, out.output  # stale values: non-zero, for scripts
    assert "40 on old key versions" in out.output or "66 on old key versions" in out.output
    out = runner.invoke(
        cli, ["rewrap", db_url, "secrets", "-c", "secret", "-c", "note", "--batch-size", "16"]
    )
    assert out.exit_code == 0, out.output
    assert "66 values rewrapped" in out.output
    assert "0 on old key versions" in out.output
    out = runner.invoke(cli, ["report", db_url, "nope", "-c", "x"])
    assert out.exit_code != 0
    assert "no table" in out.output


# -- 100,000 rows on PostgreSQL, the job killed mid-way and resumed ---------------------------
@pytest.mark.integration
@pytest.mark.postgres
@pytest.mark.slow
def test_100k_rows_killed_and_resumed(pg_url: str, keys: Keys) -> None:
    engine = create_engine(pg_url)
    try:
        _killed_and_resumed(engine, pg_url, keys)
    finally:
        engine.dispose()


def _killed_and_resumed(engine: Engine, pg_url: str, keys: Keys) -> None:
    n = 100_000
    table = Table(
        "secrets",
        MetaData(),
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("secret", EncryptedString(service=keys.service())),
    )
    table.create(engine)
    for lo in range(0, n, 10_000):
        with engine.begin() as conn:
            conn.execute(
                insert(table),
                [
                    {"id": i, "secret": seal(table.c.secret, f"secret-{i}", pk=i)}
                    for i in range(lo, lo + 10_000)
                ],
            )
    keys.rotate()
    env = {k: v for k, v in os.environ.items() if not k.startswith(VAR)}
    env.update(keys.env)
    env["TIGERSEAL_KEY_PROVIDERS"] = f"env://{VAR}"
    cmd = [sys.executable, "-m", "tigerseal_sql", "rewrap", pg_url, "secrets",
           "-c", "secret", "--batch-size", "2000", "--no-progress"]  # fmt: skip
    CHECKPOINTS_TABLE.create(engine, checkfirst=True)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = 0
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            with engine.connect() as conn:
                done = (
                    conn.execute(
                        select(CHECKPOINTS_TABLE.c.rows_done).where(
                            CHECKPOINTS_TABLE.c.job == "rewrap:secrets"
                        )
                    ).scalar()
                    or 0
                )
            if done >= 20_000:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)  # a crash: no cleanup, mid-batch
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
    with engine.connect() as conn:
        cp = conn.execute(select(CHECKPOINTS_TABLE)).mappings().one()
    assert not cp["finished"]
    assert 20_000 <= cp["rows_done"] < n
    new = keys.service()
    mid = key_version_report(engine, table, service=new)
    # every committed batch is complete: no row half-done
    assert mid.stale_rows == n - cp["rows_done"]

    report = rewrap_table(engine, table, service=new, batch_size=5000)
    assert report.resumed_from is not None
    assert report.rows == n - cp["rows_done"]
    assert report.finished
    assert report.versions is not None
    assert report.versions.stale_values == 0
    assert report.versions.total_values == n
    assert versions(engine, table) == {2}
    with engine.connect() as conn:
        sample = conn.execute(select(table.c.id, table.c.secret).where(table.c.id % 997 == 0)).all()
    reader = Table(
        "secrets",
        MetaData(),
        Column("id", BigInteger),
        Column("secret", EncryptedString(service=new)),
    ).c.secret
    for i, ed in sample:
        assert decrypt_value(reader, ed, pk=i) == f"secret-{i}"
