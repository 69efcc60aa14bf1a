"""Transient answers (503, 429, 502) are retried with jittered backoff within the timeout.

A local HTTP proxy sits in front of the real OpenBao server. For requests whose path contains
a chosen fragment, it answers a chosen status the first N times (with a Vault-style JSON
error body), then forwards to OpenBao; everything else passes through. Non-transient 4xx
answers and non-idempotent requests are not retried.
"""

from __future__ import annotations

import http.client
import http.server
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from tigerseal.errors import ProviderUnavailable, TigerSealError
from tigerseal_vault._provider import VaultTransitProvider
from tigerseal_vault._transport import MAX_ATTEMPTS

from tests.services.vault import VaultServer

pytestmark = [pytest.mark.integration, pytest.mark.vault]

MakeProvider = Callable[..., VaultTransitProvider]


@dataclass
class FaultPlan:
    """Answer ``status`` to the first ``times`` requests whose path contains ``fragment``."""

    fragment: str = "\0"
    status: int = 503
    times: int = 0
    seen: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, path: str) -> int | None:
        if self.fragment not in path:
            return None
        with self.lock:
            self.seen.append(path)
            if len(self.seen) <= self.times:
                return self.status
        return None


@pytest.fixture
def faulty_proxy(vault_server: VaultServer) -> Iterator[tuple[str, FaultPlan]]:
    """``(addr, plan)``: a proxy to the session's OpenBao that injects the plan's faults."""
    upstream = urlsplit(vault_server.addr)
    plan = FaultPlan()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = plan.take(self.path)
            if status is not None:
                payload = json.dumps({"errors": [f"injected {status}"]}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", plan
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("status", [503, 429, 502, 500])
def test_transient_answers_are_retried_until_they_pass(
    vault_server: VaultServer,
    make_provider: MakeProvider,
    faulty_proxy: tuple[str, FaultPlan],
    status: int,
) -> None:
    addr, plan = faulty_proxy
    provider = make_provider(vault_server.create_key(), addr=addr, timeout=10)
    value = secrets.token_bytes(32)
    wrapped = provider.wrap(value, {"a": "1"})
    plan.fragment, plan.status, plan.times = "/decrypt/", status, 2
    assert provider.unwrap(wrapped, {"a": "1"}) == value
    assert len(plan.seen) == 3, "two injected failures, then the real answer"


def test_persistent_503_gives_up_within_the_timeout(
    vault_server: VaultServer, make_provider: MakeProvider, faulty_proxy: tuple[str, FaultPlan]
) -> None:
    addr, plan = faulty_proxy
    # The pauses before the 2nd..4th send add up to at most 0.2 + 0.4 + 0.8 s: a 5 s timeout
    # leaves a loaded machine room for the retry the lower bound needs.
    provider = make_provider(vault_server.create_key(), addr=addr, timeout=5)
    wrapped = provider.wrap(secrets.token_bytes(32), {})
    plan.fragment, plan.status, plan.times = "/decrypt/", 503, 1000
    with pytest.raises(ProviderUnavailable, match="HTTP 503") as info:
        provider.unwrap(wrapped, {})
    assert 2 <= len(plan.seen) <= MAX_ATTEMPTS, "retried, but a bounded number of times"
    assert "attempts" in str(info.value)


@pytest.mark.parametrize("status", [400, 403, 404])
def test_non_transient_answers_are_not_retried(
    vault_server: VaultServer,
    make_provider: MakeProvider,
    faulty_proxy: tuple[str, FaultPlan],
    status: int,
) -> None:
    addr, plan = faulty_proxy
    provider = make_provider(vault_server.create_key(), addr=addr)
    wrapped = provider.wrap(secrets.token_bytes(32), {})
    plan.fragment, plan.status, plan.times = "/decrypt/", status, 1000
    with pytest.raises(TigerSealError):
        provider.unwrap(wrapped, {})
    assert len(plan.seen) == 1


def test_non_idempotent_rotate_is_not_retried_on_502(
    vault_server: VaultServer, make_provider: MakeProvider, faulty_proxy: tuple[str, FaultPlan]
) -> None:
    """A 502 may come after the server acted: rotating twice would skip a version."""
    addr, plan = faulty_proxy
    provider = make_provider(vault_server.create_key(), addr=addr)
    plan.fragment, plan.status, plan.times = "/rotate", 502, 1
    with pytest.raises(ProviderUnavailable):
        provider.rotate()
    assert len(plan.seen) == 1
