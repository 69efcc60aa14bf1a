"""Built-in plugin: the fake:// provider for tests."""

from __future__ import annotations

from tigerseal.hookspecs import hookimpl
from tigerseal.spi.specs import ProviderSpec


@hookimpl
def register_key_providers() -> list[ProviderSpec]:
    return []
