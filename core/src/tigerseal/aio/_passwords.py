"""Password hashing off the event loop, in tigerseal's hash pool."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tigerseal.aio._pools import run_hash

if TYPE_CHECKING:
    from tigerseal.passwords import PasswordContext

__all__ = ["hash_password", "needs_update", "verify_and_update", "verify_password"]


def _context(context: PasswordContext | None) -> PasswordContext:
    if context is not None:
        return context
    from tigerseal.passwords import get_password_context

    # Resolved in the worker thread: the first call may read settings and a pepper file.
    return get_password_context()


def _hash(password: str, context: PasswordContext | None) -> str:
    return _context(context).hash(password)


def _verify(password: str, stored_hash: str | None, context: PasswordContext | None) -> bool:
    return _context(context).verify(password, stored_hash)


def _verify_and_update(
    password: str, stored_hash: str, context: PasswordContext | None
) -> tuple[bool, str | None]:
    return _context(context).verify_and_update(password, stored_hash)


async def hash_password(password: str, *, context: PasswordContext | None = None) -> str:
    """Hash a password (see :func:`tigerseal.passwords.hash_password`) in the hash pool.

    Args:
        password: the password.
        context: the :class:`~tigerseal.passwords.PasswordContext` to use (default: the
            process-wide one).
    """
    return await run_hash(_hash, password, context)


async def verify_password(
    password: str, stored_hash: str | None, *, context: PasswordContext | None = None
) -> bool:
    """Check a password (see :func:`tigerseal.passwords.verify_password`) in the hash pool.

    ``stored_hash=None`` (unknown user) verifies a dummy hash, so timing does not reveal
    whether the user exists.
    """
    return await run_hash(_verify, password, stored_hash, context)


async def verify_and_update(
    password: str, stored_hash: str, *, context: PasswordContext | None = None
) -> tuple[bool, str | None]:
    """Verify and return a replacement hash when outdated, in the hash pool.

    Returns:
        ``(False, None)``, ``(True, None)`` or ``(True, new_hash)`` (store ``new_hash``).
    """
    return await run_hash(_verify_and_update, password, stored_hash, context)


async def needs_update(stored_hash: str, *, context: PasswordContext | None = None) -> bool:
    """Whether a stored hash should be replaced at the next login (no hashing; cheap).

    On the event loop, unless the process-wide context is not built yet: building it reads
    the settings and a pepper file, which runs in the hash pool like the other calls.
    """
    if context is None:
        from tigerseal.passwords._context import _CONTEXT

        if _CONTEXT.peek() is None:
            context = await run_hash(_context, None)
    return _context(context).needs_update(stored_hash)
