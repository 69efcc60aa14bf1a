"""Sign-in for ``async`` routes: the password check runs off the event loop.

::

    guard = LoginGuard(max_failures_per_user=5, max_failures_per_ip=20)
    login = Login(guard, proxies=TrustedProxies(["10.0.0.0/8"]))

    @app.post("/login")
    async def sign_in(request: Request, form: OAuth2PasswordRequestForm = Depends()):
        user = await users.get(form.username)            # None when unknown
        await login.authenticate(request, form.username, form.password,
                                 user.password_hash if user else None,
                                 on_rehash=lambda new: users.set_hash(form.username, new))
        return {"access_token": create_jwt_token(form.username), "token_type": "bearer"}

A wrong password or unknown user answers 401 ``invalid_credentials``; a locked user or address
429 ``login_locked`` with ``Retry-After`` -- the same for users that do not exist.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import HTTPConnection
from tigerseal.aio import run_hash
from tigerseal.errors import InvalidCredentialsError, LoginLockedError
from tigerseal.web import LoginGuard, LoginResult, TrustedProxies

from tigerseal_fastapi._client import client_ip_from_scope
from tigerseal_fastapi._errors import to_http_exception

__all__ = ["Login"]

log = logging.getLogger("tigerseal_fastapi")

#: Stores an upgraded hash (plain or ``async``).
RehashHook = Callable[[str], "object | Awaitable[object]"]


class Login:
    """Password sign-in for FastAPI with lockout, audit and rehash (see the module docs).

    Args:
        guard: the framework-neutral :class:`~tigerseal.web.LoginGuard` (default: one with its
            defaults: 5 failures per user, 20 per address, 15 minutes).
        proxies: trusted proxies for the client address.
        realm: the ``realm`` of the 401 challenge.
    """

    def __init__(
        self,
        guard: LoginGuard | None = None,
        *,
        proxies: TrustedProxies | None = None,
        realm: str | None = None,
    ) -> None:
        self.guard = guard or LoginGuard()
        self.proxies = proxies or TrustedProxies()
        self.realm = realm

    async def authenticate(
        self,
        request: HTTPConnection,
        username: str,
        password: str,
        stored_hash: str | None,
        *,
        on_rehash: RehashHook | None = None,
    ) -> LoginResult:
        """Verify the password in tigerseal.aio's hash pool; raise an HTTP error on failure.

        Args:
            request: the request (for the client address).
            username: the name the client sent.
            password: the password the client sent.
            stored_hash: the user's stored hash, ``None`` for an unknown user.
            on_rehash: stores an upgraded hash; may be ``async`` (it is then awaited on the
                event loop after the check).

        Returns:
            The successful result.

        Raises:
            TigerSealHTTPException: 401 ``invalid_credentials`` or 429 ``login_locked``.
        """
        ip = client_ip_from_scope(request.scope, self.proxies)
        guard = self.guard
        try:
            # tigerseal.aio's hash pool: its own threads (TIGERSEAL_AIO_HASH_THREADS, default
            # one per core), so a burst of sign-ins waits there and cannot take the threads
            # the application's sync dependencies run on.
            result = await run_hash(
                guard.authenticate, username, password, stored_hash, client_ip=ip
            )
        except (InvalidCredentialsError, LoginLockedError) as exc:
            raise to_http_exception(exc, realm=self.realm) from None
        if result.new_hash is not None and on_rehash is not None:
            try:
                stored = on_rehash(result.new_hash)
                if inspect.isawaitable(stored):
                    await stored
            except Exception:
                # The user proved the password; failing to store the upgrade only delays it.
                log.warning("could not store the upgraded password hash", exc_info=True)
        return result
