"""tigerseal-pkcs11: the ``pkcs11:`` key provider (HSMs through PKCS#11; SoftHSM2 for development).

Importing this module is cheap (python-pkcs11 is not imported): it only registers the provider
spec and the ``tigerseal pkcs11`` commands. The public names below are imported on first use;
the modules behind them are internal (``_provider``, ``_options``, ``_errors``, ``_cli``,
``_admin``, ``_session``, ``_keys``, ``_wrap``). The provider is built when a ``pkcs11:`` URI
(RFC 7512) is first configured::

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
    from tigerseal_pkcs11._admin import (
        KeyReport,
        describe_key,
        import_key,
        init_key,
        token_session,
    )
    from tigerseal_pkcs11._options import PinSource, Pkcs11Options, Pkcs11Uri, parse_uri
    from tigerseal_pkcs11._provider import Pkcs11Provider

__all__ = [
    "KeyReport",
    "PinSource",
    "Pkcs11Options",
    "Pkcs11Provider",
    "Pkcs11Uri",
    "describe_key",
    "import_key",
    "init_key",
    "parse_uri",
    "register_commands",
    "register_key_providers",
    "token_session",
]

# Public name -> internal module (imported on first access: python-pkcs11 loads only then).
_LAZY = {
    "Pkcs11Provider": "tigerseal_pkcs11._provider",
    "KeyReport": "tigerseal_pkcs11._admin",
    "describe_key": "tigerseal_pkcs11._admin",
    "import_key": "tigerseal_pkcs11._admin",
    "init_key": "tigerseal_pkcs11._admin",
    "token_session": "tigerseal_pkcs11._admin",
    "PinSource": "tigerseal_pkcs11._options",
    "Pkcs11Options": "tigerseal_pkcs11._options",
    "Pkcs11Uri": "tigerseal_pkcs11._options",
    "parse_uri": "tigerseal_pkcs11._options",
}


@hookimpl
def register_key_providers() -> list[ProviderSpec]:
    """Register the ``pkcs11`` scheme."""
    return [
        ProviderSpec(
            name="pkcs11",
            factory="tigerseal_pkcs11._provider:from_uri",
            description="PKCS#11 HSM key (pkcs11:token=...;object=...?module-path=..., RFC 7512)",
        )
    ]


@hookimpl
def register_commands() -> list[CommandSpec]:
    """Register ``tigerseal pkcs11`` (init-key, rotate, ...)."""
    return [
        CommandSpec(
            name="pkcs11",
            factory="tigerseal_pkcs11._cli:pkcs11",
            description="Manage KEKs on a PKCS#11 token (HSM or SoftHSM2).",
        )
    ]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
