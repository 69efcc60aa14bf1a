"""A JWT signer whose private key never leaves AWS KMS (``Sign`` with an asymmetric key).

URI: ``aws-kms://<asymmetric key ARN | key id | alias>?alg=ES256&kid=...`` plus the client
options of the key provider (region, endpoint_url, profile, timeouts, retries).

===============  ==============  =========================
KMS key spec     JWS ``alg``     KMS SigningAlgorithm
===============  ==============  =========================
ECC_NIST_P256    ES256           ECDSA_SHA_256
ECC_NIST_P384    ES384           ECDSA_SHA_384
ECC_NIST_P521    ES512           ECDSA_SHA_512
RSA_2048/3072/   RS256 (default) RSASSA_PKCS1_V1_5_SHA_256
4096             RS384, RS512,   ..._SHA_384, ..._SHA_512,
                 PS256/384/512   RSASSA_PSS_SHA_256/384/512
===============  ==============  =========================

KMS returns ECDSA signatures DER-encoded; JWS (RFC 7518 section 3.4) wants ``r || s`` as two
fixed-size big-endian integers, so the signer converts them. Signing inputs up to 4096 bytes are
sent as ``MessageType=RAW``; longer ones are hashed locally and sent as ``DIGEST``. Each
signature is verified locally against the public key before it is returned, so a faulty or
impostor endpoint cannot hand out bad signatures unnoticed.

The default ``kid`` is the RFC 7638 thumbprint of the public key: stable, and it does not put
the key ARN (and so the AWS account id) into every token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import load_der_public_key
from tigerseal.errors import ConfigError, KeyProviderError
from tigerseal.spi.errors import translated
from tigerseal.spi.services import TokenSigner

from tigerseal_aws_kms._client import ClientFactory, client_region, method_name
from tigerseal_aws_kms._errors import translate
from tigerseal_aws_kms._options import AwsKmsOptions, KeyRef, parse_arn, parse_options

__all__ = ["KmsTokenSigner", "signer_from_uri"]

#: KMS accepts RAW messages up to this size; longer signing inputs go as a DIGEST.
_RAW_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class _Alg:
    kms: str
    hash: type[hashes.HashAlgorithm]
    curve: str | None = None  # JWK crv for EC
    size: int = 0  # bytes per EC coordinate / signature half
    pss: bool = False


_ALGS: dict[str, _Alg] = {
    "ES256": _Alg("ECDSA_SHA_256", hashes.SHA256, "P-256", 32),
    "ES384": _Alg("ECDSA_SHA_384", hashes.SHA384, "P-384", 48),
    "ES512": _Alg("ECDSA_SHA_512", hashes.SHA512, "P-521", 66),
    "RS256": _Alg("RSASSA_PKCS1_V1_5_SHA_256", hashes.SHA256),
    "RS384": _Alg("RSASSA_PKCS1_V1_5_SHA_384", hashes.SHA384),
    "RS512": _Alg("RSASSA_PKCS1_V1_5_SHA_512", hashes.SHA512),
    "PS256": _Alg("RSASSA_PSS_SHA_256", hashes.SHA256, pss=True),
    "PS384": _Alg("RSASSA_PSS_SHA_384", hashes.SHA384, pss=True),
    "PS512": _Alg("RSASSA_PSS_SHA_512", hashes.SHA512, pss=True),
}
_DEFAULT_ALG = {
    "ECC_NIST_P256": "ES256",
    "ECC_NIST_P384": "ES384",
    "ECC_NIST_P521": "ES512",
    "RSA_2048": "RS256",
    "RSA_3072": "RS256",
    "RSA_4096": "RS256",
}


@dataclass(frozen=True, slots=True)
class _Key:
    arn: str
    alg: str
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey
    jwk: dict[str, Any]


class KmsTokenSigner(TokenSigner):
    """A :class:`~tigerseal.spi.TokenSigner` signing with an asymmetric KMS key.

    The key is described and its public key fetched once, on first use (``DescribeKey`` and
    ``GetPublicKey``); every signature is one ``Sign`` call. Thread-safe.

    Args:
        options: client options and the key.
        alg: the JWS algorithm; defaults from the key spec (ES256 for ECC_NIST_P256).
        kid: the JWT ``kid``; defaults to the RFC 7638 thumbprint of the public key.
        client: an already-built boto3 KMS client.
    """

    def __init__(
        self,
        options: AwsKmsOptions,
        *,
        alg: str | None = None,
        kid: str | None = None,
        client: Any = None,
    ) -> None:
        if options.discovery:
            raise ConfigError("discovery options do not apply to an aws-kms token signer")
        if alg is not None and alg not in _ALGS:
            raise ConfigError(f"alg must be one of {', '.join(_ALGS)}, got {alg!r}")
        if kid is not None and (not isinstance(kid, str) or not kid):
            raise ConfigError("kid must be a non-empty string")
        self._options = options
        self._alg = alg
        self._kid = kid
        self._lock = threading.Lock()
        self._key: _Key | None = None
        if client is not None:
            if options.client_options_given:
                raise ConfigError(
                    f"client= was given together with {', '.join(options.client_options_given)}"
                    "; configure those on the boto3 client instead"
                )
            self._factory: ClientFactory | None = None
            self._client = client
            self._region = client_region(client) or ""
        else:
            self._factory = ClientFactory(options)
            self._region = self._factory.default_region
            self._client = self._factory.client(self._region)

    # -- TokenSigner -------------------------------------------------------------------------
    @property
    def algorithm(self) -> str:  # type: ignore[override]
        """The JWS ``alg`` (from ``alg=`` or the key spec)."""
        return self._alg or self._load().alg

    @property
    def kid(self) -> str:  # type: ignore[override]
        """The JWT ``kid``."""
        return self._kid or str(self._load().jwk["kid"])

    @property
    def key_id(self) -> str:
        """The KMS key ARN."""
        return self._load().arn

    def sign(self, signing_input: bytes) -> bytes:
        """Sign with KMS and return the JWS signature (``r || s`` for ECDSA).

        Raises:
            KeyProviderError: KMS failed (subclasses say how), or its signature did not verify.
        """
        key = self._load()
        alg = _ALGS[key.alg]
        data = bytes(signing_input)
        if len(data) <= _RAW_LIMIT:
            message, message_type = data, "RAW"
        else:
            h = hashes.Hash(alg.hash())
            h.update(data)
            message, message_type = h.finalize(), "DIGEST"
        resp = self._call(
            "Sign",
            key.arn,
            KeyId=key.arn,
            Message=message,
            MessageType=message_type,
            SigningAlgorithm=alg.kms,
        )
        der = bytes(resp.get("Signature", b""))
        signature = _to_jws(der, alg) if alg.curve else der
        self._verify(key, alg, data, der)
        return signature

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK with ``kid``, ``alg`` and ``use="sig"``."""
        jwk = dict(self._load().jwk)
        jwk["kid"] = self.kid
        return jwk

    def close(self) -> None:
        """Close the client this signer built."""
        if self._factory is not None:
            self._factory.close()

    def __repr__(self) -> str:
        key = self._key.arn if self._key is not None else self._options.key.raw
        return f"<KmsTokenSigner {key} alg={self._alg or (self._key and self._key.alg)}>"

    # -- internals ---------------------------------------------------------------------------
    def _call(self, operation: str, key: str, **params: Any) -> dict[str, Any]:
        method = getattr(self._client, method_name(operation))
        with translated(translate, operation=operation, key_id=key):
            response: dict[str, Any] = method(**params)
        return response

    def _load(self) -> _Key:
        if self._key is not None:
            return self._key
        with self._lock:
            if self._key is None:
                self._key = self._fetch()
            return self._key

    def _fetch(self) -> _Key:
        configured = self._options.key.raw
        meta = self._call("DescribeKey", configured, KeyId=configured).get("KeyMetadata", {})
        ref: KeyRef | None = parse_arn(str(meta.get("Arn", "")))
        if ref is None:
            raise KeyProviderError(f"AWS KMS DescribeKey for {configured} returned no key ARN")
        spec = str(meta.get("KeySpec", ""))
        if meta.get("KeyUsage") != "SIGN_VERIFY" or spec not in _DEFAULT_ALG:
            raise ConfigError(
                f"AWS KMS key {configured} is a {spec or '?'} key for "
                f"{meta.get('KeyUsage', '?')}; a KMS token signer needs an asymmetric "
                f"SIGN_VERIFY key ({', '.join(_DEFAULT_ALG)})"
            )
        alg = self._alg or _DEFAULT_ALG[spec]
        if _ALGS[alg].curve is not None and _DEFAULT_ALG[spec] != alg:
            raise ConfigError(f"alg={alg} does not match the {spec} key (use {_DEFAULT_ALG[spec]})")
        if _ALGS[alg].curve is None and not spec.startswith("RSA_"):
            raise ConfigError(f"alg={alg} needs an RSA key, but {configured} is {spec}")
        offered = meta.get("SigningAlgorithms")
        if offered and _ALGS[alg].kms not in offered:
            raise ConfigError(f"AWS KMS key {configured} does not offer {_ALGS[alg].kms}")
        der = self._call("GetPublicKey", ref.raw, KeyId=ref.raw).get("PublicKey", b"")
        public_key = load_der_public_key(bytes(der))
        if not isinstance(public_key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
            raise KeyProviderError(f"AWS KMS returned an unexpected public key for {ref.raw}")
        return _Key(ref.raw, alg, public_key, _jwk(public_key, alg))

    def _verify(self, key: _Key, alg: _Alg, data: bytes, der: bytes) -> None:
        try:
            if isinstance(key.public_key, ec.EllipticCurvePublicKey):
                key.public_key.verify(der, data, ec.ECDSA(alg.hash()))
            else:
                pad: padding.AsymmetricPadding = (
                    padding.PSS(padding.MGF1(alg.hash()), alg.hash().digest_size)
                    if alg.pss
                    else padding.PKCS1v15()
                )
                key.public_key.verify(der, data, pad, alg.hash())
        except (InvalidSignature, ValueError) as exc:
            raise KeyProviderError(
                f"AWS KMS Sign with {key.arn} returned a signature that does not verify; check "
                "endpoint_url and the key"
            ) from exc


def _to_jws(der: bytes, alg: _Alg) -> bytes:
    try:
        r, s = decode_dss_signature(der)
    except ValueError as exc:
        raise KeyProviderError("AWS KMS Sign returned a malformed ECDSA signature") from exc
    return r.to_bytes(alg.size, "big") + s.to_bytes(alg.size, "big")


def jws_to_der(signature: bytes) -> bytes:
    """Convert a JWS ECDSA signature (``r || s``) back to DER, for verifiers that want it."""
    half = len(signature) // 2
    r = int.from_bytes(signature[:half], "big")
    s = int.from_bytes(signature[half:], "big")
    return encode_dss_signature(r, s)


def _b64(n: int, size: int | None = None) -> str:
    raw = n.to_bytes(size or max(1, (n.bit_length() + 7) // 8), "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _jwk(public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey, alg: str) -> dict[str, Any]:
    """The public JWK; ``kid`` is the RFC 7638 thumbprint over the required members."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        numbers = public_key.public_numbers()
        size = _ALGS[alg].size
        required = {
            "crv": _ALGS[alg].curve,
            "kty": "EC",
            "x": _b64(numbers.x, size),
            "y": _b64(numbers.y, size),
        }
    else:
        rsa_numbers = public_key.public_numbers()
        required = {"e": _b64(rsa_numbers.e), "kty": "RSA", "n": _b64(rsa_numbers.n)}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True).encode()
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=")
    return {**required, "kid": thumbprint.decode("ascii"), "alg": alg, "use": "sig"}


def signer_from_uri(uri: str, **options: Any) -> KmsTokenSigner:
    """Factory registered as the ``aws-kms`` token signer: ``signer_from_uri(uri, **options)``.

    Args:
        uri: ``aws-kms://<key>?alg=ES256&kid=...&region=...``.
        **options: the URI options as keywords, plus ``client=``.
    """
    client = options.pop("client", None)
    extras: dict[str, Any] = {}
    parsed = parse_options(uri, _extra_names=("alg", "kid"), _extras_out=extras, **options)
    return KmsTokenSigner(parsed, alg=extras.get("alg"), kid=extras.get("kid"), client=client)
