"""``decrypt_many`` on Vault (issue 15.2): rows with their own contexts unwrap in batch requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tigerseal.envelope import EncryptionService
from tigerseal_vault._provider import VaultTransitProvider

from tests.services.vault import VaultServer

pytestmark = [pytest.mark.integration, pytest.mark.vault]

MakeProvider = Callable[..., VaultTransitProvider]


def test_per_row_contexts_unwrap_in_one_batch_request(
    vault_server: VaultServer, make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = make_provider(vault_server.create_key())
    svc = EncryptionService([provider])
    ctxs = [{"table": "accounts", "column": "secret", "pk": str(i)} for i in range(20)]
    sealed = svc.encrypt_many([f"value-{i}" for i in range(20)], ctxs)
    calls: dict[str, int] = {"unwrap": 0, "unwrap_many": 0}
    single, many = provider.unwrap, provider.unwrap_many

    def spy_single(*args: Any) -> bytes:
        calls["unwrap"] += 1
        return single(*args)

    def spy_many(items: Any) -> list[bytes]:
        calls["unwrap_many"] += 1
        return many(items)

    monkeypatch.setattr(provider, "unwrap", spy_single)
    monkeypatch.setattr(provider, "unwrap_many", spy_many)
    out = svc.decrypt_many([bytes(m) for m in sealed], ctxs)
    assert out == [f"value-{i}".encode() for i in range(20)]
    assert calls == {"unwrap": 0, "unwrap_many": 1}
