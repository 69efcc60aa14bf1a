"""Interoperability both ways with joserfc, an independent JOSE implementation."""

from __future__ import annotations

import warnings

import pytest
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey
from tigerseal.tokens import JWTKey, KeySet, TokenManager

from tests.unit.tokens.helpers import NOW

ASYMMETRIC = [("ES256", lambda: ECKey.generate_key("P-256")),
              ("EdDSA", lambda: OKPKey.generate_key("Ed25519")),
              ("RS256", lambda: RSAKey.generate_key(2048))]  # fmt: skip


def joserfc_decode(token: str, key: object, alg: str) -> dict[str, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # EdDSA is "deprecated" by RFC 9864
        return dict(jwt.decode(token, key, algorithms=[alg]).claims)


def joserfc_encode(claims: dict[str, object], key: object, alg: str, kid: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return jwt.encode({"alg": alg, "kid": kid}, claims, key, algorithms=[alg])


def claims() -> dict[str, object]:
    return {"sub": "alice", "iat": int(NOW), "exp": int(NOW) + 300, "jti": "j1", "scope": "read"}


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_our_tokens_verify_in_joserfc_with_our_jwks(alg: str) -> None:
    keys = KeySet.generate(alg)
    token = TokenManager(keys, clock=lambda: NOW).create("alice", ["read", "write"])
    jwk = keys.jwks()["keys"][0]
    key = {"ES256": ECKey, "EdDSA": OKPKey, "RS256": RSAKey}[alg].import_key(jwk)
    got = joserfc_decode(token, key, alg)
    assert got["sub"] == "alice"
    assert got["scope"] == "read write"


def test_our_hs256_tokens_verify_in_joserfc() -> None:
    secret = "0123456789abcdef-shared-secret-for-hs256"
    token = TokenManager(KeySet.from_secret(secret), clock=lambda: NOW).create("alice")
    assert joserfc_decode(token, OctKey.import_key(secret), "HS256")["sub"] == "alice"


@pytest.mark.parametrize(("alg", "make"), ASYMMETRIC)
def test_joserfc_tokens_verify_here(alg: str, make: object) -> None:
    theirs = make()  # type: ignore[operator]
    public = theirs.as_dict(private=False)
    # joserfc does not normalise ECDSA s; tigerseal requires low s unless told otherwise.
    key = JWTKey.from_jwk({**public, "kid": "theirs"}, algorithm=alg, allow_high_s=True)
    token = joserfc_encode(claims(), theirs, alg, "theirs")
    payload = TokenManager(KeySet([key]), clock=lambda: NOW).verify(token)
    assert payload.sub == "alice"
    assert payload.scopes == ["read"]


def test_joserfc_hs256_tokens_verify_here() -> None:
    secret = "0123456789abcdef-shared-secret-for-hs256"
    key = JWTKey.from_secret(secret, kid="shared")
    token = joserfc_encode(claims(), OctKey.import_key(secret), "HS256", "shared")
    assert TokenManager(KeySet([key]), clock=lambda: NOW).verify(token).jti == "j1"


def test_joserfc_private_jwk_signs_for_us() -> None:
    theirs = ECKey.generate_key("P-256")
    key = JWTKey.from_jwk({**theirs.as_dict(private=True), "alg": "ES256"})
    assert key.can_sign
    token = TokenManager(KeySet([key]), clock=lambda: NOW).create("dave")
    assert joserfc_decode(token, theirs, "ES256")["sub"] == "dave"


def test_thumbprints_match_joserfc() -> None:
    for make in (lambda: ECKey.generate_key("P-256"), lambda: OKPKey.generate_key("Ed25519"),
                 lambda: RSAKey.generate_key(2048)):  # fmt: skip
        theirs = make()
        alg = {"EC": "ES256", "OKP": "EdDSA", "RSA": "RS256"}[theirs.key_type]
        ours = JWTKey.from_jwk(theirs.as_dict(private=False), algorithm=alg)
        assert ours.kid == theirs.thumbprint()
