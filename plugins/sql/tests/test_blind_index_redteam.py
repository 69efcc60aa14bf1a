"""Attacks on the blind-index rotation path: missing databases, concurrent writers, resumes."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from tigerseal.envelope import EncryptionService
from tigerseal.errors import ConfigError
from tigerseal.keyuse import KeyUseScan, key_uses, retire
from tigerseal.providers.file import FileKeyProvider, create_keyring
from tigerseal_sql import BlindIndex, EncryptedString
from tigerseal_sql.blind_index import blind_index_key_uses, rewrap_blind_index_keys


@pytest.fixture
def keyring(tmp_path: Path) -> FileKeyProvider:
    return create_keyring(tmp_path / "keyring.json")


def test_a_sqlite_database_that_does_not_exist_refuses_the_retire(
    tmp_path: Path, keyring: FileKeyProvider
) -> None:
    """A mistyped SQLite path must not be created empty and read as "no blind-index keys"."""
    keyring.rotate()
    missing = tmp_path / "typo.db"
    url = f"sqlite:///{missing}"
    with pytest.raises(ConfigError, match="does not exist"):
        key_uses(KeyUseScan(database_urls=(url,)))
    with pytest.raises(ConfigError, match="does not exist"):
        retire(keyring, 2, KeyUseScan(database_urls=(url,)))
    with pytest.raises(ConfigError, match="does not exist"):
        rewrap_blind_index_keys(url, service=EncryptionService(keyring))
    assert not missing.exists()
    assert keyring.min_decryption_version == 0


def test_rows_inserted_during_a_rewrap_still_match(db_url: str, keyring: FileKeyProvider) -> None:
    svc = EncryptionService(keyring)
    engine = create_engine(db_url)
    names = [f"idx{i}" for i in range(8)]
    indexes = {n: BlindIndex.load_or_create(engine, n, service=svc) for n in names}

    class Base(DeclarativeBase):
        pass

    class Row(Base):
        __tablename__ = f"rt_rows_{uuid.uuid4().hex[:8]}"
        id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
        value: Mapped[str] = mapped_column(EncryptedString(service=svc))
        value_bidx: Mapped[bytes | None] = indexes["idx0"].column("value")

    Base.metadata.create_all(engine)
    keyring.rotate()
    stop = threading.Event()
    inserted: list[str] = []

    def writer() -> None:
        i = 0
        while not stop.is_set() or i < 5:
            with Session(engine) as s:
                s.add(Row(value=f"v{i}"))
                s.commit()
            inserted.append(f"v{i}")
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        count = rewrap_blind_index_keys(engine, service=svc)
    finally:
        stop.set()
        t.join()
    assert count.rewrapped == len(names)
    # A fresh process loads the rewrapped root key: every row written meanwhile matches.
    fresh = BlindIndex.load_or_create(engine, "idx0", service=EncryptionService(keyring))
    with Session(engine) as s:
        for v in inserted:
            digest = fresh.digest(Row.__tablename__, "value", v)
            assert s.scalars(select(Row.id).where(Row.value_bidx == digest)).all(), v
    retire(keyring, 2, KeyUseScan(database_urls=(db_url,)))
    engine.dispose()


def test_a_rewrap_killed_midway_resumes(db_url: str, keyring: FileKeyProvider) -> None:
    svc = EncryptionService(keyring)
    engine = create_engine(db_url)
    for i in range(4):
        BlindIndex.load_or_create(engine, f"k{i}", service=svc)
    keyring.rotate()
    real = svc.rewrap
    calls = 0

    def dying(value: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt  # the operator's ^C, mid-way
        return real(value)  # type: ignore[arg-type]

    svc.rewrap = dying  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        rewrap_blind_index_keys(engine, service=svc)
    svc.rewrap = real  # type: ignore[method-assign]
    assert sorted(u.version for u in blind_index_key_uses(engine)) == [1, 1, 2, 2]
    assert rewrap_blind_index_keys(engine, service=svc) == (2, 2, 0)
    assert {u.version for u in blind_index_key_uses(engine)} == {2}
    engine.dispose()
