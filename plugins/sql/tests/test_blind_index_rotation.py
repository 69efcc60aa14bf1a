"""Blind-index root keys follow key-provider rotation; retire refuses while one is old.

Each test runs on SQLite and on a real PostgreSQL cluster (``db_url``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import String, create_engine, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from tigerseal.envelope import EncryptionService
from tigerseal.errors import ConfigError, KeyVersionRetired
from tigerseal.keyuse import KeyUseScan, KeyVersionInUse, key_uses, retire
from tigerseal.providers.file import FileKeyProvider, create_keyring
from tigerseal_sql import BlindIndex, EncryptedString
from tigerseal_sql.blind_index import blind_index_key_uses, rewrap_blind_index_keys
from tigerseal_sql.cli import main as sql_cli

from tests.unit.config.isolation import isolate


@pytest.fixture
def keyring(tmp_path: Path) -> FileKeyProvider:
    return create_keyring(tmp_path / "keyring.json")


def _setup(db_url: str, svc: EncryptionService) -> tuple[Any, Any, BlindIndex]:
    engine = create_engine(db_url)
    index = BlindIndex.load_or_create(engine, "accounts", service=svc, normalize=str.strip)

    class Base(DeclarativeBase):
        pass

    class Account(Base):
        __tablename__ = "accounts"
        id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
        name: Mapped[str] = mapped_column(String(50))
        tiger_id: Mapped[str] = mapped_column(EncryptedString(service=svc))
        tiger_id_bidx: Mapped[bytes | None] = index.column("tiger_id")

    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([Account(name=f"n{i}", tiger_id=f"{10000 + i}") for i in range(5)])
        s.commit()
    return engine, Account, index


def _lookup(engine: Any, account: Any, index: BlindIndex, value: str) -> list[str]:
    with Session(engine) as s:
        stmt = select(account.name).where(index.match(account.tiger_id, value))
        return list(s.scalars(stmt).all())


def _min_version(keyring: FileKeyProvider) -> int:
    doc = json.loads(Path(keyring.uri.removeprefix("file://")).read_text())
    return int(doc["min_decryption_version"])


def test_retiring_under_a_blind_index_key_breaks_lookups(
    db_url: str, keyring: FileKeyProvider
) -> None:
    """The defect: the raw provider method retires blindly, and the index key is lost."""
    svc = EncryptionService(keyring)
    engine, _, _ = _setup(db_url, svc)
    keyring.rotate()
    keyring.retire_below(2)  # unguarded (documented); the guarded path is keyuse.retire
    with pytest.raises(KeyVersionRetired):
        BlindIndex.load_or_create(engine, "accounts", service=svc)
    engine.dispose()


def test_rewrap_then_retire_keeps_lookups_working(db_url: str, keyring: FileKeyProvider) -> None:
    svc = EncryptionService(keyring)
    engine, account, index = _setup(db_url, svc)
    assert _lookup(engine, account, index, " 10003 ") == ["n3"]
    keyring.rotate()

    scan = KeyUseScan(database_urls=(db_url,))
    uses = key_uses(scan)
    assert [(u.version, u.key_id) for u in uses] == [(1, keyring.key_id)]
    assert "blind-index key 'accounts' in tigerseal_blind_index_keys" in uses[0].what
    with pytest.raises(KeyVersionInUse, match=r"blind-index key 'accounts'.*version 1"):
        retire(keyring, 2, scan)
    assert keyring.min_decryption_version == 0

    assert rewrap_blind_index_keys(engine, service=svc) == (1, 0, 0)
    assert rewrap_blind_index_keys(db_url, service=svc) == (0, 1, 0)  # idempotent
    assert [u.version for u in blind_index_key_uses(db_url)] == [2]

    retire(keyring, 2, scan)
    assert keyring.min_decryption_version == 2
    # a fresh process: the root key unwraps under v2 and is the same key, so old digests match
    again = BlindIndex.load_or_create(engine, "accounts", service=svc, normalize=str.strip)
    assert again.digest("accounts", "tiger_id", "10001") == index.digest(
        "accounts", "tiger_id", "10001"
    )
    assert _lookup(engine, account, index, "10001") == ["n1"]
    engine.dispose()


def test_a_database_without_the_table_has_no_uses(db_url: str, keyring: FileKeyProvider) -> None:
    engine = create_engine(db_url)
    engine.connect().close()  # the database exists (SQLite: the file)
    engine.dispose()
    assert blind_index_key_uses(db_url) == []
    assert rewrap_blind_index_keys(db_url, service=EncryptionService(keyring)) == (0, 0, 0)


def test_a_corrupt_stored_key_fails_the_check_closed(db_url: str, keyring: FileKeyProvider) -> None:
    svc = EncryptionService(keyring)
    engine = create_engine(db_url)
    BlindIndex.load_or_create(engine, "accounts", service=svc)
    with engine.begin() as conn:
        conn.execute(text("UPDATE tigerseal_blind_index_keys SET envelope = 'garbage\x1b[2J'"))
    with pytest.raises(ConfigError, match="not a tigerseal envelope") as ei:
        key_uses(KeyUseScan(database_urls=(db_url,)))
    assert "\x1b" not in str(ei.value)
    engine.dispose()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No tigerseal variable, fresh settings and default services (the CLI builds its own)."""
    from tigerseal.envelope import reset_encryption_service

    reset_encryption_service()
    yield from isolate(monkeypatch, tmp_path)
    reset_encryption_service()


def test_cli_rewrap_blind_index_then_retire(
    db_url: str, keyring: FileKeyProvider, monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    from tigerseal.cli import cli
    from tigerseal.config import reset_settings

    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", keyring.uri)
    monkeypatch.setenv("TIGERSEAL_AUDIT_SINKS", "logging://")
    reset_settings()
    svc = EncryptionService(keyring)
    engine, _, index = _setup(db_url, svc)
    keyring.rotate()
    runner = CliRunner()

    result = runner.invoke(cli, ["retire", "--below", "2", "--database", db_url])
    assert result.exit_code == 1, result.output
    assert "blind-index key 'accounts'" in result.output
    assert "tigerseal sql rewrap-blind-index" in result.output
    assert _min_version(keyring) == 0

    result = runner.invoke(sql_cli, ["rewrap-blind-index", db_url])
    assert result.exit_code == 0, result.output
    assert "1 rewrapped, 0 already current, 0 wrapped by providers not" in result.output

    result = runner.invoke(cli, ["retire", "--below", "2", "--database", db_url])
    assert result.exit_code == 0, result.output
    assert _min_version(keyring) == 2
    fresh = FileKeyProvider(keyring.uri.removeprefix("file://"))
    again = BlindIndex.load_or_create(engine, "accounts", service=EncryptionService(fresh))
    assert again.digest("a", "b", "c") == index.digest("a", "b", "c")
    engine.dispose()


def test_encrypted_columns_named_in_the_scan_block_retire_until_rewrapped(
    db_url: str, keyring: FileKeyProvider
) -> None:
    from tigerseal_sql import rewrap_table

    svc = EncryptionService(keyring)
    engine, account, index = _setup(db_url, svc)
    keyring.rotate()
    rewrap_blind_index_keys(engine, service=svc)
    scan = KeyUseScan(database_urls=(db_url,), sql_columns=("accounts.tiger_id",))
    # the blind-index key alone is current now; the column's values are not
    with pytest.raises(KeyVersionInUse, match=r"5 value\(s\) of accounts\.tiger_id") as ei:
        retire(keyring, 2, scan)
    assert "tigerseal sql rewrap DATABASE_URL accounts -c tiger_id" in str(ei.value)
    assert keyring.min_decryption_version == 0

    rewrap_table(engine, account, service=svc, progress=False)
    retire(keyring, 2, scan)
    assert keyring.min_decryption_version == 2
    assert _lookup(engine, account, index, "10004") == ["n4"]
    with Session(engine) as s:
        assert sorted(a.tiger_id for a in s.scalars(select(account)))[0] == "10000"
    with pytest.raises(ConfigError, match="no table 'nope'"):
        key_uses(KeyUseScan(database_urls=(db_url,), sql_columns=("nope.x",)))
    engine.dispose()


@pytest.mark.integration
@pytest.mark.postgres
def test_a_bare_postgresql_url_uses_psycopg3(pg_url: str, keyring: FileKeyProvider) -> None:
    """The seed's DATABASE_URL=postgresql://... form: SQLAlchemy would pick psycopg2."""
    bare = pg_url.replace("postgresql+psycopg://", "postgresql://")
    svc = EncryptionService(keyring)
    engine = create_engine(pg_url)
    BlindIndex.load_or_create(engine, "accounts", service=svc)
    engine.dispose()
    assert [u.version for u in key_uses(KeyUseScan(database_urls=(bare,)))] == [1]
    assert rewrap_blind_index_keys(bare, service=svc) == (0, 1, 0)
    with pytest.raises(ConfigError, match="no SQLAlchemy dialect") as ei:
        blind_index_key_uses("nonsense://user:hunter2@")
    assert "hunter2" not in str(ei.value)
