"""Spec objects returned by the registration hooks.

A spec names an implementation and says how to build it, without building it: the factory is a
callable or a ``"module:attribute"`` path imported only when the implementation is first used, so
``import boto3`` (or hvac, pkcs11, redis, sqlalchemy) happens only for a configured backend.

Every spec class is a :class:`PluginSpec` parametrised by what its factory builds
(``ProviderSpec`` is ``PluginSpec[KeyProvider]``), so :meth:`PluginSpec.create` is typed and
the functions of :mod:`tigerseal.plugins` need no casts. What else is known about each kind
(its hook, entry-point group, label, the distributions offering well-known names) is in the one
table :data:`tigerseal.spi.kinds.KINDS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tigerseal.errors import MissingDependencyError, PluginError

if TYPE_CHECKING:
    import click

    from tigerseal.spi._provider import KeyProvider  # noqa: F401
    from tigerseal.spi.services import (  # noqa: F401
        AuditSink,
        PasswordHasher,
        RateLimitStorage,
        RevocationStore,
        TokenSigner,
    )

__all__ = [
    "AuditSinkSpec",
    "CommandSpec",
    "HasherSpec",
    "PluginSpec",
    "ProviderSpec",
    "RateLimitStorageSpec",
    "RevocationStoreSpec",
    "TokenSignerSpec",
]

#: What a spec's factory builds.
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class PluginSpec(Generic[T_co]):
    """Base of every spec: a name and a lazily imported factory building a ``T_co``.

    Attributes:
        name: lowercase-hyphen name; config value, entry-point name and URI scheme.
        factory: a callable building the implementation, or a ``"module:attr"`` path to one.
        description: one line shown by ``tigerseal plugins`` (and ``tigerseal --help`` for
            commands).
        aliases: other names accepted in configuration.
        distribution: filled in by the plugin manager (which distribution provided it).
    """

    name: str
    factory: Callable[..., T_co] | str = field(repr=False)
    description: str = ""
    aliases: tuple[str, ...] = ()
    distribution: str | None = None

    @property
    def kind(self) -> str:
        """The kind's label (``"key provider"``), from :data:`tigerseal.spi.kinds.KINDS`."""
        from tigerseal.spi.kinds import kind_of_spec

        found = kind_of_spec(type(self))
        return found.label if found is not None else "plugin"

    def load_factory(self) -> Callable[..., T_co]:
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
            factory: Callable[..., T_co] = getattr(module, attr)
        except AttributeError as exc:
            raise PluginError(
                f"the {self.kind} {self.name!r} names a factory {self.factory!r} that does "
                "not exist; report this to the plugin's authors"
            ) from exc
        return factory

    def create(self, *args: Any, **kwargs: Any) -> T_co:
        """Build the implementation."""
        return self.load_factory()(*args, **kwargs)


@dataclass(frozen=True)
class ProviderSpec(PluginSpec["KeyProvider"]):
    """A key provider. Factory signature: ``(uri: str, **options) -> KeyProvider``."""


@dataclass(frozen=True)
class HasherSpec(PluginSpec["PasswordHasher"]):
    """A password hasher. Factory signature: ``(**options) -> PasswordHasher``."""


@dataclass(frozen=True)
class TokenSignerSpec(PluginSpec["TokenSigner"]):
    """A JWT signer. Factory signature: ``(uri: str, **options) -> TokenSigner``."""


@dataclass(frozen=True)
class RateLimitStorageSpec(PluginSpec["RateLimitStorage"]):
    """Rate-limit storage. Factory signature: ``(uri: str, **options) -> RateLimitStorage``."""


@dataclass(frozen=True)
class AuditSinkSpec(PluginSpec["AuditSink"]):
    """An audit sink. Factory signature: ``(uri: str, **options) -> AuditSink``."""


@dataclass(frozen=True)
class RevocationStoreSpec(PluginSpec["RevocationStore"]):
    """A revocation store. Factory signature: ``(uri: str, **options) -> RevocationStore``."""


@dataclass(frozen=True)
class CommandSpec(PluginSpec["click.Command"]):
    """A ``tigerseal NAME`` subcommand. The factory is the click command (or group) itself.

    Give it as a ``"module:attr"`` path: ``tigerseal --help`` lists ``name`` and
    ``description`` without importing it; the module is imported when the command runs.
    """

    def create(self, *args: Any, **kwargs: Any) -> click.Command:
        """Import and return the command object (a command is not called to be built)."""
        import click

        if args or kwargs:
            raise TypeError("a command spec takes no arguments")
        command: object = self.load_factory()
        if not isinstance(command, click.Command):
            raise PluginError(
                f"the command {self.name!r} names {self.factory!r}, which is a "
                f"{type(command).__name__}, not a click command; report this to the plugin's "
                "authors"
            )
        return command
