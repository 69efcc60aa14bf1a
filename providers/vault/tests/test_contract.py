"""The shared provider contract, against a real OpenBao server."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from tigerseal.spi import KeyProvider
from tigerseal.testing.contract import ProviderContract
from tigerseal_vault._provider import VaultTransitProvider

from tests.services.vault import VaultServer

pytestmark = [pytest.mark.integration, pytest.mark.vault]

MakeProvider = Callable[..., VaultTransitProvider]


class TestVaultAssociatedData(ProviderContract):
    """aes256-gcm96 key; the context travels as associated_data."""

    @pytest.fixture
    def provider(self, vault_server: VaultServer, make_provider: MakeProvider) -> KeyProvider:
        return make_provider(vault_server.create_key())

    @pytest.fixture
    def other_provider(self, vault_server: VaultServer, make_provider: MakeProvider) -> KeyProvider:
        return make_provider(vault_server.create_key())

    @pytest.fixture
    def provider_secrets(self, vault_server: VaultServer) -> Sequence[str | bytes]:
        return [vault_server.root_token, vault_server.unseal_key]


class TestVaultDerived(TestVaultAssociatedData):
    """A derived key; the whole context is the key-derivation context."""

    @pytest.fixture
    def provider(self, vault_server: VaultServer, make_provider: MakeProvider) -> KeyProvider:
        return make_provider(vault_server.create_key(derived=True), derived=True)

    @pytest.fixture
    def other_provider(self, vault_server: VaultServer, make_provider: MakeProvider) -> KeyProvider:
        return make_provider(vault_server.create_key(derived=True), derived=True)


class TestVaultWithoutAssociatedData(TestVaultAssociatedData):
    """aad=0: Vault does not see the context (the envelope still binds it)."""

    @pytest.fixture
    def provider(self, vault_server: VaultServer, make_provider: MakeProvider) -> KeyProvider:
        return make_provider(vault_server.create_key(), aad=False)
