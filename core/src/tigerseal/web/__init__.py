"""Framework-neutral pieces of a web integration (FastAPI, Starlette, Django, Flask...).

Pure Python, no framework import. Each framework package (``tigerseal_fastapi``,
``tigerseal_django``, ``tigerseal_flask``) wires these into its own request and response types:

* :class:`TrustedProxies` -- the client address, believing ``X-Forwarded-For`` / ``Forwarded``
  only as far as trusted proxies wrote it;
* :func:`bearer_token`, :func:`bearer_challenge` -- RFC 6750 ``Authorization`` and
  ``WWW-Authenticate``;
* :class:`RateLimitRule`, :func:`check_rate_limit` -- per-client quotas with the IETF
  ``RateLimit`` / ``RateLimit-Policy`` / ``Retry-After`` fields; :func:`exempt_prefixes`
  checks the paths an app-wide limit leaves alone;
* :func:`http_error` -- tigerseal errors as a status, a code and a message safe to show;
* :class:`LoginGuard` -- password sign-in with rehash, audit, and lockout per user and address;
* :func:`verify_bearer_request`, :func:`verify_api_key_request` -- a request's JWT or API key
  checked with its scopes, failures audited (synchronous frameworks: Django, Flask);
  :class:`VerifiedTokens` lets a repeated token skip the signature check.

See ``docs/fastapi.md`` for the FastAPI use of each.
"""

from __future__ import annotations

from tigerseal.web._auth import (
    VerifiedTokens,
    audit_auth_failure,
    verify_api_key_request,
    verify_bearer_request,
)
from tigerseal.web._challenge import bearer_challenge, bearer_token, quoted_string
from tigerseal.web._errors import HTTPError, http_error
from tigerseal.web._login import AuditHook, LoginGuard, LoginResult
from tigerseal.web._proxies import ForwardedHeader, TrustedProxies, parse_address
from tigerseal.web._ratelimit import (
    RateLimitResult,
    RateLimitRule,
    check_rate_limit,
    exempt_prefixes,
)

__all__ = [
    "AuditHook",
    "ForwardedHeader",
    "HTTPError",
    "LoginGuard",
    "LoginResult",
    "RateLimitResult",
    "RateLimitRule",
    "TrustedProxies",
    "VerifiedTokens",
    "audit_auth_failure",
    "bearer_challenge",
    "bearer_token",
    "check_rate_limit",
    "exempt_prefixes",
    "http_error",
    "parse_address",
    "quoted_string",
    "verify_api_key_request",
    "verify_bearer_request",
]
