"""Request handling for Django: client address, error responses, auth and rate-limit decorators.

::

    from tigerseal_django.web import api_key_required, jwt_required, rate_limit

    @jwt_required(scopes=["orders:read"])
    @rate_limit(100, 60)
    def orders(request):            # or: async def orders(request)
        return JsonResponse({"user": request.tigerseal_token.sub})

Failures answer with JSON ``{"error": code, "detail": message}`` and the status and headers
of :func:`tigerseal.web.http_error`: 401 with ``WWW-Authenticate: Bearer realm="api"`` (and
``error="invalid_token"`` when a token was sent), 403 with ``error="insufficient_scope"`` and
the scopes, 429 with ``RateLimit``, ``RateLimit-Policy`` and ``Retry-After``. The rules
themselves (trusted proxies, challenges, quotas) are :mod:`tigerseal.web`'s.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse
from tigerseal.errors import RateLimitExceeded, TokenError
from tigerseal.web import (
    RateLimitRule,
    VerifiedTokens,
    audit_auth_failure,
    bearer_challenge,
    check_rate_limit,
    http_error,
    verify_api_key_request,
    verify_bearer_request,
)

from tigerseal_django.conf import get_option, get_services, get_trusted_proxies

__all__ = [
    "api_key_required",
    "client_ip",
    "error_response",
    "jwt_required",
    "rate_limit",
]

View = TypeVar("View", bound=Callable[..., HttpResponse])


def client_ip(request: HttpRequest) -> str:
    """The client's address: ``REMOTE_ADDR``, or what ``TRUSTED_PROXIES`` say it was."""
    proxies = get_trusted_proxies()
    header = "HTTP_X_FORWARDED_FOR" if proxies.header == "x-forwarded-for" else "HTTP_FORWARDED"
    return proxies.client_ip(request.META.get("REMOTE_ADDR"), request.META.get(header))


def error_response(
    exc: BaseException,
    *,
    realm: str | None = None,
    scopes: Iterable[str] | None = None,
    scheme: str = "Bearer",
) -> JsonResponse:
    """The JSON response for a tigerseal error (status, code, safe message, headers)."""
    error = http_error(
        exc, realm=realm if realm is not None else get_option("REALM"), scopes=scopes, scheme=scheme
    )
    response = JsonResponse(error.body(), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


Check = Callable[[HttpRequest], tuple[HttpResponse | None, dict[str, str]]]


def _scopes(scopes: Iterable[str], realm: str | None) -> list[str]:
    """The required scopes, refused now if a challenge could not carry them or the realm.

    Found at request time instead, every unauthenticated request to the view would be a 500.
    """
    required = [scopes] if isinstance(scopes, str) else list(scopes)
    bearer_challenge(realm=realm, scope=required or None)
    return required


def _guarded(view: View, check: Check) -> View:
    """``view`` behind ``check``: its rejection is returned, its headers added to responses.

    Sync and async views alike: for an async view the check runs in a worker thread (a rate
    limit on Redis is a network round trip), so the event loop keeps turning.
    """
    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def awrapped(request: HttpRequest, *a: Any, **kw: Any) -> HttpResponse:
            rejected, headers = await sync_to_async(check, thread_sensitive=False)(request)
            if rejected is not None:
                return rejected
            response: HttpResponse = await view(request, *a, **kw)
            for name, value in headers.items():
                response.headers.setdefault(name, value)
            return response

        return awrapped  # type: ignore[return-value]

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *a: Any, **kw: Any) -> HttpResponse:
        rejected, headers = check(request)
        if rejected is not None:
            return rejected
        response = view(request, *a, **kw)
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    return wrapped  # type: ignore[return-value]


def jwt_required(*args: Any, scopes: Iterable[str] = (), realm: str | None = None) -> Any:
    """Require a bearer JWT granting ``scopes``; the payload is ``request.tigerseal_token``.

    Args:
        *args: the view, when used bare (``@jwt_required``).
        scopes: scopes the token must grant, all of them.
        realm: the challenge's realm (default ``TIGERSEAL["REALM"]``).
    """
    required = _scopes(scopes, realm)
    verified = VerifiedTokens()  # a repeated token skips the signature check

    def check(request: HttpRequest) -> tuple[HttpResponse | None, dict[str, str]]:
        try:
            request.tigerseal_token = verify_bearer_request(  # type: ignore[attr-defined]
                request.META.get("HTTP_AUTHORIZATION"),
                scopes=required,
                manager=get_services().tokens,
                audit=False,  # below, with the client address looked up only then
                cache=verified,
            )
        except TokenError as exc:
            audit_auth_failure(exc, source_ip=client_ip(request), resource=request.path)
            return error_response(exc, realm=realm, scopes=required), {}
        return None, {}

    def decorate(view: View) -> View:
        return _guarded(view, check)

    if len(args) == 1 and callable(args[0]):  # @jwt_required without arguments
        return decorate(args[0])
    return decorate


def api_key_required(
    lookup: Callable[[str], Any],
    *,
    scopes: Iterable[str] = (),
    header: str = "X-API-Key",
    realm: str | None = None,
) -> Callable[[View], View]:
    """Require an API key (``header``) whose record grants ``scopes``.

    Sets ``request.tigerseal_api_key`` to the :class:`~tigerseal.apikeys.APIKeyRecord`.

    Args:
        lookup: ``key_id -> APIKeyRecord | None`` (your storage of key records).
        scopes: scopes the key must grant.
        header: the request header holding the key.
        realm: the challenge's realm (default ``TIGERSEAL["REALM"]``).
    """
    required = _scopes(scopes, realm)

    def check(request: HttpRequest) -> tuple[HttpResponse | None, dict[str, str]]:
        try:
            request.tigerseal_api_key = verify_api_key_request(  # type: ignore[attr-defined]
                request.headers.get(header),
                lookup,
                scopes=required,
                source_ip=client_ip(request),
                resource=request.path,
            )
        except TokenError as exc:
            return error_response(exc, realm=realm, scopes=required, scheme="ApiKey"), {}
        return None, {}

    def decorate(view: View) -> View:
        return _guarded(view, check)

    return decorate


def apply_rate_limit(
    request: HttpRequest, rule: RateLimitRule, key: Callable[[HttpRequest], str] | None = None
) -> tuple[HttpResponse | None, dict[str, str]]:
    """Count ``request`` against ``rule``: ``(429 response or None, headers to send)``."""
    client = key(request) if key is not None else client_ip(request)
    result = check_rate_limit(client, rule, limiter=get_services().limiter)
    if result.allowed:
        return None, result.headers
    response = error_response(
        RateLimitExceeded("rate limit exceeded", retry_after=result.retry_after)
    )
    for name, value in result.headers.items():
        response[name] = value
    return response, result.headers


def rate_limit(
    limit: int,
    window: float,
    *,
    name: str | None = None,
    key: Callable[[HttpRequest], str] | None = None,
    **rule: Any,
) -> Callable[[View], View]:
    """Limit a view to ``limit`` requests per ``window`` seconds per client.

    Every response carries ``RateLimit`` / ``RateLimit-Policy``; a rejected request gets 429
    with ``Retry-After``. Works on sync and async views.

    Args:
        limit: requests per window.
        window: seconds.
        name: the quota's name in the headers and its counters (default: the view's name in
            the headers, its module and qualified name for the counters). Views given one
            name share one quota.
        key: ``request -> client id`` (default: the client address through trusted proxies;
            e.g. ``lambda r: r.tigerseal_token.sub`` below ``@jwt_required``).
        **rule: ``algorithm``, ``burst``, ``cost`` of :class:`~tigerseal.web.RateLimitRule`.
    """

    def decorate(view: View) -> View:
        made = RateLimitRule(limit, window, name or view.__name__, **rule)
        if name is not None:
            return _guarded(view, lambda request: apply_rate_limit(request, made, key))
        # Without a name, the counter is the view's own (module and qualified name): two views
        # called "index" must not share one quota. Clients still see the short name.
        scope = f"{view.__module__}.{view.__qualname__}|"

        def scoped(request: HttpRequest) -> str:
            return scope + (key(request) if key is not None else client_ip(request))

        return _guarded(view, lambda request: apply_rate_limit(request, made, scoped))

    return decorate
