"""The contract suite against the fake provider (both context modes)."""

from __future__ import annotations

import secrets

import pytest
from tigerseal.spi import KeyProvider
from tigerseal.testing.contract import ProviderContract
from tigerseal.testing.fake import FakeKeyProvider, from_uri


class TestFakeContract(ProviderContract):
    @pytest.fixture
    def provider(self) -> KeyProvider:
        return FakeKeyProvider(f"contract-{secrets.token_hex(4)}")

    @pytest.fixture
    def other_provider(self) -> KeyProvider:
        return FakeKeyProvider(f"other-{secrets.token_hex(4)}")


class TestFakeWithoutContextContract(TestFakeContract):
    @pytest.fixture
    def provider(self) -> KeyProvider:
        return from_uri(f"fake://nocontext-{secrets.token_hex(4)}?binds_context=0")

    @pytest.fixture
    def other_provider(self) -> KeyProvider:
        return from_uri(f"fake://nocontext-other-{secrets.token_hex(4)}?binds_context=0")
