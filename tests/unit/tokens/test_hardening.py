"""Issue 12, items 8-10: ECDSA twins, NumericDate and leeway checks, protected claims."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from tigerseal.errors import (
    ConfigError,
    TokenError,
    TokenExpiredError,
    TokenInvalidError,
    TokenRevokedError,
)
from tigerseal.tokens import JWTKey, KeySet, MemoryRevocationStore, TokenManager

from tests.unit.tokens.helpers import NOW, b64, b64d, manager

WYCHEPROOF = Path(__file__).resolve().parents[2] / "data" / "wycheproof"

# Group orders (SEC 2 / FIPS 186-4), public curve constants.
_ORDERS = {
    "ES256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "ES384": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
    "ES512": int(
        "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA"
        "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
}


def _twin(token: str, alg: str) -> str:
    """The same token with s replaced by n - s (the other valid ECDSA signature)."""
    head, body, sig_b64 = token.split(".")
    sig = b64d(sig_b64)
    half = len(sig) // 2
    s = int.from_bytes(sig[half:], "big")
    twin = sig[:half] + (_ORDERS[alg] - s).to_bytes(half, "big")
    return f"{head}.{body}.{b64(twin)}"


def _s_of(token: str) -> int:
    sig = b64d(token.split(".")[2])
    return int.from_bytes(sig[len(sig) // 2 :], "big")


# -- item 8: ECDSA signature malleability -------------------------------------------------------
@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_ecdsa_twin_of_a_token_is_refused(alg: str) -> None:
    tm = manager(alg)
    jwk = tm.keys.current.public_jwk()
    assert jwk is not None
    lax = TokenManager(KeySet([JWTKey.from_jwk(jwk, allow_high_s=True)]), clock=lambda: NOW)
    for i in range(8):  # both halves of s get exercised
        token = tm.create(f"user{i}", ["read"])
        assert _s_of(token) <= _ORDERS[alg] // 2, "tigerseal signs with low s"
        assert tm.verify(token).sub == f"user{i}"
        twin = _twin(token, alg)
        assert lax.decode(twin).sub == f"user{i}", "the twin is a valid ECDSA signature"
        with pytest.raises(TokenInvalidError, match="signature"):
            tm.verify(twin)


class _HighSSigner:
    """A KMS-like signer that returns whatever s its backend produced (here: always high)."""

    def __init__(self, key: JWTKey) -> None:
        self._key = key
        self.algorithm = key.algorithm
        self.kid = "kms-key"

    def sign(self, signing_input: bytes) -> bytes:
        sig = self._key.sign(signing_input)
        half = len(sig) // 2
        s = int.from_bytes(sig[half:], "big")
        s = max(s, _ORDERS[self.algorithm] - s)
        return sig[:half] + s.to_bytes(half, "big")

    def public_jwk(self) -> dict[str, Any]:
        jwk = self._key.public_jwk()
        assert jwk is not None
        return jwk


def test_kms_signer_signatures_are_canonicalised_to_low_s() -> None:
    key = JWTKey.from_signer(_HighSSigner(JWTKey.generate("ES256")))  # type: ignore[arg-type]
    tm = TokenManager(KeySet([key]), clock=lambda: NOW)
    token = tm.create("alice")
    assert _s_of(token) <= _ORDERS["ES256"] // 2
    assert tm.verify(token).sub == "alice"


def test_foreign_issuer_high_s_can_be_allowed_explicitly() -> None:
    signer = JWTKey.generate("ES256")
    tm = TokenManager(KeySet([signer]), clock=lambda: NOW)
    token = tm.create("bob")
    high = _twin(token, "ES256")
    jwk = signer.public_jwk()
    assert jwk is not None
    strict = TokenManager(KeySet([JWTKey.from_jwk(jwk)]), clock=lambda: NOW)
    with pytest.raises(TokenInvalidError):
        strict.decode(high)
    lax = TokenManager(KeySet([JWTKey.from_jwk(jwk, allow_high_s=True)]), clock=lambda: NOW)
    assert lax.decode(high).sub == "bob"


# -- item 9: NumericDate and leeway -------------------------------------------------------------
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_non_finite_dates_are_refused(claim: str, value: str) -> None:
    tm = manager()
    body = {"sub": "a", "iat": int(NOW), "exp": int(NOW) + 60, "jti": "j1", "iss": "tigerseal-test"}
    body[claim] = 0  # placeholder replaced with a non-JSON-standard literal below
    raw = json.dumps(body).replace(f'"{claim}": 0', f'"{claim}": {value}')
    token = tm.encode(json.loads(raw))
    with pytest.raises(TokenInvalidError, match=claim):
        tm.verify(token)
    if claim == "exp":  # revoke() reads exp only; it must refuse, not store a NaN deadline
        with pytest.raises(TokenInvalidError, match=claim):
            tm.revoke(token)


def test_nan_exp_token_does_not_live_forever() -> None:
    tm = manager()
    token = tm.encode({"sub": "a", "iat": int(NOW), "exp": math.nan, "jti": "j"})
    with pytest.raises(TokenInvalidError):
        tm.verify(token, now=NOW + 10**9)


def test_fractional_exp_is_refused() -> None:
    tm = manager()
    token = tm.encode(
        {"sub": "a", "iat": int(NOW), "exp": NOW + 100.5, "jti": "j", "iss": "tigerseal-test"}
    )
    with pytest.raises(TokenInvalidError, match="integer"):
        tm.verify(token)


def test_revocation_lasts_until_the_token_is_no_longer_valid() -> None:
    clock = [NOW]
    store = MemoryRevocationStore(clock=lambda: clock[0])
    tm = TokenManager(
        KeySet([JWTKey.generate("HS256")]), leeway=0.5, revocation=store, clock=lambda: clock[0]
    )
    token = tm.create("a", expires_in=100)
    tm.revoke(token)
    exp = tm.decode(token).exp
    assert exp is not None
    for at in (NOW, exp - 1, exp - 0.25, exp + 0.25, exp + 0.49):
        clock[0] = at
        with pytest.raises(TokenRevokedError):
            tm.verify(token)
    clock[0] = exp + 0.5
    with pytest.raises(TokenExpiredError):
        tm.verify(token)


@pytest.mark.parametrize("leeway", [math.nan, math.inf, -1, -0.5, "30"])
def test_bad_leeway_is_refused(leeway: Any) -> None:
    with pytest.raises(TokenError, match="leeway"):
        TokenManager(KeySet([JWTKey.generate("HS256")]), leeway=leeway)


@pytest.mark.parametrize("lifetime", [math.nan, math.inf, 10**30])
def test_bad_lifetime_is_refused(lifetime: Any) -> None:
    tm = manager()
    with pytest.raises(TokenError, match="lifetime"):
        tm.create("a", expires_in=lifetime)


# -- item 10: extra claims must not shadow protected ones ----------------------------------------
@pytest.mark.parametrize(
    "claim",
    # ("scopes" is create's own argument name, so it cannot reach **claims)
    ["scp", "scope", "sub", "exp", "iat", "nbf", "jti", "iss", "aud", "fam"],
)
def test_extra_claims_cannot_shadow_protected_ones(claim: str) -> None:
    tm = manager()
    with pytest.raises(TokenError, match=claim):
        tm.create("user", [], **{claim: ["admin"]})


def test_scp_cannot_grant_admin() -> None:
    tm = manager()
    with pytest.raises(TokenError, match="scp"):
        tm.create("user", [], scp=["admin"])
    token = tm.create("user", ["read"], accounts=["1"])
    assert tm.verify(token).scopes == ["read"]


# -- item 11: key import --------------------------------------------------------------------------
def test_roca_fingerprint() -> None:
    from tigerseal.tokens._signing_keys import roca_vulnerable

    data = json.loads((WYCHEPROOF / "json_web_key_test.json").read_text(encoding="utf-8"))
    (group,) = [g for g in data["testGroups"] if g["comment"] == "jws_rsa_roca_key"]
    jwk = group["public"]["keys"][0]
    assert roca_vulnerable(int.from_bytes(b64d(jwk["n"]), "big"))
    with pytest.raises(ConfigError, match="ROCA"):
        JWTKey.from_jwk(jwk)
    from cryptography.hazmat.primitives.asymmetric import rsa

    for _ in range(3):
        n = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        assert not roca_vulnerable(n.public_numbers().n)


@pytest.mark.parametrize(
    "marks",
    [{"use": "enc"}, {"key_ops": ["encrypt", "decrypt"]}, {"key_ops": "verify"}, {"key_ops": []}],
)
def test_jwk_for_another_use_is_refused(marks: dict[str, Any]) -> None:
    jwk = JWTKey.generate("ES256").public_jwk()
    assert jwk is not None
    del jwk["use"]
    with pytest.raises(ConfigError, match=r"use|key_ops"):
        JWTKey.from_jwk({**jwk, **marks})
    assert JWTKey.from_jwk({**jwk, "key_ops": ["verify"]}).algorithm == "ES256"


def test_key_sets_do_not_mix_hmac_and_public_keys() -> None:
    with pytest.raises(ConfigError, match="mix"):
        KeySet([JWTKey.generate("HS256"), JWTKey.generate("EdDSA")])
    keys = KeySet([JWTKey.generate("EdDSA")])
    with pytest.raises(ConfigError, match="mix"):
        keys.add(JWTKey.generate("HS256"))
    assert len(keys) == 1


# -- red-team follow-ups --------------------------------------------------------------------------
@pytest.mark.parametrize("claim", ["exp", "jti", "sub", "iat"])
def test_required_claim_set_to_null_counts_as_missing(claim: str) -> None:
    # {"exp": null} never expires and {"jti": null} cannot be revoked: null is not a value.
    tm = manager()
    body: dict[str, Any] = {
        "sub": "a",
        "iat": int(NOW),
        "exp": int(NOW) + 60,
        "jti": "j1",
        "iss": "tigerseal-test",
    }
    token = tm.encode({**body, claim: None})
    with pytest.raises(TokenInvalidError, match=claim):
        tm.verify(token, now=NOW + 10**6 if claim == "exp" else NOW)


def test_null_exp_is_not_a_date_even_when_not_required() -> None:
    tm = manager(required_claims=("sub",))
    token = tm.encode({"sub": "a", "exp": None, "jti": "j1", "iss": "tigerseal-test"})
    with pytest.raises(TokenInvalidError, match="exp"):
        tm.verify(token)
    with pytest.raises(TokenInvalidError, match="exp"):
        tm.revoke(token)


def test_token_without_exp_can_still_be_revoked() -> None:
    # A manager that does not require exp accepts tokens that never expire; revoking one must
    # then last for good instead of being skipped.
    tm = manager(required_claims=("sub",))
    token = tm.encode({"sub": "a", "jti": "j-forever", "iss": "tigerseal-test"})
    assert tm.verify(token).sub == "a"
    tm.revoke(token)
    with pytest.raises(TokenRevokedError):
        tm.verify(token, now=NOW + 10 * 366 * 24 * 3600)


def test_jwk_key_ops_must_allow_what_the_key_is_used_for() -> None:
    # key_ops ["sign"] on a public key (or ["verify"] on a private one) is a key not meant for
    # what tigerseal would do with it; WebCrypto exports pairs as private ["sign"] and public
    # ["verify"], and those keep working.
    signer = JWTKey.generate("ES256")
    public = signer.public_jwk()
    assert public is not None
    private = signer.private_jwk()
    with pytest.raises(ConfigError, match="key_ops"):
        JWTKey.from_jwk({**public, "key_ops": ["sign"]})
    with pytest.raises(ConfigError, match="key_ops"):
        JWTKey.from_jwk({**private, "key_ops": ["verify"]})
    with pytest.raises(ConfigError, match="key_ops"):
        KeySet.from_jwks({"keys": [{**public, "key_ops": ["sign", "encrypt"]}]})
    secret = {"kty": "oct", "k": b64(bytes(range(32))), "alg": "HS256"}
    with pytest.raises(ConfigError, match="key_ops"):
        JWTKey.from_jwk({**secret, "key_ops": ["sign"]})
    assert JWTKey.from_jwk({**private, "key_ops": ["sign"]}).can_sign
    assert JWTKey.from_jwk({**public, "key_ops": ["verify"]}).algorithm == "ES256"
    assert JWTKey.from_jwk({**secret, "key_ops": ["sign", "verify"]}).can_sign


@pytest.mark.parametrize("content", ["[]", '"keys"', "5", "[" * 100_000 + "]" * 100_000])
def test_key_file_that_is_not_a_jwks_object_is_a_config_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "jwt-keys.json"
    path.write_text(content, encoding="utf-8")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="JWT key file"):
        KeySet.load(path)


@pytest.mark.parametrize("claim", ["jti", "fam"])
@pytest.mark.parametrize("value", ["", 5, ["a"]])
def test_token_and_family_ids_must_be_non_empty_strings(claim: str, value: Any) -> None:
    # Revocation is keyed on them: an empty id is refused by every revocation store (so such a
    # token could not be revoked), and 5 and "5" would be the same id.
    tm = manager()
    body = {"sub": "a", "iat": int(NOW), "exp": int(NOW) + 60, "jti": "j1", "fam": "f1"}
    token = tm.encode({**body, "iss": "tigerseal-test", claim: value})
    with pytest.raises(TokenInvalidError, match=claim):
        tm.verify(token)
    with pytest.raises(TokenInvalidError, match=claim):
        tm.revoke(token, family=True)


def test_create_refuses_a_family_id_that_would_not_verify() -> None:
    tm = manager()
    for family in ("", 5):
        with pytest.raises(TokenError, match="family"):
            tm.create("a", family=family)  # type: ignore[arg-type]
