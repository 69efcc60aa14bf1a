"""tigerseal-vault: the ``vault://`` key provider (HashiCorp Vault / OpenBao transit).

Importing this module is cheap (no hvac, no requests): it only registers the provider spec.
The provider class lives in :mod:`tigerseal_vault.provider` and is imported when a
``vault://`` URI is first configured::

    from tigerseal.plugins import key_provider_from_uri
    provider = key_provider_from_uri("vault://transit/tiger-creds")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tigerseal._lazy import lazy_exports
from tigerseal.hookspecs import hookimpl
from tigerseal.spi.specs import CommandSpec, ProviderSpec

if TYPE_CHECKING:
    from tigerseal_vault.provider import VaultTransitProvider

__all__ = ["VaultTransitProvider", "register_commands", "register_key_providers"]


@hookimpl
def register_key_providers() -> list[ProviderSpec]:
    """Register the ``vault`` scheme."""
    return [
        ProviderSpec(
            name="vault",
            factory="tigerseal_vault.provider:from_uri",
            description="HashiCorp Vault / OpenBao transit key (vault://[mount/]key-name)",
        )
    ]


@hookimpl
def register_commands() -> list[CommandSpec]:
    """Register ``tigerseal vault`` (init-key, policy)."""
    return [
        CommandSpec(
            name="vault",
            factory="tigerseal_vault.cli:vault",
            description="Vault / OpenBao transit keys for the vault:// provider.",
        )
    ]


__getattr__, __dir__ = lazy_exports(__name__, {"VaultTransitProvider": "tigerseal_vault.provider"})
