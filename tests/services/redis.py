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
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.services._proc import ServiceProcess, free_port, port_open, require_binary, wait_for

__all__ = [
    "RedisCluster",
    "RedisServer",
    "redis_cluster",
    "redis_sentinel",
    "redis_server",
    "redis_url",
]


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


@pytest.fixture
def redis_sentinel(redis_server: RedisServer) -> Iterator[str]:
    """A redis-sentinel monitoring the session server as ``mymaster``; yields its URI."""
    binary = redis_server.binary
    with tempfile.TemporaryDirectory(prefix="tigerseal-sentinel-") as workdir:
        port = free_port()
        conf = Path(workdir) / "sentinel.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
            f"sentinel monitor mymaster 127.0.0.1 {redis_server.port} 1\n"
            "sentinel down-after-milliseconds mymaster 60000\n"
        )
        proc = ServiceProcess(
            "redis-sentinel", [binary, str(conf), "--sentinel"], Path(workdir) / "sentinel.log"
        ).start()
        try:
            import redis

            def ready() -> bool:
                if not proc.alive():
                    raise RuntimeError(f"redis-sentinel exited:\n{proc.log_tail()}")
                client = redis.Redis(port=port, socket_timeout=0.5)
                try:
                    addr = client.execute_command("SENTINEL", "get-master-addr-by-name", "mymaster")
                    return bool(addr)
                finally:
                    client.close()

            wait_for(ready, 10.0, f"redis-sentinel on port {port}")
            yield f"redis+sentinel://127.0.0.1:{port}/mymaster/0"
        finally:
            proc.stop()


@dataclass
class RedisCluster:
    """Three master nodes, no replicas, slots spread by ``redis-cli --cluster create``."""

    ports: list[int]
    procs: list[ServiceProcess]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}?cluster=1"

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is valid and free too."""
    import socket

    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A 3-node Redis Cluster on 127.0.0.1, started on first use, stopped by PID."""
    binary = require_binary("redis-server", "apt-get install redis-server")
    cli = require_binary("redis-cli", "apt-get install redis-tools")
    with tempfile.TemporaryDirectory(prefix="tigerseal-rcluster-") as workdir:
        ports = [_cluster_port() for _ in range(3)]
        cluster = RedisCluster(ports, [])
        try:
            for port in ports:
                argv = [
                    binary,
                    "--port", str(port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", f"nodes-{port}.conf",
                    "--dir", workdir,
                ]  # fmt: skip
                log = Path(workdir) / f"redis-{port}.log"
                cluster.procs.append(ServiceProcess(f"redis-{port}", argv, log).start())
            for port in ports:
                wait_for(lambda p=port: port_open(p), 10.0, f"cluster node {port}")
            subprocess.run(
                [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
                 "--cluster-replicas", "0", "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=60,
            )  # fmt: skip

            def ok() -> bool:
                import redis

                for port in ports:
                    client = redis.Redis(port=port, socket_timeout=0.5)
                    try:
                        if client.cluster("info").get("cluster_state") != "ok":
                            return False
                    finally:
                        client.close()
                return True

            wait_for(ok, 30.0, "redis cluster state ok")
            yield cluster
        finally:
            cluster.stop()
