"""``LockoutModelBackend``: Django's ModelBackend with tigerseal's sign-in lockout and audit.

::

    AUTHENTICATION_BACKENDS = ["tigerseal_django.backends.LockoutModelBackend"]

Like django-axes: failures are counted per user name and per client address (in tigerseal's
rate-limit storage: ``memory://`` per process, ``redis://`` shared), and after
``TIGERSEAL["LOGIN_MAX_FAILURES_PER_USER"]`` (5) / ``["LOGIN_MAX_FAILURES_PER_IP"]`` (20)
failures within ``["LOGIN_LOCKOUT_SECONDS"]`` (900) sign-in raises
:class:`~tigerseal.errors.LoginLockedError` (429 with ``Retry-After`` through
:class:`~tigerseal_django.middleware.TigerSealErrorMiddleware`) without checking the password.
Failures and lockouts are audited. Passwords are checked by Django's hashers (so hashes are
upgraded on login, see :mod:`tigerseal_django.hashers`). The counting is
:class:`tigerseal.web.LoginGuard`'s.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from tigerseal_django.conf import get_login_guard
from tigerseal_django.web import client_ip

__all__ = ["LockoutModelBackend"]


class LockoutModelBackend(ModelBackend):  # type: ignore[misc]
    """ModelBackend with lockout per user name and per address (see the module docs)."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is None:
            from django.contrib.auth import get_user_model

            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        address = client_ip(request) if request is not None else "unknown"
        guard = get_login_guard()
        guard.check(username, address)  # LoginLockedError: no password is checked
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            guard.record_failure(username, address)
        else:
            guard.record_success(username, address)
        return user
