"""The key-provider interface: what every key store (env, file, KMS, Vault, HSM) implements.

A provider holds key-encryption keys (KEKs) and never sees payloads: it wraps and unwraps the
256-bit data keys (DEKs) that the envelope layer generates. Providers are built from URIs whose
scheme is the provider's name (``env://``, ``aws-kms://``, ``vault://``, ``pkcs11:``).
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import ClassVar

from tigerseal.errors import UnsupportedOperation

__all__ = [
    "DEK_SIZE",
    "Context",
    "DataKey",
    "HealthStatus",
    "KeyProvider",
    "WrappedKey",
]

#: Size of every data key in bytes (AES-256).
DEK_SIZE = 32

#: An encryption context: non-secret str -> str pairs bound to a message.
Context = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key encrypted under a provider's key; stored in the envelope header.

    Attributes:
        provider: the provider name (URI scheme) that wrapped it, e.g. ``"vault"``.
        key_id: the provider's identifier for the KEK (no secret), e.g. ``"transit/tiger"``.
        key_version: the KEK version used (``0`` when the backend does not expose versions).
        blob: the provider-specific wrapped bytes.
    """

    provider: str
    key_id: str
    key_version: int
    blob: bytes = field(repr=False)


class DataKey:
    """A plaintext data key together with its wrapped form. The plaintext never shows in repr."""

    __slots__ = ("plaintext", "wrapped")

    def __init__(self, plaintext: bytes, wrapped: WrappedKey) -> None:
        if len(plaintext) != DEK_SIZE:
            raise ValueError(f"a data key must be {DEK_SIZE} bytes, got {len(plaintext)}")
        self.plaintext = plaintext
        self.wrapped = wrapped

    def __repr__(self) -> str:
        return f"DataKey(wrapped={self.wrapped!r}, plaintext=<redacted>)"


@dataclass(frozen=True, slots=True)
class HealthStatus:
    """Result of :meth:`KeyProvider.health_check`.

    Attributes:
        ok: whether a wrap/unwrap round trip (or the backend's own check) succeeded.
        provider: provider name.
        key_id: the KEK identifier.
        key_version: the version new messages would use.
        detail: what was checked, or what failed and how to fix it (never a secret).
        latency_ms: how long the check took.
    """

    ok: bool
    provider: str
    key_id: str
    key_version: int
    detail: str = ""
    latency_ms: float = 0.0


class KeyProvider(ABC):
    """Base class of every key provider.

    Subclasses implement :meth:`wrap` and :meth:`unwrap` and the two identity properties. The
    defaults of everything else are correct but may be slow; backends override them where they
    can do better (``GenerateDataKey`` in one call, server-side ``ReEncrypt``/``rewrap``, batch).

    Contract (checked by :mod:`tigerseal.testing.contract` for every provider):

    * ``unwrap(wrap(dek, ctx), ctx) == dek``;
    * unwrapping with another context, a tampered blob, or under another key raises
      :class:`~tigerseal.errors.DecryptionError` where the backend binds context, and never
      returns a wrong key silently;
    * operational failures raise :class:`~tigerseal.errors.KeyProviderError` subclasses whose
      message names the remedy;
    * instances are safe to share between threads.
    """

    #: The provider's name: URI scheme, entry-point name and the name recorded in envelopes.
    scheme: ClassVar[str]

    #: Whether the backend itself binds the context to the wrapped key (KMS EncryptionContext,
    #: Vault associated_data, AES-GCM AAD). The envelope binds the context in any case; this
    #: tells the contract suite whether ``unwrap`` with a wrong context must fail.
    binds_context: ClassVar[bool] = True

    @property
    @abstractmethod
    def key_id(self) -> str:
        """Identifier of the KEK (recorded in the envelope header; never secret)."""

    @property
    @abstractmethod
    def key_version(self) -> int:
        """The KEK version new wraps use (``0`` if the backend has no visible versions)."""

    @property
    def uri(self) -> str:
        """The URI this provider was built from, without secrets."""
        return f"{self.scheme}://{self.key_id}"

    @property
    def min_decryption_version(self) -> int:
        """Versions below this are retired: unwrap refuses them (``0``: none retired)."""
        return 0

    def generate_data_key(self, context: Context) -> DataKey:
        """Create a fresh 256-bit data key and wrap it.

        Args:
            context: the message's encryption context, bound where the backend supports it.

        Returns:
            The plaintext DEK and its wrapped form.
        """
        dek = secrets.token_bytes(DEK_SIZE)
        return DataKey(dek, self.wrap(dek, context))

    @abstractmethod
    def wrap(self, dek: bytes, context: Context) -> WrappedKey:
        """Encrypt an existing data key under the current KEK version.

        Used for the second and further providers of a message (one DEK, several wrapped copies).
        """

    @abstractmethod
    def unwrap(self, wrapped: WrappedKey, context: Context) -> bytes:
        """Decrypt a wrapped data key.

        Raises:
            DecryptionError: the blob is not authentic for this key and context.
            KeyVersionRetired: the version is below :attr:`min_decryption_version`.
            KeyProviderError: the backend failed operationally.
        """

    def owns(self, wrapped: WrappedKey) -> bool:
        """Whether this provider should try to unwrap ``wrapped`` (same scheme and KEK)."""
        return wrapped.provider == self.scheme and wrapped.key_id == self.key_id

    def rewrap(self, wrapped: WrappedKey, context: Context) -> WrappedKey:
        """Re-encrypt a wrapped key under the newest KEK version.

        The default unwraps and wraps locally; backends that can do it server side (KMS
        ``ReEncrypt``, Vault ``rewrap``) override it so the DEK never leaves them.
        """
        return self.wrap(self.unwrap(wrapped, context), context)

    def unwrap_many(self, items: Sequence[tuple[WrappedKey, Context]]) -> list[bytes]:
        """Unwrap several keys; backends with a batch API override this."""
        return [self.unwrap(w, c) for w, c in items]

    def rewrap_many(self, items: Sequence[tuple[WrappedKey, Context]]) -> list[WrappedKey]:
        """Rewrap several keys; backends with a batch API override this."""
        return [self.rewrap(w, c) for w, c in items]

    def rotate(self) -> int:
        """Create a new KEK version and make it current; return the new version.

        Raises:
            UnsupportedOperation: the backend rotates on its own or not at all.
        """
        raise UnsupportedOperation(
            f"the {self.scheme} provider cannot rotate keys itself; rotate the key in the "
            "backend and restart, or use a provider that supports rotation"
        )

    def health_check(self) -> HealthStatus:
        """Check that the KEK can wrap and unwrap now. Never raises for backend failures."""
        import time

        start = time.perf_counter()
        probe = {"tigerseal-health-check": "1"}
        try:
            dk = self.generate_data_key(probe)
            ok = self.unwrap(dk.wrapped, probe) == dk.plaintext
            detail = "wrap/unwrap round trip ok" if ok else "round trip returned another key"
        except Exception as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        return HealthStatus(
            ok=ok,
            provider=self.scheme,
            key_id=self.key_id,
            key_version=self.key_version,
            detail=detail,
            latency_ms=(time.perf_counter() - start) * 1000,
        )

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections or sessions. Idempotent."""

    def __enter__(self) -> KeyProvider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.uri} v{self.key_version}>"
