"""Bounded decrypts against hung endpoints, and bare HTTP 403s.

A local socket that accepts connections and never answers stands in for a hung KMS endpoint;
a local HTTP server answers ``403 Forbidden`` with no KMS error body (what a proxy, a VPC
endpoint policy or a WAF sends). The connection counts prove the bound: no elapsed time is
asserted (a loaded machine only makes fewer attempts fit in the deadline).
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tigerseal.errors import AccessDenied, ConfigError, ProviderUnavailable
from tigerseal.plugins import key_provider_from_uri
from tigerseal.spi import WrappedKey

from .conftest import REGION

pytestmark = [pytest.mark.integration, pytest.mark.aws_kms]

ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CTX = {"tenant": "t-1"}


@pytest.fixture
def black_hole() -> Iterator[tuple[int, Callable[[], int]]]:
    """``(port, connections)``: a local port that accepts TCP connections and never answers.

    Nothing calls ``accept()`` while the test runs: the kernel completes each handshake and
    queues the connection, and ``connections()`` drains the queue and counts every connection
    made so far. No thread has to be scheduled in time for a connection to be counted.
    """
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.setblocking(False)
    accepted: list[socket.socket] = []

    def connections() -> int:
        while True:
            try:
                conn, _ = server.accept()
            except BlockingIOError:
                return len(accepted)
            accepted.append(conn)

    try:
        yield server.getsockname()[1], connections
    finally:
        connections()
        for conn in accepted:
            conn.close()
        server.close()


def test_alias_decrypt_against_a_hung_endpoint_is_bounded(
    aws_env: None, black_hole: tuple[int, Callable[[], int]]
) -> None:
    """owns() then unwrap() (what the envelope does): one DescribeKey, at most two attempts."""
    port, connections = black_hole
    p = key_provider_from_uri(
        f"aws-kms://alias/app?region={REGION}&endpoint_url=http://127.0.0.1:{port}"
        "&connect_timeout=0.5&read_timeout=0.5&max_attempts=5&deadline=2"
    )
    wrapped = WrappedKey("aws-kms", ARN, 0, b"x" * 64)
    assert p.owns(wrapped)  # resolution fails: claims ARNs of its region
    with pytest.raises(ProviderUnavailable) as info:
        p.unwrap(wrapped, CTX)
    assert p.kms_calls() == {"DescribeKey": 1}, "the failed resolution is not repeated"
    # 2 s deadline, 1 s worst case per attempt: a third attempt can never start (without the
    # deadline: 5 attempts). The counts prove the bound; no elapsed time is asserted.
    assert 1 <= connections() <= 2
    assert "deadline=2" in str(info.value) or "timed out" in str(info.value)


def test_deadline_stops_retries_of_a_hung_call(
    aws_env: None, black_hole: tuple[int, Callable[[], int]]
) -> None:
    port, connections = black_hole
    p = key_provider_from_uri(
        f"aws-kms://{ARN}?endpoint_url=http://127.0.0.1:{port}"
        "&connect_timeout=0.5&read_timeout=0.5&max_attempts=10&deadline=1.5"
    )
    with pytest.raises(ProviderUnavailable, match=r"deadline=1\.5s"):
        p.generate_data_key(CTX)
    assert 1 <= connections() <= 1 + 1  # the first attempt, at most one retry that fits


def test_deadline_must_cover_one_attempt(aws_env: None) -> None:
    with pytest.raises(ConfigError, match="deadline"):
        key_provider_from_uri(f"aws-kms://{ARN}?connect_timeout=2&read_timeout=3&deadline=4")


class _Forbidden(http.server.BaseHTTPRequestHandler):
    """Answers every request with a bare 403, as a proxy or VPC endpoint policy does."""

    body = b"Forbidden"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(403, "Forbidden")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def forbidden() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Forbidden)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("operation", ["GenerateDataKey", "Decrypt"])
def test_bare_403_is_access_denied_with_its_cause(
    aws_env: None, forbidden: int, operation: str
) -> None:
    p = key_provider_from_uri(f"aws-kms://{ARN}?endpoint_url=http://127.0.0.1:{forbidden}")

    def call() -> object:
        if operation == "Decrypt":
            return p.unwrap(WrappedKey("aws-kms", ARN, 0, b"x" * 64), CTX)
        return p.generate_data_key(CTX)

    with pytest.raises(AccessDenied) as info:
        call()
    message = str(info.value)
    assert "403" in message
    assert "Forbidden" in message
    assert operation in message
    assert "proxy" in message or "endpoint policy" in message  # where to look
