"""The shared provider contract, against SoftHSM2, once per wrap mechanism."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from tigerseal.spi import KeyProvider
from tigerseal.testing.contract import ProviderContract

from tests.services.softhsm import SoftHSM

pytestmark = [pytest.mark.integration, pytest.mark.pkcs11]


class TestPkcs11GcmContract(ProviderContract):
    """KEK with encrypt+wrap usage: the provider picks AES-GCM (context bound in the HSM)."""

    @pytest.fixture
    def provider(self, make_provider: Callable[..., Any]) -> KeyProvider:
        provider: KeyProvider = make_provider()
        assert provider.binds_context
        return provider

    @pytest.fixture
    def other_provider(self, make_provider: Callable[..., Any]) -> KeyProvider:
        provider: KeyProvider = make_provider()
        return provider

    @pytest.fixture
    def provider_secrets(self, softhsm: SoftHSM) -> Sequence[str | bytes]:
        return [softhsm.pin, softhsm.so_pin]


class TestPkcs11KeyWrapContract(TestPkcs11GcmContract):
    """Wrap-only KEK: RFC 5649 via C_WrapKey/C_UnwrapKey (no context binding by the HSM)."""

    @pytest.fixture
    def provider(self, make_provider: Callable[..., Any]) -> KeyProvider:
        provider: KeyProvider = make_provider(usage="wrap")
        assert not provider.binds_context
        return provider

    @pytest.fixture
    def other_provider(self, make_provider: Callable[..., Any]) -> KeyProvider:
        provider: KeyProvider = make_provider(usage="wrap")
        return provider
