"""The key-provider interface: what every key store (env, file, KMS, Vault, HSM) implements.

A provider holds key-encryption keys (KEKs) and never sees payloads: it wraps and unwraps the
256-bit data keys (DEKs) that the envelope layer generates. Providers are built from URIs whose
scheme is the provider's name (``env://``, ``aws-kms://``, ``vault://``, ``pkcs11:``).
"""

from __future__ import annotations

import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import ClassVar, Self, TypeVar

from tigerseal.errors import KeyProviderError, TigerSealError
from tigerseal.spi._capabilities import HealthDetail

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
        ok: whether a wrap/unwrap round trip (or the backend's own probe) succeeded.
        provider: provider name.
        key_id: the KEK identifier (``"?"`` if it could not be read).
        key_version: the version new messages would use (``0`` if it could not be read).
        detail: what was checked, or what failed and how to fix it (never a secret).
        latency_ms: how long the check took.
        error: the class name of the exception the probe raised (``""`` when ``ok``).
        expected: whether that exception was a :class:`~tigerseal.errors.TigerSealError`
            (an operational failure the provider translated) rather than an unexpected one
            (a bug in the provider or its SDK).
    """

    ok: bool
    provider: str
    key_id: str
    key_version: int
    detail: str = ""
    latency_ms: float = 0.0
    error: str = ""
    expected: bool = True

    @property
    def state(self) -> str:
        """``"OK"`` or ``"FAIL"``, as ``tigerseal doctor`` prints it."""
        return "OK" if self.ok else "FAIL"


class KeyProvider(ABC):
    """Base class of every key provider: the small core interface.

    Subclasses implement :meth:`wrap`, :meth:`unwrap` and the two identity properties
    (:attr:`key_id`, :attr:`key_version`); :meth:`owns`, :meth:`generate_data_key`,
    :attr:`uri` and :meth:`health_check` have correct defaults. Everything else a backend may
    be able to do is an optional capability, an ABC to subclass as well (see
    :mod:`tigerseal.spi`): :class:`~tigerseal.spi.Rotatable` (``rotate``),
    :class:`~tigerseal.spi.Retirable` (``min_decryption_version``, ``retire_below``),
    :class:`~tigerseal.spi.BatchWrap` (server-side ``rewrap``, ``unwrap_many``,
    ``rewrap_many``) and :class:`~tigerseal.spi.HealthDetail`. Callers use the functions of
    :mod:`tigerseal.spi` (``rewrap(provider, ...)``, ``rotate(provider)``, ...), which use the
    capability when present and a correct fallback (or a clear ``UnsupportedOperation``)
    otherwise; the contract suite detects each capability and tests it.

    Contract (checked by :mod:`tigerseal.testing.contract` for every provider):

    * ``unwrap(wrap(dek, ctx), ctx) == dek``;
    * unwrapping with another context, a tampered blob, or under another key raises
      :class:`~tigerseal.errors.DecryptionError` where the backend binds context, and never
      returns a wrong key silently;
    * operational failures raise :class:`~tigerseal.errors.KeyProviderError` subclasses whose
      message names the remedy;
    * :meth:`health_check` never raises;
    * instances are safe to share between threads.
    """

    #: The provider's name: URI scheme, entry-point name and the name recorded in envelopes.
    scheme: ClassVar[str]

    @property
    def binds_context(self) -> bool:
        """Whether the backend itself binds the context to the wrapped key.

        (KMS EncryptionContext, Vault associated_data, AES-GCM AAD.) The envelope binds the
        context in any case; this tells the contract suite whether ``unwrap`` with a wrong
        context must fail. Declared once here; a provider whose answer depends on its options
        overrides this property (never an attribute set per instance).
        """
        return True

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
            KeyVersionRetired: the version is retired (:class:`~tigerseal.spi.Retirable`).
            KeyProviderError: the backend failed operationally.
        """

    def owns(self, wrapped: WrappedKey) -> bool:
        """Whether this provider should try to unwrap ``wrapped`` (same scheme and KEK)."""
        return wrapped.provider == self.scheme and wrapped.key_id == self.key_id

    def health_check(self) -> HealthStatus:
        """Probe the backend now and report; never raises. Do not override: implement _probe.

        Runs :meth:`_probe`; whatever it raises becomes a failed status naming the exception
        (translated :class:`~tigerseal.errors.TigerSealError` messages are shown as they are,
        anything else is marked unexpected). After a successful probe, a
        :class:`~tigerseal.spi.HealthDetail` provider's :meth:`health_detail` is appended; its
        failure is reported in the detail but does not fail the check.
        """
        start = time.perf_counter()
        ok, error, expected = True, "", True
        try:
            detail = self._probe()
        except Exception as exc:  # a health check reports, it never raises
            ok, error, expected = False, type(exc).__name__, isinstance(exc, TigerSealError)
            detail = _describe_failure(exc)
        if ok and isinstance(self, HealthDetail):
            try:
                extra = self.health_detail()
            except Exception as exc:  # detail is optional: report it, keep the result
                extra = f"detail unavailable ({_describe_failure(exc)})"
            if extra:
                detail = f"{detail}; {extra}" if detail else extra
        return HealthStatus(
            ok=ok,
            provider=str(getattr(self, "scheme", type(self).__name__)),
            key_id=_read_or(lambda: self.key_id, "?"),
            key_version=_read_or(lambda: self.key_version, 0),
            detail=detail,
            latency_ms=(time.perf_counter() - start) * 1000,
            error=error,
            expected=expected,
        )

    def _probe(self) -> str:
        """Check the KEK works now; return what was checked. Raise on any failure.

        The default round-trips a fresh data key; override it to use the backend's own
        check (it must still exercise the key, not only the connection).
        """
        probe = {"tigerseal-health-check": "1"}
        dk = self.generate_data_key(probe)
        if self.unwrap(dk.wrapped, probe) != dk.plaintext:
            raise KeyProviderError(
                f"the {self.scheme} provider returned another key than it wrapped; report this "
                "to the provider's authors"
            )
        return "wrap/unwrap round trip ok"

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections or sessions. Idempotent."""

    def __enter__(self) -> Self:
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


def _describe_failure(exc: BaseException) -> str:
    """One line for a failed probe; untrusted text escaped, never a traceback."""
    from tigerseal._text import escape_control

    message = escape_control(str(exc), limit=500)
    if isinstance(exc, TigerSealError):
        return f"{type(exc).__name__}: {message}"
    return (
        f"unexpected {type(exc).__name__}: {message} (the provider did not translate this "
        "error; report it to its authors)"
    )


_T = TypeVar("_T")


def _read_or(read: Callable[[], _T], default: _T) -> _T:
    """An identity property for the status; a backend that cannot answer gets ``default``."""
    try:
        return read()
    except Exception:  # the probe's failure already says why
        return default
