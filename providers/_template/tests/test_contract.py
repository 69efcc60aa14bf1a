"""tigerseal's provider contract, run against the template provider, plus its own rules."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytest
from tigerseal.errors import ConfigError, OptionError
from tigerseal.plugins import key_provider_from_uri
from tigerseal.spi import KeyProvider
from tigerseal.testing.contract import ProviderContract
from tigerseal_template import TemplateKeyProvider


class TestTemplateContract(ProviderContract):
    """Every rule of tigerseal.testing.contract; capabilities it lacks are skipped."""

    @pytest.fixture
    def provider(self, kek_var: str) -> KeyProvider:
        return key_provider_from_uri(f"template://{kek_var}")

    @pytest.fixture
    def other_provider(self, monkeypatch: pytest.MonkeyPatch) -> KeyProvider:
        monkeypatch.setenv("TEMPLATE_OTHER_KEK", os.urandom(32).hex())
        return key_provider_from_uri("template://TEMPLATE_OTHER_KEK")

    @pytest.fixture
    def provider_secrets(self, kek_var: str) -> Sequence[str | bytes]:
        return [os.environ[kek_var], bytes.fromhex(os.environ[kek_var])]


def test_registered_under_its_scheme(kek_var: str) -> None:
    provider = key_provider_from_uri(f"template://{kek_var}?version=3")
    assert isinstance(provider, TemplateKeyProvider)
    assert provider.key_version == 3


def test_missing_or_bad_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEMPLATE_UNSET", raising=False)
    with pytest.raises(ConfigError, match="64 digits"):
        key_provider_from_uri("template://TEMPLATE_UNSET")
    monkeypatch.setenv("TEMPLATE_SHORT", "abcd")
    with pytest.raises(ConfigError, match="64 digits") as info:
        key_provider_from_uri("template://TEMPLATE_SHORT")
    assert "abcd" not in str(info.value)


def test_options_follow_the_shared_rules(kek_var: str) -> None:
    with pytest.raises(OptionError, match="version"):
        key_provider_from_uri(f"template://{kek_var}?verison=2")  # did you mean
    with pytest.raises(OptionError):
        key_provider_from_uri(f"template://{kek_var}?version=2", version=3)  # must agree
    assert key_provider_from_uri(f"template://{kek_var}?version=2", version=2).key_version == 2
