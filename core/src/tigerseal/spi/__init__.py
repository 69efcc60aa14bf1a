"""The service-provider interface: what plugin and provider authors implement.

Applications use :mod:`tigerseal`; plugin authors subclass the ABCs here and return specs from
the hooks in :mod:`tigerseal.hookspecs`.
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
    "HasherSpec",
    "HealthStatus",
    "KeyProvider",
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
]
