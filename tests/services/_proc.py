"""Start, wait for and stop a local service process by PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_binary(name: str, hint: str) -> str:
    """Path of ``name``; fail (or skip when explicitly allowed) with ``hint`` if missing."""
    path = shutil.which(name)
    if path is None:
        for extra in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
            candidate = Path(extra) / name
            if candidate.exists():
                return str(candidate)
        msg = f"{name} not found: {hint} (scripts/test.sh installs it)"
        if os.environ.get("TIGERSEAL_SKIP_MISSING_SERVICES") == "1":
            pytest.skip(msg)
        pytest.fail(msg)
    return path


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until it returns true; fail the test run after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready after {timeout}s (last error: {last!r})")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


@dataclass
class ServiceProcess:
    """A child process started for the tests and stopped by PID.

    Attributes:
        name: label for messages.
        argv: command line.
        env: extra environment.
        log_path: where stdout/stderr go (read it when the service fails to start).
    """

    name: str
    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    user: str | None = None
    pid: int | None = None
    _proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        argv = list(self.argv)
        if self.user is not None and os.geteuid() == 0:
            argv = ["runuser", "-u", self.user, "--", *argv]
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            cwd=self.cwd,
            start_new_session=True,  # own process group: stopping it stops its children
        )
        log.close()
        self.pid = self._proc.pid
        return self

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL after ``timeout``."""
        if self.pid is None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                break
            if self._proc is not None:
                try:
                    self._proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.pid = None

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            if self._proc is not None:
                self._proc.wait(5)
            self.pid = None
