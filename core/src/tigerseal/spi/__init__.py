"""The service-provider interface: what plugin and provider authors implement.

Applications use :mod:`tigerseal`; plugin authors subclass the ABCs here and return specs from
the hooks in :mod:`tigerseal.hookspecs`. Every plugin parses its URI and options with
:mod:`tigerseal.spi.options` (one grammar, one precedence rule, typed options) and translates
its SDK's exceptions with one signature (:mod:`tigerseal.spi.errors`).
A key provider subclasses :class:`KeyProvider` (the small core: wrap, unwrap, owns, key_id,
key_version) and, for what its backend can do beyond that, the capability ABCs
:class:`Rotatable`, :class:`Retirable`, :class:`BatchWrap` and :class:`HealthDetail`. Code
holding a provider calls :func:`rotate`, :func:`retire_below`, :func:`rewrap`,
:func:`unwrap_many`, :func:`rewrap_many` and :func:`min_decryption_version`, which use the
capability when present. docs/plugins.md walks through writing one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tigerseal._lazy import lazy_exports

if TYPE_CHECKING:
    from tigerseal.spi._capabilities import (
        BatchWrap,
        HealthDetail,
        Retirable,
        Rotatable,
        min_decryption_version,
        retire_below,
        rewrap,
        rewrap_many,
        rotate,
        unwrap_many,
    )
    from tigerseal.spi._provider import (
        DEK_SIZE,
        Context,
        DataKey,
        HealthStatus,
        KeyProvider,
        WrappedKey,
    )
    from tigerseal.spi.errors import ErrorTranslator, translated
    from tigerseal.spi.options import Duration, ParsedURI, build_options, option, parse_uri
    from tigerseal.spi.services import (
        AuditSink,
        PasswordHasher,
        RateLimitAlgorithm,
        RateLimitDecision,
        RateLimitPolicy,
        RateLimitStorage,
        RevocationStore,
        TokenSigner,
    )
    from tigerseal.spi.specs import (
        AuditSinkSpec,
        CommandSpec,
        HasherSpec,
        PluginSpec,
        ProviderSpec,
        RateLimitStorageSpec,
        RevocationStoreSpec,
        TokenSignerSpec,
    )


_EXPORTS: dict[str, str] = {
    "BatchWrap": "tigerseal.spi._capabilities",
    "HealthDetail": "tigerseal.spi._capabilities",
    "Retirable": "tigerseal.spi._capabilities",
    "Rotatable": "tigerseal.spi._capabilities",
    "min_decryption_version": "tigerseal.spi._capabilities",
    "retire_below": "tigerseal.spi._capabilities",
    "rewrap": "tigerseal.spi._capabilities",
    "rewrap_many": "tigerseal.spi._capabilities",
    "rotate": "tigerseal.spi._capabilities",
    "unwrap_many": "tigerseal.spi._capabilities",
    "DEK_SIZE": "tigerseal.spi._provider",
    "Context": "tigerseal.spi._provider",
    "DataKey": "tigerseal.spi._provider",
    "HealthStatus": "tigerseal.spi._provider",
    "KeyProvider": "tigerseal.spi._provider",
    "WrappedKey": "tigerseal.spi._provider",
    "ErrorTranslator": "tigerseal.spi.errors",
    "translated": "tigerseal.spi.errors",
    "Duration": "tigerseal.spi.options",
    "ParsedURI": "tigerseal.spi.options",
    "build_options": "tigerseal.spi.options",
    "option": "tigerseal.spi.options",
    "parse_uri": "tigerseal.spi.options",
    "AuditSink": "tigerseal.spi.services",
    "PasswordHasher": "tigerseal.spi.services",
    "RateLimitAlgorithm": "tigerseal.spi.services",
    "RateLimitDecision": "tigerseal.spi.services",
    "RateLimitPolicy": "tigerseal.spi.services",
    "RateLimitStorage": "tigerseal.spi.services",
    "RevocationStore": "tigerseal.spi.services",
    "TokenSigner": "tigerseal.spi.services",
    "AuditSinkSpec": "tigerseal.spi.specs",
    "CommandSpec": "tigerseal.spi.specs",
    "HasherSpec": "tigerseal.spi.specs",
    "PluginSpec": "tigerseal.spi.specs",
    "ProviderSpec": "tigerseal.spi.specs",
    "RateLimitStorageSpec": "tigerseal.spi.specs",
    "RevocationStoreSpec": "tigerseal.spi.specs",
    "TokenSignerSpec": "tigerseal.spi.specs",
}

__all__ = [
    "DEK_SIZE",
    "AuditSink",
    "AuditSinkSpec",
    "BatchWrap",
    "CommandSpec",
    "Context",
    "DataKey",
    "Duration",
    "ErrorTranslator",
    "HasherSpec",
    "HealthDetail",
    "HealthStatus",
    "KeyProvider",
    "ParsedURI",
    "PasswordHasher",
    "PluginSpec",
    "ProviderSpec",
    "RateLimitAlgorithm",
    "RateLimitDecision",
    "RateLimitPolicy",
    "RateLimitStorage",
    "RateLimitStorageSpec",
    "Retirable",
    "RevocationStore",
    "RevocationStoreSpec",
    "Rotatable",
    "TokenSigner",
    "TokenSignerSpec",
    "WrappedKey",
    "build_options",
    "min_decryption_version",
    "option",
    "parse_uri",
    "retire_below",
    "rewrap",
    "rewrap_many",
    "rotate",
    "translated",
    "unwrap_many",
]

# Lazy: the envelope needs only _provider; options, specs and services load when asked for.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
