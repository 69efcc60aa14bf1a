"""tigerseal for ``async def`` code (asyncio; anyio's asyncio backend), like ``limits.aio``.

Same names as the synchronous API, awaited::

    from tigerseal import aio

    stored = await aio.hash_password(password)               # hash pool, off the loop
    ok, new_hash = await aio.verify_and_update(password, stored)
    if not await aio.verify_rate_limit(client_id, 100, 60):  # redis.asyncio: one EVALSHA
        ...  # 429
    payload = await aio.verify_jwt_token(token, required_scopes=["read"])
    svc = aio.get_encryption_service()
    message = await svc.encrypt(b"secret", {"table": "accounts"})
    await aio.audit_security_event("authn_login_success", user_id="42")

What runs where:

========================  ==================================================================
envelope (KMS, Vault,     the I/O pool (``TIGERSEAL_AIO_IO_THREADS``, default 10): boto3 and
PKCS#11 providers)        hvac have no maintained async client that fits
envelope (env://,         on the event loop up to 64 KiB (faster than a thread hop), else the
file:// only)             I/O pool
password hashing          the hash pool (``TIGERSEAL_AIO_HASH_THREADS``, default: CPU cores),
                          separate so logins cannot starve ``asyncio.to_thread``
rate limits               Redis: ``redis.asyncio``, one ``EVALSHA`` (the sync storage's Lua
                          scripts); memory: on the loop (microseconds); others: I/O pool
revocation checks         Redis: ``redis.asyncio`` ``EXISTS``; memory: on the loop
audit                     the I/O pool (the file sink may fsync)
========================  ==================================================================

Async Redis connections belong to the event loop that opened them; the module-level functions
keep one async view per running loop. :func:`configure` sets the pool sizes.
"""

from __future__ import annotations

from tigerseal.aio._audit import audit_security_event
from tigerseal.aio._envelope import AsyncEncryptionService, get_encryption_service
from tigerseal.aio._passwords import (
    hash_password,
    needs_update,
    verify_and_update,
    verify_password,
)
from tigerseal.aio._pools import configure, pool_sizes, run_hash, run_io, shutdown
from tigerseal.aio._ratelimit import (
    AsyncRateLimiter,
    AsyncRateLimitStorage,
    SyncStorageAdapter,
    async_storage,
    get_rate_limit_status,
    get_rate_limiter,
    verify_rate_limit,
)
from tigerseal.aio._tokens import (
    AsyncRevocationStore,
    SyncRevocationAdapter,
    async_revocation_store,
    refresh_tokens,
    revoke_token,
    verify_jwt_token,
)

__all__ = [
    "AsyncEncryptionService",
    "AsyncRateLimitStorage",
    "AsyncRateLimiter",
    "AsyncRevocationStore",
    "SyncRevocationAdapter",
    "SyncStorageAdapter",
    "async_revocation_store",
    "async_storage",
    "audit_security_event",
    "configure",
    "get_encryption_service",
    "get_rate_limit_status",
    "get_rate_limiter",
    "hash_password",
    "needs_update",
    "pool_sizes",
    "refresh_tokens",
    "revoke_token",
    "run_hash",
    "run_io",
    "shutdown",
    "verify_and_update",
    "verify_jwt_token",
    "verify_password",
    "verify_rate_limit",
]
