"""The KMS-backed JWT signer against moto (``mock_aws``) and a Stubber for DIGEST signing."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from tigerseal.errors import ConfigError, KeyProviderError
from tigerseal.plugins import token_signer_from_uri
from tigerseal.spi.services import TokenSigner
from tigerseal_aws_kms import KmsTokenSigner
from tigerseal_aws_kms._signer import jws_to_der

from .conftest import REGION

Client = Callable[..., Any]


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def make_jwt(signer: TokenSigner, claims: dict[str, Any]) -> str:
    header = {"alg": signer.algorithm, "typ": "JWT", "kid": signer.kid}
    signing_input = b64(json.dumps(header).encode()) + b"." + b64(json.dumps(claims).encode())
    return (signing_input + b"." + b64(signer.sign(signing_input))).decode()


def asymmetric(client: Any, spec: str) -> str:
    meta = client.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    return str(meta["Arn"])


@pytest.mark.parametrize(
    ("spec", "alg", "size"),
    [
        ("ECC_NIST_P256", None, 64),
        ("ECC_NIST_P384", None, 96),
        ("ECC_NIST_P521", None, 132),
        ("RSA_2048", None, 256),
        ("RSA_2048", "RS512", 256),
        ("RSA_3072", "RS256", 384),
        # PS256/384/512 are not tested on moto: it signs PSS with the maximum salt length,
        # while KMS and RFC 7518 use a salt as long as the digest (the local check rejects it).
    ],
)
def test_tokens_signed_in_kms_verify_with_the_exported_jwk(
    mock_kms: Client, spec: str, alg: str | None, size: int
) -> None:
    arn = asymmetric(mock_kms(REGION), spec)
    uri = f"aws-kms://{arn}" + (f"?alg={alg}" if alg else "")
    signer = token_signer_from_uri(uri)
    assert isinstance(signer, KmsTokenSigner)
    jwk = signer.public_jwk()
    assert jwk["kid"] == signer.kid
    assert jwk["use"] == "sig"
    assert jwk["alg"] == signer.algorithm
    assert signer.algorithm == (alg or {"ECC": "ES", "RSA": "RS"}[spec[:3]] + jwk["alg"][2:])
    assert not {"d", "p", "q"} & set(jwk)  # public members only
    token = make_jwt(signer, {"sub": "user-1"})
    assert len(base64.urlsafe_b64decode(token.rsplit(".", 1)[1] + "==")) == size
    key = jwt.PyJWK(jwk).key
    assert jwt.decode(token, key, algorithms=[signer.algorithm]) == {"sub": "user-1"}
    assert signer.key_id == arn


def test_default_kid_is_the_rfc7638_thumbprint_and_can_be_overridden(mock_kms: Client) -> None:
    from tigerseal.tokens import jwk_thumbprint

    arn = asymmetric(mock_kms(REGION), "ECC_NIST_P256")
    signer = token_signer_from_uri(f"aws-kms://{arn}")
    assert signer.kid == jwk_thumbprint(signer.public_jwk())
    assert arn not in json.dumps(signer.public_jwk())  # no account id in tokens
    named = token_signer_from_uri(f"aws-kms://{arn}?kid=jwt-2024")
    assert named.kid == named.public_jwk()["kid"] == "jwt-2024"


def test_token_manager_issues_and_verifies_with_a_kms_key(mock_kms: Client) -> None:
    from tigerseal.tokens import JWTKey, KeySet
    from tigerseal.tokens._manager import TokenManager

    signer = token_signer_from_uri(f"aws-kms://{asymmetric(mock_kms(REGION), 'ECC_NIST_P256')}")
    manager = TokenManager(KeySet([JWTKey.from_signer(signer)]))
    token = manager.encode({"sub": "acct-7"})
    assert manager.decode(token)["sub"] == "acct-7"
    assert manager.jwks()["keys"][0]["kid"] == signer.kid


@pytest.mark.parametrize(
    ("spec", "options", "match"),
    [
        ("SYMMETRIC_DEFAULT", "", "asymmetric SIGN_VERIFY"),
        ("ECC_NIST_P256", "?alg=ES384", "does not match"),
        ("ECC_NIST_P256", "?alg=RS256", "needs an RSA key"),
        ("ECC_NIST_P256", "?alg=HS256", "alg must be one of"),
        ("ECC_NIST_P256", "?discovery=1&allowed_accounts=111122223333", "discovery"),
    ],
)
def test_unsuitable_keys_are_config_errors(
    mock_kms: Client, spec: str, options: str, match: str
) -> None:
    client = mock_kms(REGION)
    if spec == "SYMMETRIC_DEFAULT":
        arn = client.create_key()["KeyMetadata"]["Arn"]
    else:
        arn = asymmetric(client, spec)
    with pytest.raises(ConfigError, match=match):
        token_signer_from_uri(f"aws-kms://{arn}{options}").sign(b"x")


def test_long_signing_inputs_are_sent_as_a_digest(aws_env: None) -> None:
    # moto does not implement MessageType=DIGEST (it hashes the digest again), so KMS is
    # stubbed with a local P-256 key signing the prehashed digest, as real KMS does.
    import boto3
    from botocore.stub import Stubber

    arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    private = ec.generate_private_key(ec.SECP256R1())
    der_public = private.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    client = boto3.client("kms", region_name=REGION)
    stub = Stubber(client)
    stub.add_response(
        "describe_key",
        {
            "KeyMetadata": {
                "KeyId": arn.rsplit("/", 1)[1],
                "Arn": arn,
                "KeySpec": "ECC_NIST_P256",
                "KeyUsage": "SIGN_VERIFY",
                "SigningAlgorithms": ["ECDSA_SHA_256"],
            }
        },
    )
    stub.add_response("get_public_key", {"KeyId": arn, "PublicKey": der_public})
    long_input = b"a" * 5000
    digest = hashes.Hash(hashes.SHA256())
    digest.update(long_input)
    prehashed = digest.finalize()
    signature = private.sign(prehashed, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    stub.add_response(
        "sign",
        {"KeyId": arn, "Signature": signature, "SigningAlgorithm": "ECDSA_SHA_256"},
        {
            "KeyId": arn,
            "Message": prehashed,
            "MessageType": "DIGEST",
            "SigningAlgorithm": "ECDSA_SHA_256",
        },
    )
    stub.add_response(
        "sign", {"KeyId": arn, "Signature": signature, "SigningAlgorithm": "ECDSA_SHA_256"}
    )
    stub.activate()
    signer = token_signer_from_uri(f"aws-kms://{arn}", client=client)
    raw = signer.sign(long_input)
    assert len(raw) == 64
    private.public_key().verify(jws_to_der(raw), long_input, ec.ECDSA(hashes.SHA256()))
    # A signature over something else (a faulty or impostor endpoint) is caught locally.
    with pytest.raises(KeyProviderError, match="does not verify"):
        signer.sign(b"another input")
    stub.assert_no_pending_responses()


def test_repr_shows_no_secrets_and_no_network(mock_kms: Client) -> None:
    arn = asymmetric(mock_kms(REGION), "ECC_NIST_P256")
    signer = token_signer_from_uri(f"aws-kms://{arn}")
    assert repr(signer) == f"<KmsTokenSigner {arn} alg=None>"
    signer.sign(b"x")
    assert repr(signer) == f"<KmsTokenSigner {arn} alg=ES256>"
    signer.close()
