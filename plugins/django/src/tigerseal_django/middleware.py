"""Middleware: a site-wide rate limit, optional JWT authentication, tigerseal errors as JSON.

::

    MIDDLEWARE = [
        "tigerseal_django.middleware.TigerSealErrorMiddleware",
        "tigerseal_django.middleware.RateLimitMiddleware",      # TIGERSEAL["RATE_LIMIT"]
        "tigerseal_django.middleware.JWTAuthenticationMiddleware",
        ...
    ]
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from tigerseal.errors import ConfigError, MissingCredentialsError, TigerSealError, TokenError
from tigerseal.web import (
    RateLimitRule,
    VerifiedTokens,
    audit_auth_failure,
    verify_bearer_request,
)

from tigerseal_django.conf import get_exempt_prefixes, get_option, get_services
from tigerseal_django.web import apply_rate_limit, client_ip, error_response

__all__ = ["JWTAuthenticationMiddleware", "RateLimitMiddleware", "TigerSealErrorMiddleware"]

GetResponse = Callable[[HttpRequest], HttpResponse]


class TigerSealErrorMiddleware:
    """Turn a tigerseal error raised by a view into its JSON response (401/403/429/503...).

    Errors that are not tigerseal's are left to Django (500 and its error reporting).
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, TigerSealError) and not isinstance(exception, ConfigError):
            return error_response(exception)
        return None


class RateLimitMiddleware:
    """Limit every request per client: ``TIGERSEAL["RATE_LIMIT"] = (requests, seconds)``.

    Paths starting with an entry of ``TIGERSEAL["RATE_LIMIT_EXEMPT"]`` are not counted (health
    checks). Responses carry ``RateLimit`` / ``RateLimit-Policy``; rejections are 429 with
    ``Retry-After``.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self._cached: tuple[object, RateLimitRule | None] = (object(), None)

    def _rule(self) -> RateLimitRule | None:
        setting = get_option("RATE_LIMIT")
        cached_setting, cached_rule = self._cached
        if setting is cached_setting:  # one rule per setting, not one per request
            return cached_rule
        if setting is None:
            self._cached = (setting, None)
            return None
        try:
            limit, window = setting
            rule = RateLimitRule(int(limit), float(window), "app")
            self._cached = (setting, rule)
            return rule
        except (TypeError, ValueError, ConfigError) as exc:
            raise ImproperlyConfigured(
                "settings.TIGERSEAL['RATE_LIMIT'] must be (requests, window_seconds), e.g. "
                f"(100, 60): {exc}"
            ) from None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rule = self._rule()
        if rule is None or request.path.startswith(get_exempt_prefixes()):
            return self.get_response(request)
        rejected, headers = apply_rate_limit(request, rule)
        if rejected is not None:
            return rejected
        response = self.get_response(request)
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response


class JWTAuthenticationMiddleware:
    """Verify a bearer JWT when one is sent; ``request.tigerseal_token`` is its payload or None.

    A request without ``Authorization: Bearer`` passes with ``tigerseal_token = None`` (views
    that need one use :func:`~tigerseal_django.web.jwt_required`); a request with an invalid,
    expired or revoked token is answered 401 here.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self._verified = VerifiedTokens()  # a repeated token skips the signature check

    def __call__(self, request: HttpRequest) -> HttpResponse:
        authorization = request.META.get("HTTP_AUTHORIZATION")
        request.tigerseal_token = None  # type: ignore[attr-defined]
        if authorization and authorization.strip().lower().startswith("bearer"):
            try:
                request.tigerseal_token = verify_bearer_request(  # type: ignore[attr-defined]
                    authorization,
                    manager=get_services().tokens,
                    audit=False,  # below, with the client address looked up only then
                    cache=self._verified,
                )
            except MissingCredentialsError:
                pass  # another scheme that merely starts with "bearer" ("BearerToken ...")
            except TokenError as exc:
                audit_auth_failure(exc, source_ip=client_ip(request), resource=request.path)
                return error_response(exc)
        return self.get_response(request)
