"""An operator's edge cases of the bulk rewrap on the real PostgreSQL: string keys in a
linguistic collation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, select
from sqlalchemy.engine import Engine
from tigerseal.envelope import EncryptionService
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
