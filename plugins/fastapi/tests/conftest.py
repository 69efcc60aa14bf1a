"""A real uvicorn server per app, on a free 127.0.0.1 port, in a thread of the test process."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.types import ASGIApp

from tests.services._proc import free_port
from tests.unit.config.isolation import isolate


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No tigerseal variable, no .env, fresh process-wide state; audit trail in tmp_path."""
    from tigerseal.audit import reset_auditor
    from tigerseal.ratelimit import reset_rate_limiter

    gen = isolate(monkeypatch, tmp_path)
    workdir = next(gen)
    monkeypatch.setenv("TIGERSEAL_AUDIT_SINKS", f"file://{tmp_path}/audit.jsonl")
    reset_rate_limiter()
    reset_auditor()
    yield workdir
    reset_rate_limiter()
    reset_auditor()
    next(gen, None)


class Server:
    """A uvicorn server running ``app`` in a thread until :meth:`stop`."""

    def __init__(self, app: ASGIApp) -> None:
        self.port = free_port()
        # proxy_headers=False: the app decides which forwarding headers to believe.
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            proxy_headers=False,
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn exited before it started (port taken?)")
            self.thread.join(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def serve() -> Iterator[Callable[[ASGIApp], str]]:
    """``serve(app)`` starts a real server for ``app`` and returns its base URL."""
    servers: list[Server] = []

    def start(app: ASGIApp) -> str:
        server = Server(app).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()
