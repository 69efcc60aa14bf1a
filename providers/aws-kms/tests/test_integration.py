"""Integration: the aws-kms provider over real HTTP against ``moto_server`` (and dead endpoints).

These exercise botocore's real transport: signing, JSON protocol, retries, connect and read
timeouts. Faults moto does not model are injected at the HTTP layer with ``before-send`` hooks
(throttling, a disabled key refusing calls) or with local sockets (a black hole that accepts
and never answers, a closed port).

Bounds on elapsed time are generous ("never a hang"), not performance assertions.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from tigerseal.envelope import CachePolicy, EncryptionService
from tigerseal.errors import (
    ContextMismatchError,
    DecryptionError,
    KeyDisabled,
    NoMatchingKeyError,
    ProviderUnavailable,
)
from tigerseal.plugins import key_provider_from_uri, token_signer_from_uri

from tests.services._proc import free_port
from tests.services.moto import MotoServer

from .conftest import OTHER_REGION, REGION, create_key

pytestmark = [pytest.mark.integration, pytest.mark.aws_kms]

CTX = {"tenant": "t-1", "row": "42"}


def http_provider(moto: MotoServer, key: str, region: str = REGION, **options: Any) -> Any:
    return key_provider_from_uri(
        f"aws-kms://{key}",
        region=region,
        endpoint_url=moto.endpoint_url,
        connect_timeout=2,
        read_timeout=10,
        **options,
    )


def test_the_server_runs_as_a_recorded_child_process(moto: MotoServer) -> None:
    assert moto.pid is not None
    assert moto.process.alive()
    assert moto.endpoint_url.startswith("http://127.0.0.1:")


def test_round_trip_alias_and_context_mismatch(moto: MotoServer) -> None:
    arn = create_key(moto.client(REGION), alias="alias/tiger-creds")
    p = http_provider(moto, "alias/tiger-creds")
    svc = EncryptionService(p)
    ed = svc.encrypt("broker private key", CTX)
    assert ed.wrapped_keys[0].key_id == arn
    assert ed.key_version == 0
    assert svc.decrypt_to_string(ed, CTX) == "broker private key"
    with pytest.raises(ContextMismatchError):
        svc.decrypt(ed, {"tenant": "t-2", "row": "42"})
    # Below the envelope, KMS itself refuses the wrong context.
    with pytest.raises(DecryptionError):
        p.unwrap(ed.wrapped_keys[0], {"tenant": "t-2", "row": "42"})


def test_wrong_key_is_refused(moto: MotoServer) -> None:
    client = moto.client(REGION)
    mine = http_provider(moto, create_key(client))
    theirs = http_provider(moto, create_key(client))
    ed = EncryptionService(theirs).encrypt(b"x", CTX)
    with pytest.raises(NoMatchingKeyError):
        EncryptionService(mine).decrypt(ed, CTX)


def test_two_keys_in_two_regions_on_one_message(moto: MotoServer) -> None:
    east = http_provider(moto, create_key(moto.client(REGION)))
    west = http_provider(moto, create_key(moto.client(OTHER_REGION)), region=OTHER_REGION)
    ed = EncryptionService([east, west]).encrypt(b"two regions", CTX)
    assert [w.key_id.split(":")[3] for w in ed.wrapped_keys] == [REGION, OTHER_REGION]
    assert EncryptionService([west]).decrypt(ed, CTX) == b"two regions"
    assert EncryptionService([east]).decrypt(ed, CTX) == b"two regions"
    assert east.kms_calls() == {"GenerateDataKey": 1, "Decrypt": 1}
    assert west.kms_calls() == {"Encrypt": 1, "Decrypt": 1}


def test_rewrap_with_reencrypt_and_rotation(moto: MotoServer) -> None:
    arn = create_key(moto.client(REGION))
    p = http_provider(moto, arn)
    svc = EncryptionService(p)
    ed = svc.encrypt(b"rotate me", CTX)
    assert p.rotate() == 0
    p.enable_automatic_rotation(365)
    assert p.rotation_status().automatic
    moved = svc.rewrap(ed)
    assert bytes(moved) != bytes(ed)
    assert moved.wrapped_keys[0].key_id == arn
    assert p.kms_calls()["ReEncrypt"] == 1
    assert svc.decrypt(moved, CTX) == svc.decrypt(ed, CTX) == b"rotate me"
    status = p.health_check()
    assert status.ok
    assert "automatic rotation every 365 days" in status.detail


def test_disabled_key_is_reported_with_a_remedy(moto: MotoServer) -> None:
    client = moto.client(REGION)
    arn = create_key(client, alias="alias/off")
    client.disable_key(KeyId=arn.rsplit("/", 1)[1])
    with pytest.raises(KeyDisabled, match="enable-key"):
        EncryptionService(http_provider(moto, "alias/off")).encrypt(b"x", CTX)
    # moto keeps serving a disabled key by ARN; real KMS answers DisabledException, injected
    # here at the HTTP layer so botocore parses a real error response.
    p = http_provider(moto, arn)
    inject_error(p, "DisabledException", "arn is disabled.", status=400)
    with pytest.raises(KeyDisabled, match="enable-key"):
        p.generate_data_key(CTX)


def inject_error(p: Any, code: str, message: str, *, status: int, times: int = 1000) -> list[int]:
    """Answer the provider's next ``times`` HTTP attempts with a KMS JSON error."""
    from botocore.awsrequest import AWSResponse

    attempts: list[int] = []
    body = json.dumps({"__type": code, "message": message}).encode()

    class _Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        attempts.append(1)
        if len(attempts) > times:
            return None
        return AWSResponse(request.url, status, {"x-amzn-errortype": code}, _Raw())

    p._client.meta.events.register("before-send.kms", before_send)
    return attempts


def test_throttling_is_retried_then_unavailable(moto: MotoServer) -> None:
    p = http_provider(moto, create_key(moto.client(REGION)), max_attempts=4)
    attempts = inject_error(p, "ThrottlingException", "Rate exceeded", status=400)
    with pytest.raises(ProviderUnavailable, match="throttled"):
        p.generate_data_key(CTX)
    assert len(attempts) == 4  # botocore retried up to max_attempts, then gave up


def test_throttling_that_clears_succeeds(moto: MotoServer) -> None:
    p = http_provider(moto, create_key(moto.client(REGION)), max_attempts=3)
    attempts = inject_error(p, "ThrottlingException", "Rate exceeded", status=400, times=2)
    dk = p.generate_data_key(CTX)
    assert len(attempts) == 3
    assert p.unwrap(dk.wrapped, CTX) == dk.plaintext


def test_server_errors_are_retried_then_unavailable(moto: MotoServer) -> None:
    p = http_provider(moto, create_key(moto.client(REGION)), max_attempts=2)
    attempts = inject_error(p, "KMSInternalException", "boom", status=500)
    with pytest.raises(ProviderUnavailable, match="transient"):
        p.generate_data_key(CTX)
    assert len(attempts) == 2


@pytest.fixture
def black_hole() -> Iterator[tuple[int, list[socket.socket]]]:
    """A local port that accepts TCP connections and never answers."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)  # held open, never read or answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        server.close()


def test_black_hole_endpoint_times_out_as_unavailable(
    black_hole: tuple[int, list[socket.socket]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.services.moto import FAKE_ENV

    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)
    port, accepted = black_hole
    arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    p = key_provider_from_uri(
        f"aws-kms://{arn}?endpoint_url=http://127.0.0.1:{port}"
        "&connect_timeout=0.5&read_timeout=0.5&max_attempts=2"
    )
    start = time.monotonic()
    with pytest.raises(ProviderUnavailable, match="timed out") as info:
        p.generate_data_key(CTX)
    elapsed = time.monotonic() - start
    assert "read_timeout=0.5s" in str(info.value)
    assert len(accepted) == 2  # one connection per attempt, no more
    # Generous bound: worst case is 2 x (0.5 + 0.5) s plus one backoff sleep; a hang is not.
    assert elapsed < 30
    status = p.health_check()
    assert not status.ok
    assert "ProviderUnavailable" in status.detail


def test_closed_port_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.services.moto import FAKE_ENV

    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)
    port = free_port()  # nothing listens there
    p = key_provider_from_uri(
        f"aws-kms://alias/x?region={REGION}&endpoint_url=http://127.0.0.1:{port}"
        "&connect_timeout=0.5&read_timeout=0.5&max_attempts=2"
    )
    start = time.monotonic()
    with pytest.raises(ProviderUnavailable, match="could not be reached"):
        p.generate_data_key(CTX)
    assert time.monotonic() - start < 30
    # The envelope surfaces the outage, not a misleading "no matching key".
    ed_key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    from tigerseal.spi import WrappedKey

    assert p.owns(WrappedKey("aws-kms", ed_key, 0, b"x" * 64))


def test_cache_makes_at_most_one_generate_per_window(moto: MotoServer) -> None:
    p = http_provider(moto, create_key(moto.client(REGION)))
    svc = EncryptionService(p, cache=CachePolicy(max_age=300, max_messages=50))
    messages = [svc.encrypt(b"m%d" % i, CTX) for i in range(120)]
    assert p.kms_calls()["GenerateDataKey"] == 3  # ceil(120 / 50) windows
    assert svc.metrics["generate"] == 3
    assert svc.metrics["cache_hits"] == 117
    reader = EncryptionService(http_provider(moto, p.key_id), cache=CachePolicy(decrypt_ttl=300))
    assert [reader.decrypt(m, CTX) for m in messages] == [b"m%d" % i for i in range(120)]
    assert reader.metrics["unwrap"] == 3


def test_threads_share_one_provider_over_http(moto: MotoServer) -> None:
    p = http_provider(moto, create_key(moto.client(REGION)))
    svc = EncryptionService(p)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(5):
                ctx = {"thread": str(n), "i": str(i)}
                assert svc.decrypt(svc.encrypt(b"%d-%d" % (n, i), ctx), ctx) == b"%d-%d" % (n, i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert p.kms_calls() == {"GenerateDataKey": 40, "Decrypt": 40}


def test_kms_signed_jwt_verifies_with_pyjwt_and_joserfc(moto: MotoServer) -> None:
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import ECKey

    meta = moto.client(REGION).create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    signer = token_signer_from_uri(
        f"aws-kms://{meta['KeyMetadata']['Arn']}?endpoint_url={moto.endpoint_url}"
    )
    header = {"alg": "ES256", "typ": "JWT", "kid": signer.kid}
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")  # noqa: E731
    signing_input = b64(json.dumps(header).encode()) + b"." + b64(b'{"sub":"acct-1"}')
    token = (signing_input + b"." + b64(signer.sign(signing_input))).decode()
    jwk = signer.public_jwk()
    assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["ES256"]) == {"sub": "acct-1"}
    decoded = jose_jwt.decode(token, ECKey.import_key(jwk), algorithms=["ES256"])
    assert decoded.claims == {"sub": "acct-1"}
