"""JWT verification with async revocation checks, and the async revocation store."""

from __future__ import annotations

import asyncio
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tigerseal.aio._pools import run_io, run_io_to_completion
from tigerseal.errors import TokenRevokedError

if TYPE_CHECKING:
    from tigerseal.spi import RevocationStore
    from tigerseal.tokens import TokenManager, TokenPair, TokenPayload

__all__ = [
    "AsyncRevocationStore",
    "SyncRevocationAdapter",
    "async_revocation_store",
    "refresh_tokens",
    "revoke_token",
    "verify_jwt_token",
]


class AsyncRevocationStore(ABC):
    """Async counterpart of :class:`~tigerseal.spi.RevocationStore` (same semantics)."""

    @abstractmethod
    async def is_revoked(self, jti: str) -> bool:
        """Whether the token id is revoked."""

    @abstractmethod
    async def is_family_revoked(self, family_id: str) -> bool:
        """Whether the refresh-token family is revoked."""

    @abstractmethod
    async def revoke(self, jti: str, expires_at: float) -> None:
        """Revoke one token id until ``expires_at`` (epoch seconds)."""

    @abstractmethod
    async def revoke_family(self, family_id: str, expires_at: float) -> None:
        """Revoke every refresh token of a family."""

    @abstractmethod
    async def mark_used(self, jti: str, expires_at: float) -> bool:
        """Record a refresh token as used; ``False`` if it already was (reuse)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Idempotent."""


class SyncRevocationAdapter(AsyncRevocationStore):
    """A synchronous revocation store behind the async interface.

    Args:
        store: the store.
        offload: run each call in the I/O pool; ``False`` calls it on the event loop (right
            for the in-memory store).
    """

    def __init__(self, store: RevocationStore, *, offload: bool) -> None:
        self.store = store
        self.offload = offload

    async def is_revoked(self, jti: str) -> bool:
        if not self.offload:
            return self.store.is_revoked(jti)
        return await run_io(self.store.is_revoked, jti)

    async def is_family_revoked(self, family_id: str) -> bool:
        if not self.offload:
            return self.store.is_family_revoked(family_id)
        return await run_io(self.store.is_family_revoked, family_id)

    async def revoke(self, jti: str, expires_at: float) -> None:
        if not self.offload:
            self.store.revoke(jti, expires_at)
        else:
            await run_io_to_completion(self.store.revoke, jti, expires_at)

    async def revoke_family(self, family_id: str, expires_at: float) -> None:
        if not self.offload:
            self.store.revoke_family(family_id, expires_at)
        else:
            await run_io_to_completion(self.store.revoke_family, family_id, expires_at)

    async def mark_used(self, jti: str, expires_at: float) -> bool:
        if not self.offload:
            return self.store.mark_used(jti, expires_at)
        return await run_io(self.store.mark_used, jti, expires_at)

    def __repr__(self) -> str:
        return f"SyncRevocationAdapter({self.store!r}, offload={self.offload})"


def async_revocation_store(store: RevocationStore) -> AsyncRevocationStore:
    """The async view of a revocation store (native twin via ``to_async()``, else adapted)."""
    to_async = getattr(store, "to_async", None)
    if callable(to_async):
        twin = to_async()
        if twin is not None:
            return twin  # type: ignore[no-any-return]
    from tigerseal.tokens import MemoryRevocationStore

    return SyncRevocationAdapter(store, offload=not isinstance(store, MemoryRevocationStore))


# (loop, sync store) -> async view: an async Redis connection belongs to the loop that made it.
_views: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[int, tuple[RevocationStore, AsyncRevocationStore]]
] = weakref.WeakKeyDictionary()


def _view(store: RevocationStore) -> AsyncRevocationStore:
    per_loop = _views.setdefault(asyncio.get_running_loop(), {})
    hit = per_loop.get(id(store))
    if hit is not None and hit[0] is store:
        return hit[1]
    view = async_revocation_store(store)
    if len(per_loop) > 64:  # managers are few; never hoard
        per_loop.clear()
    per_loop[id(store)] = (store, view)
    return view


async def _shared_manager() -> TokenManager:
    """The process-wide token manager, built in the I/O pool if not yet (settings, key files)."""
    from tigerseal.tokens import _default

    if _default._MANAGER.peek() is None:
        return await run_io(_default.get_token_manager)
    return _default.get_token_manager()


async def verify_jwt_token(
    token: str | bytes,
    *,
    required_scopes: Iterable[str] = (),
    audience: str | None = None,
    token_type: str = "access",  # noqa: S107 - not a password
    manager: TokenManager | None = None,
    revocation: AsyncRevocationStore | None = None,
) -> TokenPayload:
    """Verify a token (see :func:`tigerseal.tokens.verify_jwt_token`); revocation awaited.

    The signature and claims are checked on the event loop (microseconds for HS256/EdDSA,
    well under a millisecond for RS256); the revocation store is consulted through its async
    view (``redis.asyncio`` with tigerseal-redis).

    Args:
        token: the compact JWT.
        required_scopes: scopes the token must grant.
        audience: the audience expected (default: the manager's).
        token_type: ``access`` or ``refresh``.
        manager: the :class:`~tigerseal.tokens.TokenManager` (default: the process-wide one).
        revocation: the async store to consult (default: the async view of the manager's).

    Raises:
        TokenError: a subclass saying why (expired, invalid, revoked, insufficient scope).
    """
    if manager is None:
        manager = await _shared_manager()
    payload = manager.verify(
        token, audience=audience, token_type=token_type, check_revocation=False
    )
    if revocation is None and manager.revocation is not None:
        revocation = _view(manager.revocation)
    if revocation is not None:
        jti = payload.jti
        if jti is not None and await revocation.is_revoked(jti):
            raise TokenRevokedError("the token has been revoked; sign in again")
        fam = payload.family
        if fam is not None and await revocation.is_family_revoked(fam):
            raise TokenRevokedError("the token's sign-in has been revoked; sign in again")
    required = tuple(required_scopes)
    if required:
        from tigerseal.tokens import validate_token_scopes

        validate_token_scopes(payload, required)
    return payload


async def refresh_tokens(refresh_token: str, *, manager: TokenManager | None = None) -> TokenPair:
    """Rotate a refresh token (see :meth:`TokenManager.refresh`) in the I/O pool."""
    if manager is None:
        manager = await _shared_manager()
    return await run_io(manager.refresh, refresh_token)


async def revoke_token(
    token: str | TokenPayload, *, family: bool = False, manager: TokenManager | None = None
) -> None:
    """Revoke a token or its refresh family (see :meth:`TokenManager.revoke`) in the I/O pool."""
    if manager is None:
        manager = await _shared_manager()
    await run_io_to_completion(manager.revoke, token, family=family)
