"""Session fixture for redis (see tests/services/__init__.py).

``redis_server`` starts one ``redis-server`` on a free 127.0.0.1 port (no persistence), records
its PID and stops it by PID at the end of the session. Tests may :meth:`RedisServer.kill` it
(SIGKILL, as a crash), :meth:`~RedisServer.pause` it (SIGSTOP, a hung server) and
:meth:`~RedisServer.restart` it on the same port. ``redis_url`` gives each test an empty
server that is running.
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.services._proc import ServiceProcess, free_port, port_open, require_binary, wait_for

__all__ = ["RedisServer", "redis_server", "redis_url"]


@dataclass
class RedisServer:
    """A redis-server child process on 127.0.0.1."""

    binary: str
    workdir: Path
    port: int = field(default_factory=free_port)
    proc: ServiceProcess | None = None
    paused: bool = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> RedisServer:
        argv = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(self.workdir),
        ]  # fmt: skip
        self.proc = ServiceProcess("redis", argv, self.workdir / "redis.log").start()
        proc = self.proc

        def ready() -> bool:
            if not proc.alive():
                raise RuntimeError(f"redis-server exited:\n{proc.log_tail()}")
            return self.ping()

        wait_for(ready, 10.0, f"redis-server on port {self.port}")
        return self

    def ping(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def kill(self) -> None:
        """SIGKILL: every connection drops, all data is gone (no persistence)."""
        if self.proc is not None:
            self.resume()
            self.proc.kill()
        wait_for(lambda: not port_open(self.port), 5.0, "redis port to close")

    def restart(self) -> None:
        """Start again on the same port (after :meth:`kill`)."""
        if self.proc is not None and self.proc.alive():
            self.proc.stop()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: the port stays open but nothing answers (a hung server)."""
        if self.pid is not None and not self.paused:
            os.kill(self.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.pid is not None and self.paused:
            os.kill(self.pid, signal.SIGCONT)
            self.paused = False

    def ensure_running(self) -> None:
        self.resume()
        if self.proc is None or not self.proc.alive():
            self.start()

    def stop(self) -> None:
        if self.proc is not None:
            self.resume()
            self.proc.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server for the whole session, stopped by PID at the end."""
    binary = require_binary("redis-server", "apt-get install redis-server")
    with tempfile.TemporaryDirectory(prefix="tigerseal-redis-") as workdir:
        server = RedisServer(binary, Path(workdir)).start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """URL of a running, empty redis-server (restarted if a previous test killed it)."""
    redis_server.ensure_running()
    client = redis_server.client()
    try:
        client.flushall()
        client.script_flush()
    finally:
        client.close()
    yield redis_server.url
    redis_server.ensure_running()
