"""RemoteJWKSVerifier against a real local HTTP server serving JWKS of keys made in the test."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from tigerseal.errors import (
    ConfigError,
    InsufficientScopeError,
    ProviderUnavailable,
    TokenExpiredError,
    TokenInvalidError,
)
from tigerseal.tokens import RemoteJWKSVerifier

ISS = "https://idp.test/"
AUD = "api://orders"


@dataclass
class Served:
    """What the test server answers; mutable from the test."""

    body: bytes = b'{"keys": []}'
    cache_control: str | None = None
    status: int = 200
    location: str | None = None
    hits: int = 0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@functools.cache
def _rsa(kid: str) -> rsa.RSAPrivateKey:
    """One RSA key per kid for the whole module (generating 2048-bit keys is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def _ec(kid: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class IdP:
    """An identity provider: keys, a JWKS server on 127.0.0.1 and a token minter."""

    served: Served
    url: str
    server: ThreadingHTTPServer
    keys: dict[str, tuple[Any, dict[str, Any]]] = field(default_factory=dict)

    def add_rsa(self, kid: str, alg: str | None = "RS256") -> None:
        private = _rsa(kid)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        self._add(kid, private, jwk, alg)

    def add_ec(self, kid: str, alg: str | None = "ES256") -> None:
        private = _ec(kid)
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
        self._add(kid, private, jwk, alg)

    def _add(self, kid: str, private: Any, jwk: dict[str, Any], alg: str | None) -> None:
        jwk["kid"] = kid
        jwk["use"] = "sig"
        if alg:
            jwk["alg"] = alg
        self.keys[kid] = (private, jwk)
        self.publish()

    def publish(self, kids: list[str] | None = None) -> None:
        chosen = self.keys if kids is None else {k: self.keys[k] for k in kids}
        self.served.body = json.dumps({"keys": [j for _, j in chosen.values()]}).encode()

    def token(
        self, kid: str, alg: str = "RS256", *, headers: dict[str, Any] | None = None, **claims: Any
    ) -> str:
        body = {"iss": ISS, "aud": AUD, "sub": "user-1", "exp": int(time.time()) + 300}
        body.update(claims)
        return jwt.encode(
            body, self.keys[kid][0], algorithm=alg, headers={"kid": kid, **(headers or {})}
        )

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def idp() -> Iterator[IdP]:
    served = Served()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.hits += 1
            self.send_response(served.status)
            if served.location:
                self.send_header("Location", served.location)
            if served.cache_control:
                self.send_header("Cache-Control", served.cache_control)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(served.body)))
            self.end_headers()
            self.wfile.write(served.body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    provider = IdP(served, f"http://127.0.0.1:{server.server_address[1]}/jwks.json", server)
    yield provider
    with contextlib.suppress(OSError):  # a test may have stopped it
        provider.stop()
    thread.join(5)


def hs256_with(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token HMAC-signed with ``secret`` (PyJWT refuses a PEM as HMAC key; attackers don't)."""

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = b64(json.dumps(header).encode()) + b"." + b64(json.dumps(claims).encode())
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + b64(signature)).decode()


def verifier(idp: IdP, clock: Clock | None = None, **kwargs: Any) -> RemoteJWKSVerifier:
    kwargs.setdefault("algorithms", ["RS256", "ES256"])
    return RemoteJWKSVerifier(
        idp.url, issuer=ISS, audience=AUD, clock=clock or Clock(), timeout=2.0, **kwargs
    )


def test_rsa_and_ec_tokens_verify_and_the_set_is_cached(idp: IdP) -> None:
    idp.add_rsa("r1")
    idp.add_ec("e1")
    v = verifier(idp)
    assert v.verify(idp.token("r1", scope="orders:read")).sub == "user-1"
    assert v.verify(idp.token("e1", "ES256"), required_scopes=()).sub == "user-1"
    for _ in range(5):
        v.verify(idp.token("r1"))
    assert idp.served.hits == 1
    with pytest.raises(InsufficientScopeError):
        v.verify(idp.token("r1", scope="orders:read"), required_scopes=["orders:write"])


def test_unknown_kid_refetches_once_then_fails_and_is_rate_limited(idp: IdP) -> None:
    idp.add_rsa("r1")
    clock = Clock()
    v = verifier(idp, clock, refetch_interval=30)
    v.verify(idp.token("r1"))
    clock.now += 31  # the first fetch is not recent: one refetch is allowed
    idp.add_rsa("unpublished")
    idp.publish(["r1"])
    with pytest.raises(TokenInvalidError, match=r"kid 'unpublished'\) is not in"):
        v.verify(idp.token("unpublished"))
    assert idp.served.hits == 2
    # Random kids within the interval cause no fetch at all.
    for i in range(20):
        forged = jwt.encode({"iss": ISS}, "x" * 32, algorithm="HS256", headers={"kid": f"rnd{i}"})
        with pytest.raises(TokenInvalidError):
            v.verify(forged)
        with pytest.raises(TokenInvalidError):
            v.verify(idp.token("unpublished"))
    assert idp.served.hits == 2


def test_key_rotation_is_picked_up(idp: IdP) -> None:
    idp.add_rsa("old")
    clock = Clock()
    v = verifier(idp, clock)
    v.verify(idp.token("old"))
    idp.add_rsa("new")  # published next to the old one
    clock.now += 31
    assert v.verify(idp.token("new")).sub == "user-1"
    assert v.verify(idp.token("old")).sub == "user-1"
    idp.publish(["new"])  # old one retired; seen after the cache expires
    clock.now += 400
    v.verify(idp.token("new"))
    with pytest.raises(TokenInvalidError, match="not in"):
        v.verify(idp.token("old"))


def test_algorithm_pinning(idp: IdP) -> None:
    idp.add_rsa("r1")
    idp.add_ec("e1")
    v = verifier(idp, algorithms=["RS256"])
    with pytest.raises(TokenInvalidError, match="'ES256' is not one of the pinned"):
        v.verify(idp.token("e1", "ES256"))
    # HS256 signed with the public key as the secret (the classic confusion attack).
    pem = (
        idp.keys["r1"][0]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    body = {"iss": ISS, "aud": AUD, "exp": int(time.time()) + 60}
    confused = hs256_with(pem, {"alg": "HS256", "typ": "JWT", "kid": "r1"}, body)
    with pytest.raises(TokenInvalidError, match="'HS256' is not one of the pinned"):
        v.verify(confused)
    unsigned = jwt.encode(body, None, algorithm="none", headers={"kid": "r1"})
    with pytest.raises(TokenInvalidError, match="'none' is not one of the pinned"):
        v.verify(unsigned)
    # Header alg allowed, but the key under that kid is for another algorithm / key type.
    both = verifier(idp, algorithms=["RS256", "RS384", "ES256"])
    with pytest.raises(TokenInvalidError, match="key is for 'RS256'"):
        both.verify(idp.token("r1", "RS384"))
    ec_under_rsa_kid = jwt.encode(body, idp.keys["e1"][0], algorithm="ES256", headers={"kid": "r1"})
    with pytest.raises(TokenInvalidError, match="key is for 'RS256'"):
        both.verify(ec_under_rsa_kid)
    idp.keys["r1"][1].pop("alg")  # a JWK without alg: the key type must still fit
    idp.publish()
    fresh = verifier(idp, algorithms=["RS256", "ES256"])
    with pytest.raises(TokenInvalidError, match="does not fit its key"):
        fresh.verify(ec_under_rsa_kid)


@pytest.mark.parametrize("alg", ["none", "HS256", "HS512", "XX1"])
def test_unsafe_algorithms_cannot_be_configured(idp: IdP, alg: str) -> None:
    with pytest.raises(ConfigError, match="cannot be pinned"):
        verifier(idp, algorithms=[alg])


def test_claims(idp: IdP) -> None:
    idp.add_rsa("r1")
    v = verifier(idp)
    with pytest.raises(TokenExpiredError):
        v.verify(idp.token("r1", exp=int(time.time()) - 3600))
    with pytest.raises(TokenInvalidError, match="not for this service"):
        v.verify(idp.token("r1", aud="api://other"))
    with pytest.raises(TokenInvalidError, match="configured issuer"):
        v.verify(idp.token("r1", iss="https://evil.test/"))
    no_exp = jwt.encode(
        {"iss": ISS, "aud": AUD}, idp.keys["r1"][0], algorithm="RS256", headers={"kid": "r1"}
    )
    with pytest.raises(TokenInvalidError, match="'exp'"):
        v.verify(no_exp)
    tampered = idp.token("r1")[:-4] + "AAAA"
    with pytest.raises(TokenInvalidError):
        v.verify(tampered)
    with pytest.raises(ConfigError, match="audience is required"):
        RemoteJWKSVerifier(idp.url, issuer=ISS, audience=[])


def test_server_down_cached_keys_used_until_expiry(idp: IdP) -> None:
    idp.add_rsa("r1")
    clock = Clock()
    v = verifier(idp, clock, ttl=300, refetch_interval=30)
    token = idp.token("r1")
    v.verify(token)
    idp.stop()
    clock.now += 200  # still cached
    assert v.verify(token).sub == "user-1"
    # An unknown kid tries once (fails: down) and answers "unknown key", cache kept.
    clock.now += 50
    with pytest.raises(TokenInvalidError, match="not in"):
        v.verify(idp.token("r1", headers={"kid": "other"}))
    assert v.verify(token).sub == "user-1"
    clock.now += 100  # expired
    with pytest.raises(ProviderUnavailable, match=r"cannot fetch the JWKS at http://127\.0\.0\.1"):
        v.verify(token)
    attempts = v.fetches
    with pytest.raises(ProviderUnavailable, match="retrying at most every 30s"):
        v.verify(token)
    assert v.fetches == attempts  # not hammered


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>oops</html>", "not JSON"),
        (b'{"nokeys": 1}', 'no "keys" list'),
        (b'{"keys": "x"}', 'no "keys" list'),
        (b"{" + b'"a":' * 1000, "not JSON"),
        (json.dumps({"keys": [{"kty": "RSA"}] * 101}).encode(), "max_keys"),
        (b'{"keys": []}' + b" " * 300_000, "larger than"),
    ],
)
def test_garbage_or_oversized_jwks(idp: IdP, body: bytes, message: str) -> None:
    idp.add_rsa("r1")
    token = idp.token("r1")
    idp.served.body = body
    v = verifier(idp)
    with pytest.raises(ProviderUnavailable, match=message):
        v.verify(token)


def test_garbage_keys_are_skipped(idp: IdP) -> None:
    idp.add_rsa("r1")
    good = json.loads(idp.served.body)["keys"]
    junk = [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "h"},
        {"kty": "RSA", "kid": "enc", "use": "enc"},
        5,
        {"kid": 3, "kty": "EC"},
    ]
    idp.served.body = json.dumps({"keys": junk + good}).encode()
    v = verifier(idp)
    assert v.verify(idp.token("r1")).sub == "user-1"
    assert v.metrics["keys"] == 1


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("max-age=10", 60.0),
        ("public, max-age=600", 600.0),
        ("max-age=999999999", 86_400.0),
        ("no-store", 60.0),
        (None, 300.0),
    ],
)
def test_cache_control_within_bounds(idp: IdP, header: str | None, expected: float) -> None:
    idp.add_rsa("r1")
    idp.served.cache_control = header
    clock = Clock()
    v = verifier(idp, clock)
    v.refresh()
    assert v.metrics["expires_in"] == expected


def test_https_required_except_localhost(idp: IdP) -> None:
    for url in (
        "http://idp.example.com/jwks",
        "ftp://127.0.0.1/jwks",
        "file:///etc/passwd",
        "jwks.json",
    ):
        with pytest.raises(ConfigError, match="must be https://"):
            RemoteJWKSVerifier(url, issuer=ISS, audience=AUD)
    RemoteJWKSVerifier("https://idp.example.com/jwks", issuer=ISS, audience=AUD)
    idp.served.status = 302
    idp.served.location = "http://idp.example.com/jwks"
    with pytest.raises(ConfigError, match="a redirect from the JWKS URL must be https://"):
        verifier(idp).refresh()


def test_not_found_is_unavailable(idp: IdP) -> None:
    idp.served.status = 404
    with pytest.raises(ProviderUnavailable, match="HTTPError"):
        verifier(idp).refresh()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_async_verify(idp: IdP, anyio_backend: str) -> None:
    idp.add_ec("e1")
    v = verifier(idp)
    assert (await v.averify(idp.token("e1", "ES256"))).sub == "user-1"  # fetched in the pool
    assert (await v.averify(idp.token("e1", "ES256"))).sub == "user-1"  # cached, inline
    assert idp.served.hits == 1
    with pytest.raises(TokenInvalidError):
        await v.averify(idp.token("e1", "ES256", aud="other"))


def test_concurrent_cold_verifications_fetch_once(idp: IdP) -> None:
    from concurrent.futures import ThreadPoolExecutor

    idp.add_rsa("r1")
    v = verifier(idp)
    token = idp.token("r1")
    with ThreadPoolExecutor(8) as pool:
        subs = list(pool.map(lambda _: v.verify(token).sub, range(16)))
    assert subs == ["user-1"] * 16
    assert idp.served.hits == 1
