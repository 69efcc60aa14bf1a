"""APIKeyRecord.from_dict (and the constructor) check every field's type (issue 12, item 19)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tigerseal import APIKeyRecord
from tigerseal.errors import InsufficientScopeError, TokenError


def _row(**changes: Any) -> dict[str, Any]:
    _key, record = APIKeyRecord.create("tk", scopes=["read"], expires_in=60, name="bot")
    row = record.to_dict()
    row.update(changes)
    return row


def test_a_string_of_scopes_is_refused_not_split_into_letters() -> None:
    with pytest.raises(TokenError, match=r"scopes must be a list of strings.*got a string"):
        APIKeyRecord.from_dict(_row(scopes="admin"))


def test_with_scopes_and_create_refuse_a_bare_string() -> None:
    _key, record = APIKeyRecord.create("tk")
    with pytest.raises(TokenError, match="scopes"):
        record.with_scopes("admin")
    with pytest.raises(TokenError, match="scopes"):
        APIKeyRecord.create("tk", scopes="admin")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("key_id", 42, "key_id must be a non-empty string"),
        ("key_id", "", "key_id must be a non-empty string"),
        ("key_hash", None, "key_hash must be"),
        ("key_hash", "not-a-hash", "key_hash must be"),
        ("prefix", 7, "prefix must be"),
        ("prefix", "TK!", "prefix must be"),
        ("scopes", ["read", 3], r"scopes\[1\] must be a string"),
        ("scopes", {"read": True}, "scopes must be a list of strings"),
        ("scopes", None, "scopes must be a list of strings"),
        ("name", ["bot"], "name must be a string"),
        ("created_at", "yesterday", "created_at must be a number"),
        ("created_at", True, "created_at must be a number"),
        ("created_at", math.nan, "created_at must be a finite number"),
        ("expires_at", "2030-01-01", "expires_at must be a number or null"),
        ("expires_at", math.inf, "expires_at must be a finite number"),
        ("display", 1, "display must be a string"),
        ("metadata", [("owner", "u1")], "metadata must be a mapping"),
        ("metadata", {1: "x"}, "metadata keys must be strings"),
    ],
)
def test_every_field_is_checked(field: str, value: Any, message: str) -> None:
    with pytest.raises(TokenError, match=message):
        APIKeyRecord.from_dict(_row(**{field: value}))


def test_missing_required_fields_and_non_mappings() -> None:
    row = _row()
    del row["key_hash"]
    with pytest.raises(TokenError, match="missing key_hash"):
        APIKeyRecord.from_dict(row)
    with pytest.raises(TokenError, match="must be a mapping"):
        APIKeyRecord.from_dict(["key_id", "key_hash"])  # type: ignore[arg-type]


def test_errors_never_show_the_stored_hash() -> None:
    row = _row(scopes="admin")
    with pytest.raises(TokenError) as info:
        APIKeyRecord.from_dict(row)
    assert row["key_hash"] not in str(info.value)


def test_integers_and_tuples_are_accepted_and_round_trip() -> None:
    row = _row(created_at=1000, expires_at=2000, scopes=("read", "write"))
    record = APIKeyRecord.from_dict(row)
    assert record.created_at == 1000.0
    assert record.expires_at == 2000.0
    assert record.scopes == ("read", "write")
    assert APIKeyRecord.from_dict(record.to_dict()) == record


@given(st.lists(st.text(min_size=1, max_size=20), max_size=5))
def test_scopes_round_trip(scopes: list[str]) -> None:
    record = APIKeyRecord.from_dict(_row(scopes=scopes))
    assert record.scopes == tuple(scopes)
    assert APIKeyRecord.from_dict(record.to_dict()) == record


@pytest.mark.parametrize("field", ["created_at", "expires_at"])
def test_an_integer_too_large_for_a_float_is_a_token_error(field: str) -> None:
    # json.loads("1" + "0" * 400) is an int that float() cannot hold (OverflowError before).
    with pytest.raises(TokenError, match=f"{field} must be a finite number"):
        APIKeyRecord.from_dict(_row(**{field: 10**400}))


def test_check_takes_a_bare_string_as_one_required_scope() -> None:
    # As validate_token_scopes does: "admin" is one scope, not the letters a, d, m, i, n.
    key, record = APIKeyRecord.create("tk", scopes=["admin"])
    assert record.check(key, required_scopes="admin") is record
    letters = record.with_scopes(list("admin"))
    with pytest.raises(InsufficientScopeError, match="admin"):
        letters.check(key, required_scopes="admin")
    with pytest.raises(InsufficientScopeError):
        record.check(key, required_scopes="")


def test_decimal_seconds_from_a_numeric_column_are_accepted() -> None:
    # psycopg and SQLAlchemy return NUMERIC columns as Decimal; float() took them before.
    record = APIKeyRecord.from_dict(
        _row(created_at=Decimal("1700000000.25"), expires_at=Decimal("1800000000"))
    )
    assert record.created_at == 1700000000.25
    assert record.expires_at == 1800000000.0
    for bad in (Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("1e400")):
        with pytest.raises(TokenError, match="expires_at must be a finite number"):
            APIKeyRecord.from_dict(_row(expires_at=bad))


def test_create_with_an_expiry_too_large_for_a_float_is_a_token_error() -> None:
    # `tigerseal apikey create --expires-in 1000...0` ended in an OverflowError traceback.
    with pytest.raises(TokenError, match="expires_in"):
        APIKeyRecord.create("tk", expires_in=10**400)
