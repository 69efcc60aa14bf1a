"""Session fixture for moto: a real ``moto_server`` on 127.0.0.1, spoken to over HTTP.

* ``moto_server`` (session): starts the server from the virtualenv (next to ``sys.executable``,
  else on ``PATH``) on a free port, waits until it answers, records its PID and stops it by PID
  at the end of the session.
* ``moto`` (function): the same server, reset (``POST /moto-api/reset``) before the test so no
  keys leak between tests, with fake credentials in the environment and the shared AWS config
  files and the instance-metadata lookup switched off (nothing of the developer's leaks in).
"""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.services._proc import ServiceProcess, free_port, require_binary, wait_for

#: Fake credentials: moto accepts any; real AWS would reject them.
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_CONFIG_FILE": "/nonexistent/tigerseal-tests/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/tigerseal-tests/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class MotoServer:
    """A running ``moto_server``.

    Attributes:
        endpoint_url: ``http://127.0.0.1:PORT``.
        port: its TCP port.
        process: the process (stopped by PID by the session fixture).
    """

    endpoint_url: str
    port: int
    process: ServiceProcess

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def reset(self) -> None:
        """Forget every resource (keys, aliases) in every region and account."""
        url = f"{self.endpoint_url}/moto-api/reset"
        req = urllib.request.Request(url, method="POST")  # noqa: S310 - local http
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - local http
            resp.read()

    def client(self, region: str = "us-east-1", **config: Any) -> Any:
        """A boto3 KMS client for this server (fake credentials, short timeouts)."""
        import boto3
        from botocore.config import Config

        cfg = Config(
            connect_timeout=config.pop("connect_timeout", 2),
            read_timeout=config.pop("read_timeout", 5),
            retries=config.pop("retries", {"mode": "standard", "total_max_attempts": 2}),
            **config,
        )
        return boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            aws_session_token="testing",
            region_name=region,
        ).client("kms", endpoint_url=self.endpoint_url, config=cfg)


def moto_server_binary() -> str:
    """``moto_server`` from this interpreter's virtualenv, else from ``PATH``."""
    candidate = Path(sys.executable).with_name("moto_server")
    if candidate.exists():
        return str(candidate)
    return require_binary("moto_server", "install moto[server] in the virtualenv (uv sync)")


def _answers(endpoint: str) -> bool:
    with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1) as resp:  # noqa: S310
        return bool(resp.status == 200)


def start_moto_server(log_dir: Path) -> MotoServer:
    """Start a ``moto_server`` and wait until it answers (also used by the benchmarks)."""
    port = free_port()
    process = ServiceProcess(
        name="moto_server",
        argv=[moto_server_binary(), "-H", "127.0.0.1", "-p", str(port)],
        log_path=log_dir / "moto_server.log",
    ).start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: process.alive() and _answers(endpoint), 60, "moto_server")
    except RuntimeError as exc:
        process.stop()
        raise RuntimeError(f"{exc}\n--- moto_server log ---\n{process.log_tail()}") from exc
    return MotoServer(endpoint_url=endpoint, port=port, process=process)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A ``moto_server`` shared by the session, stopped by PID at the end."""
    server = start_moto_server(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        server.process.stop()


@pytest.fixture
def moto(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """The session's ``moto_server``, reset for this test, with fake AWS credentials set."""
    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS"):
        monkeypatch.delenv(name, raising=False)
    moto_server.reset()
    return moto_server
