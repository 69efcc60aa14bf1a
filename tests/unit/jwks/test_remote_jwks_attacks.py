"""RemoteJWKSVerifier under attack: hostile key sets, headers and servers (red-team review)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from tigerseal.errors import ConfigError, ProviderUnavailable, TokenInvalidError
from tigerseal.tokens import RemoteJWKSVerifier

from tests.unit.jwks.test_remote_jwks import AUD, ISS, Clock, IdP, idp, verifier

__all__ = ["idp"]


def test_key_ops_without_verify_is_not_used(idp: IdP) -> None:
    idp.add_rsa("r1")
    idp.keys["r1"][1]["key_ops"] = ["encrypt"]
    idp.keys["r1"][1].pop("use")
    idp.publish()
    with pytest.raises(TokenInvalidError, match="not in"):
        verifier(idp).verify(idp.token("r1"))


def test_rsa_key_under_2048_bits_is_refused(idp: IdP) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weak key under test
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(weak.public_key()))
    jwk.update(kid="weak", use="sig", alg="RS256")
    idp.keys["weak"] = (weak, jwk)
    idp.publish()
    with warnings.catch_warnings():  # PyJWT warns when signing with it (the IdP's side)
        warnings.simplefilter("ignore")
        token = idp.token("weak")
    with pytest.raises(TokenInvalidError, match="1024 bits; at least 2048"):
        verifier(idp).verify(token)


def test_crit_header_is_refused(idp: IdP) -> None:
    idp.add_rsa("r1")
    token = idp.token("r1", headers={"crit": ["exp"], "b64": False})
    with pytest.raises(TokenInvalidError):
        verifier(idp).verify(token)


@contextlib.contextmanager
def raw_server(
    script: Callable[[socket.socket], None], *, read_request: bool = True
) -> Iterator[str]:
    """A one-connection-at-a-time HTTP server whose answer ``script`` writes by hand."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                if read_request:
                    conn.recv(65536)  # the request
                with contextlib.suppress(OSError):
                    script(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/jwks.json"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def jwks_of(idp: IdP) -> bytes:
    idp.add_rsa("r1")
    return idp.served.body


def test_slow_loris_jwks_server_hits_a_total_deadline(idp: IdP) -> None:
    body = jwks_of(idp)
    token = idp.token("r1")

    def drip(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), len(body) // 15):  # each piece well inside `timeout`
            conn.sendall(body[i : i + len(body) // 15])
            time.sleep(0.1)

    with raw_server(drip) as url:
        v = RemoteJWKSVerifier(url, issuer=ISS, audience=AUD, timeout=0.5)
        with pytest.raises(ProviderUnavailable, match=r"within 0.5s"):
            v.verify(token)


def test_redirect_to_http_is_not_refetched_on_every_request(idp: IdP) -> None:
    idp.add_rsa("r1")
    token = idp.token("r1")
    idp.served.status = 302
    idp.served.location = "http://idp.example.com/jwks"
    v = verifier(idp)
    for _ in range(5):
        with pytest.raises((ConfigError, ProviderUnavailable)):
            v.verify(token)
    assert idp.served.hits == 1


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_random_kids_during_a_fetch_do_not_take_the_io_pool(
    idp: IdP, anyio_backend: str
) -> None:
    import asyncio

    from tigerseal import aio

    idp.add_rsa("r1")
    idp.add_rsa("new")
    bodies = [idp.served.body]
    idp.publish(["r1"])
    bodies.insert(0, idp.served.body)  # first fetch: r1 only; second: r1 and new
    gate = threading.Event()
    gate.set()

    def fetch(url: str) -> tuple[bytes, str | None]:
        assert gate.wait(10)
        return bodies.pop(0), None

    clock = Clock()
    v = RemoteJWKSVerifier(
        idp.url, issuer=ISS, audience=AUD, clock=clock, fetch=fetch, refetch_interval=30
    )
    v.verify(idp.token("r1"))
    clock.now += 31
    gate.clear()  # the identity provider is slow now
    saved = dict(aio._pools._sizes)
    aio.configure(io_threads=2)
    try:
        rotation = threading.Thread(target=v.verify, args=(idp.token("new"),))
        rotation.start()  # a fetch for the new kid, in progress
        while v.fetches < 2:
            await asyncio.sleep(0.01)
        forged = [idp.token("r1", headers={"kid": f"rnd{i}"}) for i in range(20)]
        attack = [asyncio.ensure_future(v.averify(t)) for t in forged]
        await asyncio.sleep(0.05)
        # The I/O pool still serves a KMS call while the fetch hangs.
        assert await asyncio.wait_for(aio.run_io(lambda: "kms"), 5) == "kms"
        gate.set()
        results = await asyncio.gather(*attack, return_exceptions=True)
        assert all(isinstance(r, TokenInvalidError) for r in results)
        rotation.join(5)
        assert (await v.averify(idp.token("new"))).sub == "user-1"
        assert v.fetches == 2
    finally:
        gate.set()
        aio.shutdown()
        aio._pools._sizes.update(saved)


def test_a_kid_reused_for_two_keys_picks_the_one_fitting_the_algorithm(idp: IdP) -> None:
    idp.add_rsa("k")
    idp.add_ec("e")
    rsa_jwk, ec_jwk = idp.keys["k"][1], dict(idp.keys["e"][1], kid="k")
    idp.served.body = json.dumps({"keys": [rsa_jwk, ec_jwk]}).encode()
    ec_token = jwt.encode(
        {"iss": ISS, "aud": AUD, "exp": int(time.time()) + 60},
        idp.keys["e"][0],
        algorithm="ES256",
        headers={"kid": "k"},
    )
    v = verifier(idp)
    assert v.verify(ec_token).sub is None
    assert v.verify(idp.token("k")).sub == "user-1"
    assert v.metrics["keys"] == 2


def _tls_files(tmp_path: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (and its key), written to ``tmp_path``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def test_slow_loris_over_https_hits_the_deadline_too(
    idp: IdP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ssl

    body = jwks_of(idp)
    token = idp.token("r1")
    cert, key = _tls_files(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # the default context trusts the test's CA
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)

    def drip(conn: socket.socket) -> None:
        with server_context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(65536)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
            for i in range(0, len(body), len(body) // 15):
                tls.sendall(body[i : i + len(body) // 15])
                time.sleep(0.1)

    with raw_server(drip, read_request=False) as url:
        https = url.replace("http://", "https://")
        v = RemoteJWKSVerifier(https, issuer=ISS, audience=AUD, timeout=0.5)
        with pytest.raises(ProviderUnavailable, match=r"within 0.5s"):
            v.verify(token)
