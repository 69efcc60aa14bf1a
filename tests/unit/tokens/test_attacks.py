"""The classic JWT attacks fail, each with a TokenError subclass."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st
from tigerseal.errors import (
    TokenError,
    TokenExpiredError,
    TokenInvalidError,
    TokenReuseError,
    TokenRevokedError,
)
from tigerseal.tokens import JWTKey, KeySet, TokenManager

from tests.unit.tokens.helpers import NOW, b64, b64d, forge, manager


def claims(**extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "sub": "mallory",
        "iat": int(NOW),
        "exp": int(NOW) + 600,
        "jti": "x",
        "iss": "tigerseal-test",
        "token_type": "access",
    }
    body.update(extra)
    return body


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_alg_none_is_refused(alg: str) -> None:
    m = manager()
    kid = m.keys.current.kid
    for header in ({"alg": alg, "kid": kid}, {"alg": alg}):
        with pytest.raises(TokenInvalidError):
            m.verify(forge(header, claims()))
        with pytest.raises(TokenInvalidError):
            m.verify(forge(header, claims(), b"sig"))


def test_hs256_signed_with_the_rsa_public_key_is_refused() -> None:
    m = manager("RS256")
    key = m.keys.current
    public_pem = key._verify_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for header in ({"alg": "HS256", "kid": key.kid, "typ": "JWT"}, {"alg": "HS256"}):
        unsigned = forge(header, claims()).rsplit(".", 1)[0]
        mac = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()
        with pytest.raises(TokenInvalidError):
            m.verify(f"{unsigned}.{b64(mac)}")


def test_algorithm_swap_between_two_asymmetric_keys_is_refused() -> None:
    es = JWTKey.generate("ES256")
    ed = JWTKey.generate("EdDSA")
    m = TokenManager(KeySet([es, ed], current=es.kid), clock=lambda: NOW)
    token = m.create("alice")
    head, payload, sig = token.split(".")
    swapped = json.loads(b64d(head))
    swapped["kid"] = ed.kid
    with pytest.raises(TokenInvalidError, match="bound to"):
        m.verify(f"{b64(json.dumps(swapped).encode())}.{payload}.{sig}")


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../dev/null",
        "' OR '1'='1",
        "http://attacker.example/jwks.json",
        "kid\nInjected: header",
        "x" * 10_000,
        "",
        123,
        None,
        ["a"],
    ],
)
def test_kid_injection_is_only_a_failed_lookup(kid: object) -> None:
    m = manager()
    header: dict[str, object] = {"alg": "HS256", "kid": kid}
    with pytest.raises(TokenInvalidError) as info:
        m.verify(forge(header, claims(), b"\x00" * 32))
    assert "\n" not in str(info.value)
    assert len(str(info.value)) < 300


def test_missing_kid_with_several_keys_of_one_alg_is_refused() -> None:
    a, b = JWTKey.generate("HS256"), JWTKey.generate("HS256")
    m = TokenManager(KeySet([a, b], current=a.kid), clock=lambda: NOW)
    header = {"alg": "HS256"}
    unsigned = forge(header, claims()).rsplit(".", 1)[0]
    with pytest.raises(TokenInvalidError, match="no 'kid'"):
        m.verify(unsigned + "." + b64(a.sign(unsigned.encode())))


def test_expired_and_leeway() -> None:
    m = manager(leeway=30)
    token = m.create("alice", expires_in=60, now=NOW)
    assert m.verify(token, now=NOW + 60 + 29).sub == "alice"
    with pytest.raises(TokenExpiredError):
        m.verify(token, now=NOW + 60 + 30)


def test_not_before_and_issued_in_the_future() -> None:
    m = manager(leeway=5)
    future = m.create("alice", not_before=NOW + 100)
    with pytest.raises(TokenInvalidError, match="not valid yet"):
        m.verify(future, now=NOW)
    assert m.verify(future, now=NOW + 100).sub == "alice"
    from_the_future = m.create("alice", now=NOW + 3600)
    with pytest.raises(TokenInvalidError, match="issued in the future"):
        m.verify(from_the_future, now=NOW)


def test_wrong_or_missing_audience() -> None:
    m = manager(audience="orders-api")
    token = m.create("alice")
    assert m.verify(token).aud == "orders-api"
    with pytest.raises(TokenInvalidError, match="another audience"):
        m.verify(token, audience="billing-api")
    other = manager()
    other.keys = m.keys
    with pytest.raises(TokenInvalidError, match="specific audience"):
        other.verify(token)  # a service that expects no audience refuses audience-bound tokens
    no_aud = other.create("alice")
    with pytest.raises(TokenInvalidError, match="another audience"):
        m.verify(no_aud)


def test_list_audience() -> None:
    m = manager()
    token = m.create("alice", audience=["a-api", "b-api"])
    assert m.verify(token, audience="b-api").aud == ["a-api", "b-api"]


def test_wrong_issuer() -> None:
    m = manager()
    other = manager(issuer="someone-else")
    other.keys = m.keys
    with pytest.raises(TokenInvalidError, match="issuer"):
        other.verify(m.create("alice"))


def test_tampered_payload_keeps_old_signature() -> None:
    m = manager()
    head, payload, sig = m.create("alice", ["read"]).split(".")
    body = json.loads(b64d(payload))
    body["scope"] = "read admin"
    with pytest.raises(TokenInvalidError, match="signature"):
        m.verify(f"{head}.{b64(json.dumps(body).encode())}.{sig}")


def test_every_single_byte_change_is_refused() -> None:
    m = manager()
    token = m.create("alice", ["read"])
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    for i, ch in enumerate(token):
        for replacement in (alphabet[(alphabet.index(ch) + 1) % len(alphabet)], "!"):
            mutated = token[:i] + replacement + token[i + 1 :]
            try:
                m.verify(mutated)
            except TokenError:
                continue
            # Base64url's last character can carry unused bits; everything else must fail.
            pytest.fail(f"mutation at {i} was accepted")


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=0, max_size=600))
def test_garbage_never_verifies_and_never_crashes(junk: bytes) -> None:
    m = manager()
    with pytest.raises(TokenError):
        m.verify(junk)
    with pytest.raises(TokenError):
        m.verify(junk.decode("latin-1"))


def test_refresh_reuse_revokes_the_whole_family() -> None:
    m = manager()
    pair = m.create_pair("alice", ["read"], accounts=["42"])
    second = m.refresh(pair.refresh_token)
    assert m.verify(second.access_token).accounts == ["42"]
    # An attacker replays the first refresh token: reuse.
    with pytest.raises(TokenReuseError):
        m.refresh(pair.refresh_token)
    # Everything of the family is dead now, including the legitimate holder's newest tokens.
    for token in (second.access_token, pair.access_token):
        with pytest.raises(TokenRevokedError):
            m.verify(token)
    with pytest.raises(TokenRevokedError):
        m.refresh(second.refresh_token)
    # Another sign-in is unaffected.
    assert m.verify(m.create_pair("alice").access_token).sub == "alice"


def test_token_types_are_not_interchangeable() -> None:
    m = manager()
    pair = m.create_pair("alice")
    with pytest.raises(TokenInvalidError, match="expected a access token"):
        m.verify(pair.refresh_token)
    with pytest.raises(TokenInvalidError, match="expected a refresh token"):
        m.refresh(pair.access_token)


def test_jti_revocation() -> None:
    m = manager()
    token = m.create("alice")
    m.revoke(token)
    with pytest.raises(TokenRevokedError):
        m.verify(token)
    assert m.verify(token, check_revocation=False).sub == "alice"
    assert m.verify(m.create("alice")).sub == "alice"


def test_revoking_a_forged_token_is_refused() -> None:
    m = manager()
    with pytest.raises(TokenInvalidError):
        m.revoke(forge({"alg": "HS256"}, claims(jti="victim"), b"x" * 32))


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"alg": "HS256", "crit": ["exp"]}, "crit"),
        ({"alg": "HS256", "b64": False, "crit": ["b64"]}, "crit"),
    ],
)
def test_unsupported_extensions_are_refused(header: dict[str, object], reason: str) -> None:
    m = manager()
    header["kid"] = m.keys.current.kid
    unsigned = forge(header, claims()).rsplit(".", 1)[0]
    token = unsigned + "." + b64(m.keys.current.sign(unsigned.encode()))
    with pytest.raises(TokenInvalidError, match=reason):
        m.verify(token)


def test_structural_garbage() -> None:
    m = manager()
    kid = m.keys.current.kid
    good = m.create("alice")
    cases = [
        "",
        "a.b",
        "a.b.c.d",
        good + "=",
        good.replace(".", "..", 1),
        "x" * 20_000,
        forge({"alg": "HS256", "kid": kid}, claims()).replace(".", ".W10.", 1),
    ]
    for token in cases:
        with pytest.raises(TokenInvalidError):
            m.verify(token)
    # A header that is JSON but not an object, and a payload that is an array.
    head_list = b64(b"[1,2]")
    with pytest.raises(TokenInvalidError, match="header"):
        m.verify(f"{head_list}.{good.split('.')[1]}.{good.split('.')[2]}")
    unsigned = b64(json.dumps({"alg": "HS256", "kid": kid}).encode()) + "." + b64(b"[1]")
    signed = unsigned + "." + b64(m.keys.current.sign(unsigned.encode()))
    with pytest.raises(TokenInvalidError, match="payload"):
        m.verify(signed)


def test_claim_types_are_checked() -> None:
    m = manager()
    key = m.keys.current
    for bad in ({"exp": "never"}, {"exp": True}, {"iat": [1]}, {"sub": 12}):
        body = claims(**bad)
        unsigned = forge({"alg": "HS256", "kid": key.kid}, body).rsplit(".", 1)[0]
        token = unsigned + "." + b64(key.sign(unsigned.encode()))
        with pytest.raises(TokenInvalidError):
            m.verify(token)


def test_required_claims() -> None:
    m = manager()
    key = m.keys.current
    body = claims()
    del body["jti"]
    unsigned = forge({"alg": "HS256", "kid": key.kid}, body).rsplit(".", 1)[0]
    with pytest.raises(TokenInvalidError, match="'jti'"):
        m.verify(unsigned + "." + b64(key.sign(unsigned.encode())))


def test_error_messages_never_contain_the_token() -> None:
    m = manager()
    token = m.create("alice")
    for bad in (token[:-3] + "AAA", token.replace("e", "f", 3)):
        with pytest.raises(TokenError) as info:
            m.verify(bad)
        assert token.split(".")[1] not in str(info.value)
