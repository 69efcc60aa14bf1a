"""RFC 6750 Authorization parsing and WWW-Authenticate building."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tigerseal.errors import ConfigError, TokenInvalidError
from tigerseal.web import bearer_challenge, bearer_token, quoted_string


def test_challenge_without_credentials_has_no_error_code() -> None:
    assert bearer_challenge(realm="api") == 'Bearer realm="api"'
    assert bearer_challenge() == "Bearer"


def test_invalid_token_challenge() -> None:
    assert bearer_challenge(realm="api", error="invalid_token") == (
        'Bearer realm="api", error="invalid_token"'
    )


def test_insufficient_scope_challenge_lists_the_scopes() -> None:
    assert bearer_challenge(realm="api", error="insufficient_scope", scope=["read", "admin"]) == (
        'Bearer realm="api", error="insufficient_scope", scope="read admin"'
    )
    assert bearer_challenge(scope="a b") == 'Bearer scope="a b"'


def test_realm_is_escaped_and_cannot_break_the_field() -> None:
    assert bearer_challenge(realm='a "b" \\c') == 'Bearer realm="a \\"b\\" \\\\c"'
    for bad in ("a\r\nSet-Cookie: x=1", "caf\u00e9", "\x00"):
        with pytest.raises(ConfigError, match="printable ASCII"):
            bearer_challenge(realm=bad)


def test_error_description_forbidden_characters_are_replaced() -> None:
    value = bearer_challenge(error="invalid_token", error_description='bad "x" \\ y\r\nz\u00e9')
    assert value == 'Bearer error="invalid_token", error_description="bad \'x\' / y??z?"'


def test_scope_and_codes_are_validated() -> None:
    with pytest.raises(ConfigError, match="scope"):
        bearer_challenge(scope=['a"b'])
    with pytest.raises(ConfigError, match="token"):
        bearer_challenge(error="bad code")
    with pytest.raises(ConfigError, match="auth-scheme"):
        bearer_challenge(scheme="Bear er")
    assert bearer_challenge(scheme="ApiKey", realm="api") == 'ApiKey realm="api"'


@given(st.text(max_size=40))
def test_no_description_can_inject_a_line(text: str) -> None:
    value = bearer_challenge(error="invalid_token", error_description=text)
    assert all(0x20 <= ord(ch) <= 0x7E for ch in value)
    inner = value.split('error_description="', 1)[1][:-1]
    assert '"' not in inner
    assert "\\" not in inner


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40))
def test_quoted_string_round_trips(text: str) -> None:
    quoted = quoted_string(text)
    body = quoted[1:-1]
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\":
            i += 1
        out.append(body[i])
        i += 1
    assert "".join(out) == text


def test_bearer_token_parsing() -> None:
    assert bearer_token(None) is None
    assert bearer_token("") is None
    assert bearer_token("Basic dXNlcjpwYXNz") is None
    assert bearer_token("Bearer abc.def-ghi_~+/==") == "abc.def-ghi_~+/=="
    assert bearer_token("bearer   abc") == "abc"
    for bad in ("Bearer", "Bearer ", "Bearer a b", "Bearer a=b", "Bearer é"):
        with pytest.raises(TokenInvalidError, match="well-formed bearer token"):
            bearer_token(bad)
