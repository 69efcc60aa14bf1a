"""FastAPI / Starlette integration for tigerseal.

* :class:`BearerAuth` -- ``Security(bearer, scopes=[...])``: JWT bearer auth, RFC 6750 errors;
  :class:`BearerAuthMiddleware` -- the same check (and a per-subject quota) app-wide, with no
  dependency to resolve;
* :class:`APIKeyAuth` -- API keys from a header, with expiry and scopes;
* :class:`RateLimit` (dependency) and :class:`RateLimitMiddleware` -- per-client quotas with
  ``RateLimit`` / ``RateLimit-Policy`` / ``Retry-After`` and 429;
* :class:`ClientIP`, :func:`client_ip` -- the client address through trusted proxies only;
* :func:`install_exception_handlers` -- tigerseal errors as status, code and safe message;
* :class:`Login` -- password sign-in off the event loop, with rehash, audit and lockout;
* :class:`EncryptedStr` with :class:`Encrypted` -- pydantic fields stored as ``ts1.`` text.

The framework-neutral parts (:class:`~tigerseal.web.TrustedProxies`,
:class:`~tigerseal.web.RateLimitRule`, :class:`~tigerseal.web.LoginGuard`) are re-exported.
See ``docs/fastapi.md``.
"""

from __future__ import annotations

from tigerseal.web import LoginGuard, LoginResult, RateLimitResult, RateLimitRule, TrustedProxies

from tigerseal_fastapi._auth import APIKeyAuth, APIKeyLookup, BearerAuth, BearerAuthMiddleware
from tigerseal_fastapi._client import ClientIP, client_ip, client_ip_from_scope
from tigerseal_fastapi._errors import (
    TigerSealHTTPException,
    install_exception_handlers,
    to_http_exception,
)
from tigerseal_fastapi._fields import Encrypted, EncryptedStr
from tigerseal_fastapi._login import Login
from tigerseal_fastapi._ratelimit import RateLimit, RateLimitKey, RateLimitMiddleware

__all__ = [
    "APIKeyAuth",
    "APIKeyLookup",
    "BearerAuth",
    "BearerAuthMiddleware",
    "ClientIP",
    "Encrypted",
    "EncryptedStr",
    "Login",
    "LoginGuard",
    "LoginResult",
    "RateLimit",
    "RateLimitKey",
    "RateLimitMiddleware",
    "RateLimitResult",
    "RateLimitRule",
    "TigerSealHTTPException",
    "TrustedProxies",
    "client_ip",
    "client_ip_from_scope",
    "install_exception_handlers",
    "to_http_exception",
]
