"""The service-provider interface: what plugin and provider authors implement.

Applications use :mod:`tigerseal`; plugin authors subclass the ABCs here and return specs from
the hooks in :mod:`tigerseal.hookspecs`. Every plugin parses its URI and options with
:mod:`tigerseal.spi.options` (one grammar, one precedence rule, typed options) and translates
its SDK's exceptions with one signature (:mod:`tigerseal.spi.errors`).
"""

from __future__ import annotations

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

__all__ = [
    "DEK_SIZE",
    "AuditSink",
    "AuditSinkSpec",
    "CommandSpec",
    "Context",
    "DataKey",
    "Duration",
    "ErrorTranslator",
    "HasherSpec",
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
    "RevocationStore",
    "RevocationStoreSpec",
    "TokenSigner",
    "TokenSignerSpec",
    "WrappedKey",
    "build_options",
    "option",
    "parse_uri",
    "translated",
]
