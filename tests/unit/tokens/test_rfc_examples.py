"""RFC 7515 appendix A examples (the RFC 7519 section 3.1 token is A.1's)."""

from __future__ import annotations

import pytest
from tigerseal.errors import TokenExpiredError, TokenInvalidError
from tigerseal.tokens import JWTKey, KeySet, TokenManager

# RFC 7515 A.1: HMAC SHA-256.
A1_KEY = {
    "kty": "oct",
    "k": "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
}
A1_TOKEN = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)
# RFC 7515 A.3: ECDSA P-256 SHA-256.
A3_KEY = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI",
}
A3_TOKEN = (
    "eyJhbGciOiJFUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
)
CLAIMS = {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}
BEFORE_EXPIRY = 1300819000


def rfc_manager(jwk: dict[str, str], algorithm: str, *, allow_high_s: bool = False) -> TokenManager:
    keys = KeySet([JWTKey.from_jwk(jwk, algorithm=algorithm, allow_high_s=allow_high_s)])
    return TokenManager(keys, issuer="joe", required_claims=("exp",), leeway=0)


@pytest.mark.parametrize(
    ("jwk", "algorithm", "token"), [(A1_KEY, "HS256", A1_TOKEN), (A3_KEY, "ES256", A3_TOKEN)]
)
def test_rfc7515_examples_verify_with_the_right_algorithm(
    jwk: dict[str, str], algorithm: str, token: str
) -> None:
    # A.3's signature has s > n/2: tigerseal refuses it unless the key allows high s.
    payload = rfc_manager(jwk, algorithm, allow_high_s=True).verify(token, now=BEFORE_EXPIRY)
    assert payload.claims == CLAIMS
    assert payload.iss == "joe"
    assert payload.exp == 1300819380
    assert payload.token_type == "access"


def test_rfc7515_a3_high_s_signature_is_refused_by_default() -> None:
    with pytest.raises(TokenInvalidError, match="signature"):
        rfc_manager(A3_KEY, "ES256").verify(A3_TOKEN, now=BEFORE_EXPIRY)


def test_rfc7515_a1_with_another_algorithm_bound_to_the_key_is_refused() -> None:
    # The 64-byte key is long enough for HS512: bound to it, the HS256 token must not pass.
    with pytest.raises(TokenInvalidError, match="HS256"):
        rfc_manager(A1_KEY, "HS512").verify(A1_TOKEN, now=BEFORE_EXPIRY)
    # Same with an explicit kid: the header's alg must equal the key's.
    keys = KeySet([JWTKey.from_jwk({**A1_KEY, "kid": "k1"}, algorithm="HS512")])
    with pytest.raises(TokenInvalidError):
        TokenManager(keys, required_claims=()).verify(A1_TOKEN, now=BEFORE_EXPIRY)


def test_rfc7515_examples_are_expired_today() -> None:
    with pytest.raises(TokenExpiredError):
        rfc_manager(A1_KEY, "HS256").verify(A1_TOKEN)


def test_rfc7515_a1_wrong_issuer_and_tampering() -> None:
    keys = KeySet([JWTKey.from_jwk(A1_KEY, algorithm="HS256")])
    other_issuer = TokenManager(keys, issuer="mallory", required_claims=("exp",))
    with pytest.raises(TokenInvalidError, match="issuer"):
        other_issuer.verify(A1_TOKEN, now=BEFORE_EXPIRY)
    head, payload, sig = A1_TOKEN.split(".")
    tampered = f"{head}.{payload.replace('qb2', 'qb3', 1)}.{sig}"  # "joe" -> "jou"
    with pytest.raises(TokenInvalidError):
        rfc_manager(A1_KEY, "HS256").verify(tampered, now=BEFORE_EXPIRY)


def test_our_es256_signature_on_the_rfc_key_verifies_with_the_rfc_public_key() -> None:
    signer = rfc_manager(A3_KEY, "ES256")
    token = signer.encode({"iss": "joe", "exp": 1300819380})
    public = {k: v for k, v in A3_KEY.items() if k != "d"}
    verifier = rfc_manager(public, "ES256")
    assert verifier.verify(token, now=BEFORE_EXPIRY)["iss"] == "joe"
