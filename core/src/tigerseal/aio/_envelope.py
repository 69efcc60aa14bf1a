"""``AsyncEncryptionService``: the envelope service for ``async def`` code."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from tigerseal.aio._pools import run_io

if TYPE_CHECKING:
    from tigerseal.envelope import EncryptedData, EncryptionService
    from tigerseal.envelope._service import MessageInput
    from tigerseal.errors import DecryptionError
    from tigerseal.spi import KeyProvider

__all__ = ["DEFAULT_INLINE_LIMIT", "INLINE_SCHEMES", "AsyncEncryptionService"]

#: Providers whose keys are in this process (no network, no device): calling them costs
#: microseconds, less than a hop to a thread.
INLINE_SCHEMES = frozenset({"env", "file", "fake"})

#: Values up to this many bytes are encrypted on the event loop when every provider is local
#: (AES-GCM of 64 KiB takes tens of microseconds); larger ones go to the I/O pool.
DEFAULT_INLINE_LIMIT = 64 * 1024


def _is_inline(provider: KeyProvider) -> bool:
    # A provider may say so itself (``aio_inline = True``, e.g. a third-party local keyring);
    # otherwise only the built-in local schemes (a fake provider with latency is "remote").
    flag = getattr(provider, "aio_inline", None)
    if isinstance(flag, bool):
        return flag
    return provider.scheme in INLINE_SCHEMES and not getattr(provider, "latency", 0)


class AsyncEncryptionService:
    """Async twin of :class:`~tigerseal.envelope.EncryptionService` (same messages, same keys).

    With network providers (``aws-kms://``, ``vault://``, ``pkcs11://``) each call runs in
    tigerseal's bounded I/O thread pool (see :mod:`tigerseal.aio` for its size): neither
    boto3 nor hvac has a maintained async client that fits. With only local providers
    (``env://``, ``file://``) values up to ``inline_limit`` bytes are processed directly on the
    event loop, which is faster than any thread hop; bigger ones go to the pool.

    Args:
        service: the synchronous service to wrap (default: the shared one,
            :func:`tigerseal.get_encryption_service`). It is thread-safe, so one instance
            serves the sync and the async API together.
        inline_limit: bytes up to which local-provider work stays on the event loop.
    """

    def __init__(
        self, service: EncryptionService | None = None, *, inline_limit: int = DEFAULT_INLINE_LIMIT
    ) -> None:
        # No service given: the shared one, resolved on first use in the I/O pool. Building it
        # (imports, a keyring file, a KMS or Vault client) must not stall the event loop.
        self._service = service
        self._local = service is not None and _all_local(service)
        self.inline_limit = inline_limit

    @property
    def service(self) -> EncryptionService:
        """The wrapped synchronous service (the shared one, built now if not yet)."""
        svc = self._service
        if svc is None:
            from tigerseal.envelope import get_encryption_service

            svc = self._bind(get_encryption_service())
        return svc

    def _bind(self, svc: EncryptionService) -> EncryptionService:
        self._local = _all_local(svc)
        self._service = svc
        return svc

    async def _svc(self) -> EncryptionService:
        svc = self._service
        if svc is None:
            from tigerseal.envelope import get_encryption_service

            svc = self._bind(await run_io(get_encryption_service))
        return svc

    def _inline(self, size: int) -> bool:
        return self._local and size <= self.inline_limit

    async def encrypt(
        self, data: str | bytes | bytearray | memoryview, context: Mapping[str, str] | None = None
    ) -> EncryptedData:
        """Encrypt a value (see :meth:`EncryptionService.encrypt`)."""
        svc = self._service or await self._svc()
        if self._inline(_data_size(data)):
            return svc.encrypt(data, context)
        return await run_io(svc.encrypt, data, context)

    async def encrypt_to_string(
        self, data: str | bytes | bytearray | memoryview, context: Mapping[str, str] | None = None
    ) -> str:
        """Encrypt and return the ``ts1.`` text form (for a text column or JSON)."""
        return (await self.encrypt(data, context)).to_text()

    async def decrypt(
        self, message: MessageInput, context: Mapping[str, str] | None = None
    ) -> bytes:
        """Decrypt a message (see :meth:`EncryptionService.decrypt`)."""
        svc = self._service or await self._svc()
        if self._inline(_size(message)):
            return svc.decrypt(message, context)
        return await run_io(svc.decrypt, message, context)

    async def decrypt_to_string(
        self, message: MessageInput, context: Mapping[str, str] | None = None
    ) -> str:
        """Decrypt and decode as UTF-8 (see :meth:`EncryptionService.decrypt_to_string`)."""
        svc = self._service or await self._svc()
        if self._inline(_size(message)):
            return svc.decrypt_to_string(message, context)
        return await run_io(svc.decrypt_to_string, message, context)

    async def encrypt_many(
        self,
        values: Iterable[str | bytes | bytearray | memoryview],
        contexts: Mapping[str, str] | Sequence[Mapping[str, str] | None] | None = None,
    ) -> list[EncryptedData]:
        """Encrypt a batch (see :meth:`EncryptionService.encrypt_many`) in the I/O pool."""
        svc = self._service or await self._svc()
        return await run_io(svc.encrypt_many, list(values), contexts)

    async def decrypt_many(
        self,
        messages: Iterable[MessageInput],
        contexts: Mapping[str, str] | Sequence[Mapping[str, str] | None] | None = None,
        *,
        return_exceptions: bool = False,
    ) -> list[bytes] | list[bytes | DecryptionError]:
        """Decrypt a batch (see :meth:`EncryptionService.decrypt_many`) in the I/O pool."""
        msgs = list(messages)
        svc = self._service or await self._svc()
        if return_exceptions:
            return await run_io(lambda: svc.decrypt_many(msgs, contexts, return_exceptions=True))
        return await run_io(svc.decrypt_many, msgs, contexts)

    async def encrypt_stream(
        self, src: BinaryIO, dst: BinaryIO, context: Mapping[str, str] | None = None
    ) -> int:
        """Encrypt a (blocking) file object to another, in the I/O pool (plaintext bytes)."""
        return await run_io(lambda: self.service.encrypt_stream(src, dst, context))

    async def decrypt_stream(
        self, src: BinaryIO, dst: BinaryIO, context: Mapping[str, str] | None = None
    ) -> int:
        """Decrypt a (blocking) file object to another, in the I/O pool."""
        return await run_io(lambda: self.service.decrypt_stream(src, dst, context))

    async def rewrap(self, message: MessageInput) -> EncryptedData:
        """Re-wrap a message's data key under the newest key versions (always in the pool)."""
        return await run_io(lambda: self.service.rewrap(message))

    async def rewrap_many(self, messages: Sequence[MessageInput]) -> list[EncryptedData]:
        """Re-wrap several messages in one pool call (batched provider calls)."""
        msgs = list(messages)
        return await run_io(lambda: self.service.rewrap_many(msgs))

    @property
    def metrics(self) -> dict[str, int]:
        """The wrapped service's counters (provider calls, cache hits...)."""
        return self.service.metrics

    async def aclose(self) -> None:
        """Close the wrapped service's providers (in the pool: a network close may block)."""
        if self._service is not None:
            await run_io(self._service.close)

    def __repr__(self) -> str:
        shown = "the shared service" if self._service is None else repr(self._service)
        return f"AsyncEncryptionService({shown})"


def _data_size(data: str | bytes | bytearray | memoryview) -> int:
    """Bytes to encrypt, at most (``len`` counts characters of a str, items of a memoryview)."""
    if isinstance(data, str):
        # isascii() is O(1) on CPython; other text is up to 4 UTF-8 bytes per character.
        return len(data) if data.isascii() else 4 * len(data)
    if isinstance(data, memoryview):
        return data.nbytes
    return len(data)


def _all_local(service: EncryptionService) -> bool:
    return all(_is_inline(p) for p in service.providers)


def _size(message: Any) -> int:
    try:
        return len(message)
    except TypeError:  # EncryptedData without __len__: judge by its bytes
        return len(bytes(message))


_default: AsyncEncryptionService | None = None


def get_encryption_service() -> AsyncEncryptionService:
    """The async view of the shared service (:func:`tigerseal.get_encryption_service`).

    Not built yet: the view builds it in the I/O pool on first use, off the event loop.
    """
    global _default
    from tigerseal.envelope._default import _SERVICE

    built = _SERVICE.peek()
    current = _default
    if built is None:
        if current is None or current._service is not None:
            current = _default = AsyncEncryptionService()
        return current
    if current is None or current._service is not built:  # reset or replaced: follow it
        if current is not None and current._service is None:
            current._bind(built)  # built by another caller meanwhile
        else:
            current = _default = AsyncEncryptionService(built)
    return current
