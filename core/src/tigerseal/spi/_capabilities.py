"""Optional capabilities of a key provider, each an ABC to subclass next to ``KeyProvider``.

The core interface (:class:`~tigerseal.spi.KeyProvider`) is what every key store can do:
wrap, unwrap, say which keys it owns. What only some can do is declared by subclassing one of
these as well::

    class VaultTransitProvider(KeyProvider, Rotatable, Retirable, BatchWrap): ...

The contract suite (:mod:`tigerseal.testing.contract`) detects each capability with
``isinstance`` and tests it; callers use the functions below, which use the capability when
it is present and a correct fallback, or a clear :class:`~tigerseal.errors.UnsupportedOperation`,
when it is not. No duck typing: a method of the right name on a class that does not subclass
the capability is not used.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tigerseal.errors import UnsupportedOperation

if TYPE_CHECKING:
    from tigerseal.spi._provider import Context, KeyProvider, WrappedKey

__all__ = [
    "BatchWrap",
    "HealthDetail",
    "Retirable",
    "Rotatable",
    "min_decryption_version",
    "retire_below",
    "rewrap",
    "rewrap_many",
    "rotate",
    "unwrap_many",
]


class Rotatable(ABC):
    """Capability: the provider creates a new KEK version itself (file, Vault, PKCS#11, KMS)."""

    @abstractmethod
    def rotate(self) -> int:
        """Create a new KEK version and make it current; return the new version.

        Old wraps keep unwrapping. A backend whose versions are invisible (AWS KMS) returns
        ``0``, its constant :attr:`~tigerseal.spi.KeyProvider.key_version`.

        Raises:
            UnsupportedOperation: this particular key cannot rotate (the message says what to
                do instead).
            KeyProviderError: the backend failed.
        """


class Retirable(ABC):
    """Capability: versions below a minimum can be retired (file, Vault, PKCS#11).

    Not the same as :class:`Rotatable`: AWS KMS rotates but has no versions to retire.
    Providers configured with a fixed minimum and no way to change it (``env://...?min_version``)
    are not ``Retirable``: they refuse the retired versions in ``unwrap`` themselves.
    """

    @property
    @abstractmethod
    def min_decryption_version(self) -> int:
        """Versions below this are retired: unwrap refuses them (``0``: none retired)."""

    @abstractmethod
    def retire_below(self, min_version: int) -> None:
        """Refuse versions below ``min_version`` from now on.

        Not guarded: it knows nothing of stored secrets that still use an old version. Use
        :func:`tigerseal.keyuse.retire` (``tigerseal retire``), which checks first.

        Raises:
            ConfigError: ``min_version`` is negative or above the current version.
        """


class BatchWrap(ABC):
    """Capability: server-side rewrap and batch calls (Vault batch, KMS ``ReEncrypt``, HSM)."""

    @abstractmethod
    def rewrap(self, wrapped: WrappedKey, context: Context) -> WrappedKey:
        """Re-encrypt a wrapped key under the newest KEK version, in the backend if it can."""

    @abstractmethod
    def unwrap_many(self, items: Sequence[tuple[WrappedKey, Context]]) -> list[bytes]:
        """Unwrap several keys, in order; any bad item fails the call."""

    @abstractmethod
    def rewrap_many(self, items: Sequence[tuple[WrappedKey, Context]]) -> list[WrappedKey]:
        """Rewrap several keys, in order; any bad item fails the call."""


class HealthDetail(ABC):
    """Capability: extra facts for :meth:`~tigerseal.spi.KeyProvider.health_check`.

    Called only after a successful probe; what it returns is appended to the status detail
    (e.g. KMS rotation settings). Its failure is reported in the detail, never raised, and
    does not fail the check.
    """

    @abstractmethod
    def health_detail(self) -> str:
        """One line of non-secret facts about the key (may do I/O)."""


# -- what callers use: the capability if present, a fallback otherwise ----------------------
def rewrap(provider: KeyProvider, wrapped: WrappedKey, context: Context) -> WrappedKey:
    """Move ``wrapped`` to the newest KEK version (server side when the provider can)."""
    if isinstance(provider, BatchWrap):
        return provider.rewrap(wrapped, context)
    return provider.wrap(provider.unwrap(wrapped, context), context)


def unwrap_many(provider: KeyProvider, items: Sequence[tuple[WrappedKey, Context]]) -> list[bytes]:
    """Unwrap several keys, in order (one batch call when the provider has one)."""
    if isinstance(provider, BatchWrap):
        return provider.unwrap_many(items)
    return [provider.unwrap(w, c) for w, c in items]


def rewrap_many(
    provider: KeyProvider, items: Sequence[tuple[WrappedKey, Context]]
) -> list[WrappedKey]:
    """Rewrap several keys, in order (one batch call when the provider has one)."""
    if isinstance(provider, BatchWrap):
        return provider.rewrap_many(items)
    return [rewrap(provider, w, c) for w, c in items]


def min_decryption_version(provider: KeyProvider) -> int:
    """The provider's retirement floor; ``0`` when it is not :class:`Retirable`."""
    return provider.min_decryption_version if isinstance(provider, Retirable) else 0


def rotate(provider: KeyProvider) -> int:
    """Rotate the provider's KEK.

    Raises:
        UnsupportedOperation: the provider is not :class:`Rotatable`.
    """
    if isinstance(provider, Rotatable):
        return provider.rotate()
    raise UnsupportedOperation(
        f"the {provider.scheme} provider cannot rotate keys itself; rotate the key in the "
        "backend and restart, or use a provider that supports rotation"
    )


def retire_below(provider: KeyProvider, min_version: int) -> None:
    """Retire versions below ``min_version`` (unguarded; see :func:`tigerseal.keyuse.retire`).

    Raises:
        UnsupportedOperation: the provider is not :class:`Retirable`.
    """
    if not isinstance(provider, Retirable):
        raise UnsupportedOperation(
            f"the {provider.scheme} provider cannot retire key versions; retire them in the "
            "backend itself after rewrapping"
        )
    provider.retire_below(min_version)


def renamed_method(old: str, new: str) -> Any:
    """A deprecated alias ``old`` of method ``new`` that warns and forwards (one release).

    For names that the documentation promised before the capability interfaces unified them
    (``FileKeyProvider.retire``, ``set_min_decryption_version`` on Vault and PKCS#11)::

        set_min_decryption_version = renamed_method("set_min_decryption_version", "retire_below")
    """

    def alias(self: object, *args: Any, **kwargs: Any) -> Any:
        warnings.warn(
            f"{type(self).__name__}.{old}() is deprecated; call {new}() instead (or "
            f"tigerseal.spi.{new}(provider, ...))",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(self, new)(*args, **kwargs)

    alias.__name__ = old
    alias.__doc__ = f"Deprecated alias of :meth:`{new}`."
    return alias
