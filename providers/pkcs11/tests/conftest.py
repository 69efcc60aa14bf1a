"""Fixtures for the pkcs11 provider tests (the SoftHSM2 set-up is tests/services/softhsm.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.services.softhsm import SoftHSM


@pytest.fixture
def make_provider(softhsm: SoftHSM) -> Iterator[Callable[..., Any]]:
    """Build providers on fresh keys (``usage`` as in init-key); all closed at teardown."""
    from tigerseal_pkcs11._admin import init_key
    from tigerseal_pkcs11._provider import Pkcs11Provider

    made: list[Pkcs11Provider] = []

    def make(
        *, usage: str = "both", label: str | None = None, create: bool = True, **query: str
    ) -> Pkcs11Provider:
        label = label or softhsm.new_label()
        uri = softhsm.uri(label, **query)
        if create:
            init_key(uri, usage=usage)
        provider = Pkcs11Provider(uri)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()
