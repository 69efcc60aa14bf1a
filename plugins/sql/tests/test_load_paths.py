"""Loaded rows decrypt through every ORM load path with the row's own binding (issue 15.7).

The load and refresh listeners are bound per mapper: subclasses (single-table and joined
inheritance, loaded through a base-class query), refresh and expiry must each decrypt with the
right row key, and a ciphertext moved to another row must still fail.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from sqlalchemy import ForeignKey, Integer, String, create_engine, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from tigerseal.errors import ContextMismatchError
from tigerseal_sql import EncryptedString

from .conftest import Keys


def _models(svc: Any) -> tuple[Any, Any, Any, Any]:
    class Base(DeclarativeBase):
        pass

    class Party(Base):
        __tablename__ = "parties"
        id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
        kind: Mapped[str] = mapped_column(String(20))
        secret: Mapped[str] = mapped_column(EncryptedString(service=svc))
        __mapper_args__: ClassVar[dict[str, Any]] = {
            "polymorphic_on": "kind",
            "polymorphic_identity": "party",
        }

    class Person(Party):  # single-table
        __mapper_args__: ClassVar[dict[str, Any]] = {"polymorphic_identity": "person"}

    class Company(Party):  # joined, with its own encrypted column
        __tablename__ = "companies"
        id: Mapped[int] = mapped_column(ForeignKey("parties.id"), primary_key=True)
        tax_id: Mapped[str] = mapped_column(EncryptedString(service=svc, context={"app": "t"}))
        __mapper_args__: ClassVar[dict[str, Any]] = {"polymorphic_identity": "company"}

    return Base, Party, Person, Company


def test_inheritance_refresh_and_moved_ciphertexts(db_url: str, keys: Keys) -> None:
    engine = create_engine(db_url)
    Base, Party, Person, Company = _models(keys.service())
    Base.metadata.create_all(engine)
    try:
        with Session(engine) as s:
            s.add_all(
                [
                    Party(id=1, secret="p1"),
                    Person(id=2, secret="p2"),
                    Company(id=3, secret="p3", tax_id="t3"),
                ]
            )
            s.commit()
        with Session(engine) as s:
            rows = {r.id: r for r in s.scalars(select(Party))}  # polymorphic load via the base
            assert [type(rows[i]).__name__ for i in (1, 2, 3)] == ["Party", "Person", "Company"]
            assert [rows[i].secret for i in (1, 2, 3)] == ["p1", "p2", "p3"]
            assert rows[3].tax_id == "t3"
            s.expire(rows[3])  # reload on access: the refresh path
            assert rows[3].tax_id == "t3"
            assert rows[3].secret == "p3"
            s.refresh(rows[2], ["secret"])
            assert rows[2].secret == "p2"
        with engine.begin() as conn:  # move row 3's ciphertexts into row 2 and row 1
            conn.execute(
                text("UPDATE parties SET secret = (SELECT secret FROM parties WHERE id = 3)")
            )
        with Session(engine) as s, pytest.raises(ContextMismatchError):
            s.get(Person, 2)
        with Session(engine) as s:
            assert s.get(Company, 3).secret == "p3"  # type: ignore[union-attr]
    finally:
        Base.metadata.drop_all(engine)
        engine.dispose()
