"""tigerseal-vault: the ``vault://`` key provider (HashiCorp Vault / OpenBao transit).

Importing this module is cheap (no hvac, no requests): it only registers the provider spec
and the ``tigerseal vault`` commands. The public names below are imported on first use; the
modules behind them are internal (``_provider``, ``_options``, ``_errors``, ``_cli``,
``_policy``, ``_auth``, ``_transport``, ``_context``). The provider is built when a
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
    from tigerseal_vault._options import VaultOptions
    from tigerseal_vault._policy import operator_policy, service_policy
    from tigerseal_vault._provider import KeyInfo, VaultTransitProvider

__all__ = [
    "KeyInfo",
    "VaultOptions",
    "VaultTransitProvider",
    "operator_policy",
    "register_commands",
    "register_key_providers",
    "service_policy",
]

# Public name -> internal module (imported on first access: hvac/requests load only then).
_LAZY = {
    "KeyInfo": "tigerseal_vault._provider",
    "VaultTransitProvider": "tigerseal_vault._provider",
    "VaultOptions": "tigerseal_vault._options",
    "operator_policy": "tigerseal_vault._policy",
    "service_policy": "tigerseal_vault._policy",
}


@hookimpl
def register_key_providers() -> list[ProviderSpec]:
    """Register the ``vault`` scheme."""
    return [
        ProviderSpec(
            name="vault",
            factory="tigerseal_vault._provider:from_uri",
            description="HashiCorp Vault / OpenBao transit key (vault://[mount/]key-name)",
        )
    ]


@hookimpl
def register_commands() -> list[CommandSpec]:
    """Register ``tigerseal vault`` (init-key, policy)."""
    return [
        CommandSpec(
            name="vault",
            factory="tigerseal_vault._cli:vault",
            description="Vault / OpenBao transit keys for the vault:// provider.",
        )
    ]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
