"""Session fixture for postgres (see tests/services/__init__.py).

``postgres_server`` creates a throwaway cluster with ``initdb`` in a temporary directory and
runs ``postgres`` on a free 127.0.0.1 port, with its unix socket in the same directory. Both
refuse to run as root, so under root (CI) they run as the system user ``tigerseal-pg`` (created
with ``useradd`` if missing) through ``runuser``. The PID is recorded and the server stopped by
PID (SIGINT: fast shutdown) at the end of the session. ``pg_url`` gives each test a fresh
database.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.services._proc import ServiceProcess, free_port, require_binary, wait_for

__all__ = ["PostgresServer", "pg_url", "postgres_server"]

PG_USER = "tigerseal-pg"  # OS user that owns the cluster when tests run as root
DB_SUPERUSER = "tigerseal"  # database superuser created by initdb (trust auth, local only)


def pg_bin(name: str) -> str:
    """Path of a PostgreSQL server binary: Debian's versioned directory first."""
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    return require_binary(name, "apt-get install postgresql")


def _ensure_os_user() -> str | None:
    """The user to run the server as (None: the current, non-root user)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
            check=True,
            capture_output=True,
        )
    return PG_USER


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1."""

    root: Path
    port: int
    user: str | None
    proc: ServiceProcess | None = None
    _counter: int = 0

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3 driver) of a database on this server."""
        return f"postgresql+psycopg://{DB_SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={DB_SUPERUSER} dbname={database}"

    def _run(self, argv: list[str]) -> None:
        if self.user is not None:
            argv = ["runuser", "-u", self.user, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed:\n{done.stdout}\n{done.stderr}")

    def init(self) -> PostgresServer:
        if self.user is not None:
            shutil.chown(self.root, self.user)
        self._run(
            [
                pg_bin("initdb"),
                "-D", str(self.datadir),
                "-U", DB_SUPERUSER,
                "--auth=trust",
                "-E", "UTF8",
                "--no-sync",
            ]
        )  # fmt: skip
        return self

    def start(self) -> PostgresServer:
        argv = [
            pg_bin("postgres"),
            "-D", str(self.datadir),
            "-p", str(self.port),
            "-k", str(self.root),
            "-c", "listen_addresses=127.0.0.1",
            # A test cluster: durability is not what is under test, speed is welcome.
            "-c", "fsync=off",
            "-c", "full_page_writes=off",
            "-c", "synchronous_commit=off",
            "-c", "max_connections=200",
        ]  # fmt: skip
        self.proc = ServiceProcess(
            "postgres", argv, self.root / "postgres.log", cwd=self.root, user=self.user
        ).start()
        proc = self.proc

        def ready() -> bool:
            if not proc.alive():
                raise RuntimeError(f"postgres exited:\n{proc.log_tail()}")
            import psycopg

            with psycopg.connect(self.dsn(), connect_timeout=2):
                return True

        wait_for(ready, 30.0, f"postgres on port {self.port}")
        return self

    def create_database(self) -> str:
        """Create an empty database; return its SQLAlchemy URL."""
        import psycopg

        self._counter += 1
        name = f"t{os.getpid()}_{self._counter}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.proc is None or self.proc.pid is None:
            return
        # SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for every client to leave).
        pid_file = self.datadir / "postmaster.pid"
        try:
            postmaster = int(pid_file.read_text().splitlines()[0])
            os.kill(postmaster, signal.SIGINT)
            wait_for(lambda: not pid_file.exists(), 15.0, "postgres shutdown")
        except (OSError, ValueError, IndexError, RuntimeError):
            pass
        self.proc.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster for the session, stopped by PID at the end."""
    pg_bin("initdb")
    user = _ensure_os_user()
    root = Path(tempfile.mkdtemp(prefix="tigerseal-pg-"))
    server = PostgresServer(root, free_port(), user)
    try:
        server.init().start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """SQLAlchemy URL of a fresh, empty database on the session cluster."""
    return postgres_server.create_database()
