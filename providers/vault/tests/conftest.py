"""Fixtures for the vault provider tests (bao server fixtures: tests/services/vault.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tigerseal_vault._provider import VaultTransitProvider, from_uri

from tests.services.vault import VaultServer

_VAULT_VARS = [
    f"{prefix}{name}"
    for prefix in ("TIGERSEAL_VAULT_", "VAULT_", "BAO_")
    for name in (
        "ADDR",
        "TOKEN",
        "NAMESPACE",
        "ROLE_ID",
        "SECRET_ID",
        "CACERT",
        "CAPATH",
        "CLIENT_CERT",
        "CLIENT_KEY",
        "SKIP_VERIFY",
        "TIMEOUT",
        "CLIENT_TIMEOUT",
    )
]


@pytest.fixture(autouse=True)
def clean_vault_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer Vault settings and no .env file leak into a test."""
    for name in _VAULT_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def vault_env(monkeypatch: pytest.MonkeyPatch, vault_server: VaultServer) -> VaultServer:
    """VAULT_ADDR and VAULT_TOKEN (root) pointing at the session server."""
    monkeypatch.setenv("VAULT_ADDR", vault_server.addr)
    monkeypatch.setenv("VAULT_TOKEN", vault_server.root_token)
    return vault_server


@pytest.fixture
def make_provider(
    vault_server: VaultServer,
) -> Iterator[Callable[..., VaultTransitProvider]]:
    """Build providers against the session server (root token unless ``token=`` is given)."""
    made: list[VaultTransitProvider] = []

    def make(key: str, server: VaultServer | None = None, **options: Any) -> VaultTransitProvider:
        srv = server or vault_server
        options.setdefault("addr", srv.addr)
        if options.get("auth", "token") == "token":
            options.setdefault("token", srv.root_token)
        uri = key if key.startswith("vault://") else f"vault://transit/{key}"
        provider = from_uri(uri, **options)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()
