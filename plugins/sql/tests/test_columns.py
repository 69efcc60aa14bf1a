"""Encrypted columns bound to table, column and primary key; blind-index lookup.

Each test runs on SQLite and on a real PostgreSQL cluster (``db_url``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import ForeignKey, Integer, String, create_engine, insert, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from tigerseal.envelope import EncryptedData, EncryptionService
from tigerseal.errors import ConfigError, ContextMismatchError, DecryptionError, EncryptionError
from tigerseal_sql import (
    BlindIndex,
    EncryptedBytes,
    EncryptedJSON,
    EncryptedString,
    decrypt_value,
    seal,
)

from .conftest import Keys


@dataclass
class Models:
    engine: Engine
    svc: EncryptionService
    index: BlindIndex
    Base: Any
    TigerAccount: Any
    Note: Any
    Credential: Any
    Pair: Any


@pytest.fixture
def models(db_url: str, keys: Keys) -> Iterator[Models]:
    engine = create_engine(db_url)
    svc = keys.service()
    index = BlindIndex.load_or_create(engine, "tiger_accounts", service=svc, normalize=str.strip)

    class Base(DeclarativeBase):
        pass

    class TigerAccount(Base):
        """The seed's model: broker credentials bound to their row."""

        __tablename__ = "tiger_accounts"
        id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
        account_name: Mapped[str] = mapped_column(String(100))
        account_number: Mapped[str] = mapped_column(String(50))
        tiger_id: Mapped[str] = mapped_column(EncryptedString(service=svc))
        tiger_id_bidx: Mapped[bytes | None] = index.column("tiger_id")
        private_key: Mapped[str] = mapped_column(EncryptedString(service=svc, storage="text"))
        access_token: Mapped[str | None] = mapped_column(EncryptedString(service=svc))

    class Note(Base):
        """Database-assigned integer key: two-phase insert."""

        __tablename__ = "notes"
        id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
        body: Mapped[str] = mapped_column(EncryptedString(service=svc))
        meta: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON(service=svc))

    class Credential(Base):
        """Same column name as TigerAccount.private_key, another table."""

        __tablename__ = "credentials"
        id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
        account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tiger_accounts.id"))
        private_key: Mapped[str] = mapped_column(
            EncryptedString(service=svc, storage="text", context={"app": "tiger"})
        )
        blob: Mapped[bytes | None] = mapped_column(EncryptedBytes(service=svc))

    class Pair(Base):
        """Composite, application-assigned primary key."""

        __tablename__ = "pairs"
        tenant: Mapped[str] = mapped_column(String(20), primary_key=True)
        seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
        secret: Mapped[str] = mapped_column(EncryptedString(service=svc))

    Base.metadata.create_all(engine)
    yield Models(engine, svc, index, Base, TigerAccount, Note, Credential, Pair)
    engine.dispose()


def new_account(m: Models, n: int = 1, **kw: Any) -> Any:
    fields = {
        "account_name": f"acct {n}",
        "account_number": f"U{n:05d}",
        "tiger_id": f"tiger-{n}",
        "private_key": f"-----BEGIN PRIVATE KEY-----\nkey{n}\n",
    }
    fields.update(kw)
    return m.TigerAccount(**fields)


def raw(m: Models, sql: str, **params: Any) -> Any:
    with m.engine.begin() as conn:
        return conn.execute(text(sql), params).all()


# -- round trips ------------------------------------------------------------------------------
def test_round_trip_and_ciphertext_at_rest(models: Models) -> None:
    m = models
    with Session(m.engine) as s:
        acct = new_account(m, access_token="tok")
        s.add(acct)
        s.commit()
        assert acct.tiger_id == "tiger-1"  # reloaded after commit: decrypted again
        acct_id = acct.id
    with Session(m.engine) as s:
        got = s.get(m.TigerAccount, acct_id)
        assert (got.tiger_id, got.private_key, got.access_token) == (
            "tiger-1",
            "-----BEGIN PRIVATE KEY-----\nkey1\n",
            "tok",
        )
    with m.engine.connect() as conn:
        t = m.TigerAccount.__table__
        row = conn.execute(
            select(t.c.tiger_id.cast(m.Base.metadata.tables["tiger_accounts"].c.tiger_id_bidx.type),
                   text("private_key")).select_from(t)
        ).one()  # fmt: skip
    stored_bin, stored_text = bytes(row[0]), row[1]
    assert b"tiger-1" not in stored_bin
    assert stored_text.startswith("ts1.")
    assert "key1" not in stored_text
    ed = EncryptedData.parse(stored_bin)
    assert ed.context == {"table": "tiger_accounts", "column": "tiger_id", "pk": str(acct_id)}


def test_null_values_stay_null(models: Models) -> None:
    m = models
    with Session(m.engine) as s:
        s.add(new_account(m, access_token=None))
        s.commit()
    assert raw(m, "SELECT access_token FROM tiger_accounts") == [(None,)]


def test_database_assigned_keys_use_a_two_phase_insert(models: Models) -> None:
    m = models
    with Session(m.engine) as s:
        notes = [m.Note(body=f"note {i}", meta={"i": i, "tags": ["a"]}) for i in range(5)]
        s.add_all(notes)
        s.commit()
        ids = [n.id for n in notes]
    with Session(m.engine) as s:
        loaded = {n.id: (n.body, n.meta) for n in s.scalars(select(m.Note))}
    assert loaded == {i: (f"note {k}", {"i": k, "tags": ["a"]}) for k, i in enumerate(ids)}
    # no placeholder survived
    assert all(len(bytes(r[0])) > 40 for r in raw(m, "SELECT body FROM notes"))


def test_composite_keys_and_bytes_and_json(models: Models) -> None:
    m = models
    with Session(m.engine) as s:
        s.add(m.Pair(tenant="t1", seq=1, secret="a"))
        s.add(m.Pair(tenant="t1", seq=2, secret="b"))
        s.add(m.Credential(private_key="pk", blob=b"\x00\xffbinary"))
        s.commit()
    with Session(m.engine) as s:
        assert s.get(m.Pair, ("t1", 2)).secret == "b"
        cred = s.scalars(select(m.Credential)).one()
        assert cred.blob == b"\x00\xffbinary"
        assert cred.private_key == "pk"


# -- binding to the cell ----------------------------------------------------------------------
def test_value_copied_to_another_row_fails_to_decrypt(models: Models) -> None:
    m = models
    with Session(m.engine) as s:
        a, b = new_account(m, 1), new_account(m, 2)
        s.add_all([a, b])
        s.commit()
        a_id, b_id = a.id, b.id
    t = m.TigerAccount.__table__
    with m.engine.begin() as conn:  # an attacker with write access to the table swaps a value
        stolen = conn.execute(select(t.c.tiger_id).where(t.c.id == a_id)).scalar_one()
        conn.execute(update(t).where(t.c.id == b_id).values(tiger_id=stolen))
    with Session(m.engine) as s, pytest.raises(ContextMismatchError):
        s.get(m.TigerAccount, b_id)
    with Session(m.engine) as s:  # the original row still decrypts
        assert s.get(m.TigerAccount, a_id).tiger_id == "tiger-1"


def test_value_copied_to_another_column_or_table_fails(models: Models) -> None:
    m = models
    with Session(m.engine) as s:
        acct = new_account(m)
        s.add(acct)
        s.flush()
        cred = m.Credential(private_key="other", account_id=acct.id)
        s.add(cred)
        s.commit()
        acct_id, cred_id = acct.id, cred.id
    raw_key = raw(m, "SELECT private_key FROM tiger_accounts")[0][0]
    raw_tid = raw(m, "SELECT tiger_id FROM tiger_accounts")[0][0]
    # same row, other column (tiger_id's ciphertext into access_token)
    t = m.TigerAccount.__table__
    with m.engine.begin() as conn:
        conn.execute(update(t).values(access_token=EncryptedData.parse(raw_tid)))
    with Session(m.engine) as s, pytest.raises(ContextMismatchError):
        s.get(m.TigerAccount, acct_id)
    # same column name, other table
    c = m.Credential.__table__
    with m.engine.begin() as conn:
        conn.execute(
            update(c).where(c.c.id == cred_id).values(private_key=EncryptedData.parse(raw_key))
        )
    with Session(m.engine) as s, pytest.raises(DecryptionError):
        s.get(m.Credential, cred_id)


def test_tampered_ciphertext_fails(models: Models) -> None:
    m = models
    with Session(m.engine) as s:
        acct = new_account(m)
        s.add(acct)
        s.commit()
        acct_id = acct.id
    stored = raw(m, "SELECT private_key FROM tiger_accounts")[0][0]
    flipped = stored[:-3] + ("A" if stored[-3] != "A" else "B") + stored[-2:]
    t = m.TigerAccount.__table__
    with m.engine.begin() as conn:
        conn.execute(update(t).values(private_key=EncryptedData.parse(flipped)))
    with Session(m.engine) as s, pytest.raises(DecryptionError):
        s.get(m.TigerAccount, acct_id)


def test_updates_reencrypt_changed_values_and_primary_key_changes(models: Models) -> None:
    m = models
    with Session(m.engine) as s:
        s.add(m.Pair(tenant="t", seq=1, secret="first"))
        s.commit()
        before = raw(m, "SELECT secret FROM pairs")[0][0]
        pair = s.get(m.Pair, ("t", 1))
        pair.secret = "second"
        s.commit()
        after = raw(m, "SELECT secret FROM pairs")[0][0]
        assert bytes(before) != bytes(after)
        assert pair.secret == "second"
        pair.seq = 7  # the key changes: the value is re-bound to the new key
        s.commit()
    with Session(m.engine) as s:
        assert s.get(m.Pair, ("t", 7)).secret == "second"
    assert (
        EncryptedData.parse(raw(m, "SELECT secret FROM pairs")[0][0]).context["pk"] == '["t","7"]'
    )


def test_unchanged_values_are_not_rewritten(models: Models) -> None:
    m = models
    with Session(m.engine) as s:
        acct = new_account(m)
        s.add(acct)
        s.commit()
        before = raw(m, "SELECT tiger_id, private_key FROM tiger_accounts")
        acct.account_name = "renamed"
        s.commit()
    assert raw(m, "SELECT tiger_id, private_key FROM tiger_accounts") == before


def test_core_statements_need_sealed_values(models: Models) -> None:
    m = models
    t = m.Pair.__table__
    with m.engine.begin() as conn, pytest.raises(EncryptionError, match="seal"):
        conn.execute(insert(t).values(tenant="x", seq=1, secret="bare plaintext"))
    with m.engine.begin() as conn:
        conn.execute(
            insert(t).values(tenant="x", seq=1, secret=seal(m.Pair.secret, "sealed", pk=("x", 1)))
        )
        stored = conn.execute(select(t.c.secret)).scalar_one()
    assert isinstance(stored, EncryptedData)
    assert decrypt_value(t.c.secret, stored, pk=("x", 1)) == "sealed"
    with pytest.raises(ContextMismatchError):
        decrypt_value(t.c.secret, stored, pk=("x", 2))
    with Session(m.engine) as s:
        assert s.get(m.Pair, ("x", 1)).secret == "sealed"
    # equality on ciphertext is meaningless: refused with a pointer to the blind index
    with Session(m.engine) as s, pytest.raises(EncryptionError, match="blind index"):
        s.scalars(select(m.Pair).where(m.Pair.secret == "sealed")).all()


def test_failed_flush_leaves_plaintext_in_attributes(models: Models) -> None:
    m = models
    with Session(m.engine) as s:
        s.add(m.Pair(tenant="t", seq=1, secret="one"))
        s.commit()
    with Session(m.engine) as s:
        dup = m.Pair(tenant="t", seq=1, secret="duplicate")
        s.add(dup)
        with pytest.raises(IntegrityError):
            s.commit()
        s.rollback()
        assert dup.secret == "duplicate"


def test_wrong_types_are_refused(models: Models) -> None:
    m = models
    with Session(m.engine) as s:
        s.add(m.Pair(tenant="t", seq=1, secret=b"bytes"))
        with pytest.raises(EncryptionError, match="str"):
            s.commit()
    with pytest.raises(ConfigError, match="context keys"):
        EncryptedString(context={"pk": "x"})
    with pytest.raises(ConfigError, match="storage"):
        EncryptedString(storage="hex")  # type: ignore[arg-type]


# -- blind index ------------------------------------------------------------------------------
def test_blind_index_finds_rows_without_decrypting(models: Models) -> None:
    m = models
    with Session(m.engine) as s:
        s.add_all([new_account(m, i, tiger_id=f"{10000 + i}") for i in range(50)])
        s.commit()
    before = m.svc.metrics["unwrap"]
    with Session(m.engine) as s:
        stmt = select(m.TigerAccount.id).where(m.index.match(m.TigerAccount.tiger_id, " 10042 "))
        ids = s.scalars(stmt).all()
        assert len(ids) == 1
        assert m.svc.metrics["unwrap"] == before  # the lookup itself decrypted nothing
        assert s.get(m.TigerAccount, ids[0]).account_number == "U00042"
        assert (
            s.scalars(
                select(m.TigerAccount).where(m.index.match(m.TigerAccount.tiger_id, "nope"))
            ).all()
            == []
        )


def test_blind_index_follows_updates(models: Models) -> None:
    m = models
    with Session(m.engine) as s:
        acct = new_account(m, tiger_id="old")
        s.add(acct)
        s.commit()
        acct.tiger_id = "new"
        s.commit()
        assert (
            s.scalars(
                select(m.TigerAccount).where(m.index.match(m.TigerAccount.tiger_id, "old"))
            ).all()
            == []
        )
        assert (
            s.scalars(
                select(m.TigerAccount).where(m.index.match(m.TigerAccount.tiger_id, "new"))
            ).one()
            is acct
        )


def test_blind_index_key_is_shared_and_bound_to_column(models: Models, keys: Keys) -> None:
    m = models
    again = BlindIndex.load_or_create(m.engine, "tiger_accounts", service=keys.service())
    assert again.digest("t", "c", "v") == m.index.digest("t", "c", "v")
    assert m.index.digest("t", "c", "v") != m.index.digest("t", "other", "v")
    assert len(m.index.digest("t", "c", "v")) == 16
    other = BlindIndex.load_or_create(m.engine, "another", service=keys.service())
    assert other.digest("t", "c", "v") != m.index.digest("t", "c", "v")
    # the stored root key is an envelope, useless without the key provider
    stored = raw(m, "SELECT envelope FROM tigerseal_blind_index_keys WHERE name = 'tiger_accounts'")
    assert stored[0][0].startswith("ts1.")
    with pytest.raises(DecryptionError):
        BlindIndex.from_envelope(Keys().service(), stored[0][0], name="tiger_accounts")
    with pytest.raises(ConfigError):
        BlindIndex(b"short")
    with pytest.raises(ConfigError):
        BlindIndex(bytes(32), bits=12)
    assert "root" not in repr(m.index)


def test_match_without_an_index_column_is_a_config_error(models: Models) -> None:
    with pytest.raises(ConfigError, match="no blind-index column"):
        models.index.match(models.TigerAccount.private_key, "x")
