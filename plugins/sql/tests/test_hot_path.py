"""The per-cell fast paths of the column types give exactly what the general rules give."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table
from tigerseal_sql import EncryptedString
from tigerseal_sql.types import pk_string, row_context


def reference_pk_string(values: Any) -> str:
    """The rule as specified (docs/plugins/sql.md), written the slow way."""

    def part(v: Any) -> str:
        return v.hex() if isinstance(v, bytes) else str(v)

    if isinstance(values, tuple | list):
        if len(values) == 1:
            return part(values[0])
        return json.dumps([part(v) for v in values], separators=(",", ":"))
    return part(values)


scalars = st.one_of(
    st.integers(),
    st.text(max_size=20),
    st.binary(max_size=16),
    st.uuids(),
    st.booleans(),
    st.datetimes(),
)


@given(st.one_of(scalars, st.tuples(scalars), st.lists(scalars, min_size=1, max_size=3)))
def test_pk_string_matches_the_rule(pk: Any) -> None:
    assert pk_string(pk) == reference_pk_string(pk)


def test_pk_string_of_subclasses_and_special_values() -> None:
    class Key(int):
        pass

    assert pk_string(Key(5)) == "5"
    assert pk_string((uuid.UUID(int=1),)) == str(uuid.UUID(int=1))
    assert pk_string(dt.date(2026, 1, 2)) == "2026-01-02"
    assert pk_string(("a", 1)) == '["a","1"]'


@given(
    st.dictionaries(st.sampled_from(["tenant", "app", "x"]), st.text(max_size=5), max_size=2),
    st.lists(st.sampled_from(["accounts", "users"]), min_size=1, max_size=4),
    st.integers(),
)
def test_cell_context_is_row_context(static: dict[str, str], tables: list[str], pk: int) -> None:
    shared = EncryptedString(context=static)  # one type instance on several columns
    for n, table in enumerate(tables):
        column = f"c{n % 2}"
        got = shared.cell_context(table, column, pk)
        assert got == row_context(table, column, pk, static)
        got["pk"] = "tampered"  # a caller changing its copy changes nothing shared
        got["table"] = "tampered"
        assert shared.cell_context(table, column, pk) == row_context(table, column, pk, static)


def test_cell_context_on_a_copied_type() -> None:
    t = Table("t", MetaData(), Column("id", Integer, primary_key=True),
              Column("v", EncryptedString(context={"app": "a"})))  # fmt: skip
    copied = t.c.v.type.copy()
    assert copied.cell_context("t", "v", 3) == {"app": "a", "table": "t", "column": "v", "pk": "3"}
