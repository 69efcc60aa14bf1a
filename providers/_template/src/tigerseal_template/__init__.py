"""TEMPLATE provider: the ``template://`` key provider, a starting point to copy.

A working provider that keeps its key-encryption key (KEK) in an environment variable and wraps
data keys with AES-256-GCM. It exists to be copied (docs/plugins.md): replace the local AES-GCM
calls in :mod:`tigerseal_template._provider` by your backend's API (a cloud KMS, an HSM, a
secrets service), keep the shape. Do not use it as it is for real keys: a KEK in an environment
variable is what the built-in ``env://`` provider already does, with versions and rotation.

Layout (the same in every tigerseal provider):

* ``__init__``: the hooks and lazy re-exports. Importing it imports no SDK: tigerseal imports
  this module to ask what it registers, and must stay fast.
* ``_options``: the typed options model, parsed by :mod:`tigerseal.spi.options`.
* ``_errors``: the one function translating the backend's exceptions into tigerseal's.
* ``_provider``: the :class:`~tigerseal.spi.KeyProvider` subclass and its ``from_uri`` factory.
* ``_cli``: ``tigerseal template ...`` commands (optional), registered by ``register_commands``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tigerseal.hookspecs import hookimpl
from tigerseal.spi import CommandSpec, ProviderSpec

if TYPE_CHECKING:
    from tigerseal_template._provider import TemplateKeyProvider

__all__ = ["TemplateKeyProvider", "register_commands", "register_key_providers"]

#: The URI scheme, entry-point name and provider name recorded in envelopes.
SCHEME = "template"


@hookimpl
def register_key_providers() -> list[ProviderSpec]:
    """Register the ``template`` scheme; the factory is imported on first use."""
    return [
        ProviderSpec(
            name=SCHEME,
            factory="tigerseal_template._provider:from_uri",
            description="TEMPLATE: AES-GCM KEK from an environment variable (template://VAR)",
        )
    ]


@hookimpl
def register_commands() -> list[CommandSpec]:
    """Register ``tigerseal template ...``; its module is imported only when it runs."""
    return [
        CommandSpec(
            name=SCHEME,
            factory="tigerseal_template._cli:template",
            description="TEMPLATE provider: check a template:// key.",
        )
    ]


def __getattr__(name: str) -> Any:
    # Lazy re-export: the provider class without importing its module at plugin load.
    if name == "TemplateKeyProvider":
        from tigerseal_template._provider import TemplateKeyProvider

        return TemplateKeyProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
