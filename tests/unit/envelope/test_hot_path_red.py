"""Red-team checks of the envelope hot path's speed-ups (issue 15.1): same answers as before.

The reference encoder below is the context encoder as it was before the fast path (09b342b);
``parse_header`` memoises key-section names, which must not change what it accepts.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tigerseal.envelope import EncryptionService
from tigerseal.envelope._format import MAX_CONTEXT_PAIRS, encode_context, parse_header
from tigerseal.errors import DecryptionError, EncryptionError
from tigerseal.testing.fake import FakeKeyProvider


def _reference(context: Mapping[Any, Any] | None) -> bytes:
    """The canonical encoder before the fast path, kept verbatim in behaviour."""
    if not context:
        return b"\x00\x00"
    items: list[tuple[bytes, bytes]] = []
    try:
        for key, value in context.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise EncryptionError("not str")
            if not key:
                raise EncryptionError("empty key")
            items.append((key.encode(), value.encode()))
    except UnicodeEncodeError:
        items = []
    if len(items) != len(context):
        raise EncryptionError("lone surrogate")
    if len(items) > MAX_CONTEXT_PAIRS:
        raise EncryptionError("too many pairs")
    items.sort()
    out = bytearray(len(items).to_bytes(2, "big"))
    for k, v in items:
        if len(k) > 0xFFFF or len(v) > 0xFFFF:
            raise EncryptionError("too large")
        out += len(k).to_bytes(2, "big") + k + len(v).to_bytes(2, "big") + v
    return bytes(out)


def _outcome(fn: Any, context: Any) -> bytes | type[BaseException]:
    try:
        out: bytes = fn(context)
    except Exception as exc:  # the type is the comparison
        return type(exc)
    return out


_KEYS = st.one_of(
    st.text(),  # unicode, empty, lone surrogates
    st.integers(),
    st.none(),
    st.binary(max_size=4),
    st.sampled_from([decimal.Decimal("NaN"), decimal.Decimal(1)]),  # ordering NaN raises
)
_VALUES = st.one_of(st.text(), st.integers(), st.none(), st.binary(max_size=4))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_context_encoder_matches_the_reference_for_any_mapping(context: dict[Any, Any]) -> None:
    """Any dict: the same bytes as the reference encoder, or an EncryptionError where it refused."""
    assert _outcome(encode_context, context) == _outcome(_reference, context)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1), st.text(), max_size=8))
def test_context_encoder_matches_the_reference_for_text(context: dict[str, str]) -> None:
    assert _outcome(encode_context, context) == _outcome(_reference, context)


def test_unorderable_keys_are_refused_as_non_str() -> None:
    """A key type whose ordering raises (decimal NaN) is refused like any non-str key."""
    with pytest.raises(EncryptionError, match="must be str"):
        encode_context({decimal.Decimal("NaN"): "a", decimal.Decimal(1): "b"})


@pytest.mark.parametrize("form", [bytes, bytearray, memoryview])
def test_parse_header_accepts_every_bytes_like_form(form: Any) -> None:
    """bytearray parsed before the key-section name memo; it must not raise TypeError now."""
    svc = EncryptionService(FakeKeyProvider("red-parse"))
    raw = svc.encrypt(b"x", {"a": "b"}).to_bytes()
    header = parse_header(form(raw))
    assert header.context == {"a": "b"}
    assert header.wrapped_keys == parse_header(raw).wrapped_keys


def test_parse_header_memo_keeps_decoding_strict() -> None:
    """A name that failed to decode is refused every time (no entry is made for it)."""
    svc = EncryptionService(FakeKeyProvider("red-strict"))
    raw = bytearray(svc.encrypt(b"x").to_bytes())
    header = parse_header(bytes(raw))
    start = header.aad.__len__() + 1  # the first key-section entry: u8 name length, name
    raw[start + 1] = 0xFF  # not ASCII
    for _ in range(2):
        with pytest.raises(DecryptionError, match="not valid text"):
            parse_header(bytes(raw))
