"""Spec objects returned by the registration hooks.

A spec names an implementation and says how to build it, without building it: the factory is a
callable or a ``"module:attribute"`` path imported only when the implementation is first used, so
``import boto3`` (or hvac, pkcs11, redis, sqlalchemy) happens only for a configured backend.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tigerseal.errors import MissingDependencyError, PluginError

__all__ = [
    "AuditSinkSpec",
    "HasherSpec",
    "PluginSpec",
    "ProviderSpec",
    "RateLimitStorageSpec",
    "RevocationStoreSpec",
    "TokenSignerSpec",
]


@dataclass(frozen=True)
class PluginSpec:
    """Base of every spec.

    Attributes:
        name: lowercase-hyphen name; config value, entry-point name and URI scheme.
        factory: a callable building the implementation, or a ``"module:attr"`` path to one.
        description: one line shown by ``tigerseal plugins``.
        aliases: other names accepted in configuration.
        distribution: filled in by the plugin manager (which distribution provided it).
    """

    kind: ClassVar[str] = "plugin"

    name: str
    factory: Callable[..., Any] | str = field(repr=False)
    description: str = ""
    aliases: tuple[str, ...] = ()
    distribution: str | None = None

    def load_factory(self) -> Callable[..., Any]:
        """Resolve the factory, importing its module if it was given as a path."""
        if not isinstance(self.factory, str):
            return self.factory
        module_name, _, attr = self.factory.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            dist = self.distribution or f"tigerseal-{self.name}"
            raise MissingDependencyError(
                f"the {self.kind} {self.name!r} could not be imported ({exc}); "
                f"install it with: pip install {dist}"
            ) from exc
        try:
            factory: Callable[..., Any] = getattr(module, attr)
        except AttributeError as exc:
            raise PluginError(
                f"the {self.kind} {self.name!r} names a factory {self.factory!r} that does "
                "not exist; report this to the plugin's authors"
            ) from exc
        return factory

    def create(self, *args: Any, **kwargs: Any) -> Any:
        """Build the implementation."""
        return self.load_factory()(*args, **kwargs)


@dataclass(frozen=True)
class ProviderSpec(PluginSpec):
    """A key provider. Factory signature: ``(uri: str, **options) -> KeyProvider``."""

    kind: ClassVar[str] = "key provider"


@dataclass(frozen=True)
class HasherSpec(PluginSpec):
    """A password hasher. Factory signature: ``(**options) -> PasswordHasher``."""

    kind: ClassVar[str] = "password hasher"


@dataclass(frozen=True)
class TokenSignerSpec(PluginSpec):
    """A JWT signer. Factory signature: ``(uri: str, **options) -> TokenSigner``."""

    kind: ClassVar[str] = "token signer"


@dataclass(frozen=True)
class RateLimitStorageSpec(PluginSpec):
    """Rate-limit storage. Factory signature: ``(uri: str, **options) -> RateLimitStorage``."""

    kind: ClassVar[str] = "rate-limit storage"


@dataclass(frozen=True)
class AuditSinkSpec(PluginSpec):
    """An audit sink. Factory signature: ``(uri: str, **options) -> AuditSink``."""

    kind: ClassVar[str] = "audit sink"


@dataclass(frozen=True)
class RevocationStoreSpec(PluginSpec):
    """A revocation store. Factory signature: ``(uri: str, **options) -> RevocationStore``."""

    kind: ClassVar[str] = "revocation store"
