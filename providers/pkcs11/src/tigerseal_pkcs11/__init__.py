"""tigerseal-pkcs11: the ``pkcs11:`` key provider (HSMs through PKCS#11; SoftHSM2 for development).

Importing this module is cheap (python-pkcs11 is not imported): it only registers the provider
spec. The provider lives in :mod:`tigerseal_pkcs11.provider` and is imported when a ``pkcs11:``
URI (RFC 7512) is first configured::

    from tigerseal.plugins import key_provider_from_uri
    hsm = key_provider_from_uri(
        "pkcs11:token=tigerseal;object=tiger-kek"
        "?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=env:TIGERSEAL_PKCS11_PIN"
    )

Create the key first with ``tigerseal pkcs11 init-key '<uri>'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tigerseal._lazy import lazy_exports
from tigerseal.hookspecs import hookimpl
from tigerseal.spi.specs import CommandSpec, ProviderSpec

if TYPE_CHECKING:
    from tigerseal_pkcs11.provider import Pkcs11Provider

__all__ = ["Pkcs11Provider", "register_commands", "register_key_providers"]


@hookimpl
def register_key_providers() -> list[ProviderSpec]:
    """Register the ``pkcs11`` scheme."""
    return [
        ProviderSpec(
            name="pkcs11",
            factory="tigerseal_pkcs11.provider:from_uri",
            description="PKCS#11 HSM key (pkcs11:token=...;object=...?module-path=..., RFC 7512)",
        )
    ]


@hookimpl
def register_commands() -> list[CommandSpec]:
    """Register ``tigerseal pkcs11`` (init-key, rotate, ...)."""
    return [
        CommandSpec(
            name="pkcs11",
            factory="tigerseal_pkcs11.cli:pkcs11",
            description="Manage KEKs on a PKCS#11 token (HSM or SoftHSM2).",
        )
    ]


__getattr__, __dir__ = lazy_exports(__name__, {"Pkcs11Provider": "tigerseal_pkcs11.provider"})
