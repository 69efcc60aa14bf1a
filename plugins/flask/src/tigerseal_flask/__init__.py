"""Flask extension for tigerseal: ``TigerSeal(app)``, JWT / API-key / rate-limit decorators.

::

    from flask import Flask, g
    from tigerseal_flask import TigerSeal, jwt_required, rate_limit

    app = Flask(__name__)
    app.config["TIGERSEAL_JWT_SECRET"] = "..."          # any tigerseal setting, TIGERSEAL_ + name
    app.config["TIGERSEAL_TRUSTED_PROXIES"] = ["10.0.0.0/8"]
    tigerseal = TigerSeal(app)

    @app.get("/orders")
    @jwt_required(scopes=["orders:read"])
    @rate_limit(100, 60)
    def orders():
        return {"user": g.tigerseal_token.sub}

Configuration: every ``app.config`` key starting with ``TIGERSEAL_`` is read at ``init_app``;
without the prefix it is a tigerseal setting (``TIGERSEAL_JWT_SECRET``,
``TIGERSEAL_KEY_PROVIDERS``, ``TIGERSEAL_RATE_LIMIT_STORAGE`` ...) or one of this extension's
(:data:`OPTIONS`); an unknown name is an error. With no tigerseal setting in the config, the
process-wide services (configured from the environment) are used.

Failures answer with JSON ``{"error": code, "detail": message}`` and the status and headers of
:func:`tigerseal.web.http_error` (401 + ``WWW-Authenticate``, 403 ``insufficient_scope``, 429 +
``Retry-After``); a tigerseal error raised by a view is mapped the same way. The rules (trusted
proxies, challenges, quotas, lockout) are :mod:`tigerseal.web`'s.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, jsonify, request
from tigerseal._hostconfig import WEB_OPTIONS, HostServices, settings_from_mapping
from tigerseal.errors import ConfigError, RateLimitExceeded, TigerSealError, TokenError
from tigerseal.web import (
    LoginGuard,
    LoginResult,
    RateLimitResult,
    RateLimitRule,
    TrustedProxies,
    VerifiedTokens,
    audit_auth_failure,
    bearer_challenge,
    check_rate_limit,
    exempt_prefixes,
    http_error,
    verify_api_key_request,
    verify_bearer_request,
)

__all__ = [
    "OPTIONS",
    "TigerSeal",
    "api_key_required",
    "client_ip",
    "error_response",
    "jwt_required",
    "login",
    "rate_limit",
]

log = logging.getLogger("tigerseal_flask")

F = TypeVar("F", bound=Callable[..., Any])

_PREFIX = "TIGERSEAL_"
#: This extension's own settings (``app.config["TIGERSEAL_<NAME>"]``) and their defaults.
OPTIONS: dict[str, Any] = dict(WEB_OPTIONS)  # proxies, app-wide limit, realm, lockout


class TigerSeal:
    """The extension: services from ``app.config``, error handlers, an optional app-wide limit.

    Args:
        app: the application (or call :meth:`init_app` later, once per application).
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read ``TIGERSEAL_*`` config, register error handlers and the app-wide rate limit.

        Raises:
            ConfigError: an unknown ``TIGERSEAL_`` key, or an invalid value.
        """
        if "TIGERSEAL" in app.config:
            # Django's form; here it would be silently ignored, and every setting in it lost.
            raise ConfigError(
                "app.config['TIGERSEAL'] is not read: give each setting as its own key, "
                "e.g. app.config['TIGERSEAL_JWT_SECRET'] or app.config['TIGERSEAL_RATE_LIMIT']"
            )
        given = {k[len(_PREFIX) :]: v for k, v in app.config.items() if k.startswith(_PREFIX)}
        settings, own = settings_from_mapping(given, source="app.config", own_keys=OPTIONS)
        state = _State(HostServices(settings), {**OPTIONS, **own}, app.name)
        app.extensions["tigerseal"] = state
        app.register_error_handler(TigerSealError, _handle_error)
        if state.options["RATE_LIMIT"] is not None:
            app.before_request(_app_rate_limit_before)
            app.after_request(_app_rate_limit_after)

    @staticmethod
    def services(app: Flask | None = None) -> HostServices:
        """The tigerseal services of ``app`` (default: the current app)."""
        return _state(app).services


class _State:
    """What ``init_app`` built for one application."""

    def __init__(self, services: HostServices, options: dict[str, Any], name: str) -> None:
        self.services = services
        self.options = options
        # Rate-limit counters are kept under the application's name: two applications in one
        # process (or on one Redis) share the limiter storage, and a quota named alike in
        # both ("app", a view name) must not count the other's requests. Stable across
        # processes, so the workers of one application still share their counters.
        self.namespace = name + "|"
        try:
            self.proxies = TrustedProxies(options["TRUSTED_PROXIES"])
        except ConfigError as exc:
            raise ConfigError(f"app.config['TIGERSEAL_TRUSTED_PROXIES']: {exc}") from None
        self.rule: RateLimitRule | None = None
        if options["RATE_LIMIT"] is not None:
            try:
                limit, window = options["RATE_LIMIT"]
                self.rule = RateLimitRule(int(limit), float(window), "app")
            except (TypeError, ValueError) as exc:
                raise ConfigError(
                    "app.config['TIGERSEAL_RATE_LIMIT'] must be (requests, window_seconds), "
                    f"e.g. (100, 60): {exc}"
                ) from None
        self.exempt = exempt_prefixes(
            options["RATE_LIMIT_EXEMPT"], setting="app.config['TIGERSEAL_RATE_LIMIT_EXEMPT']"
        )
        try:
            bearer_challenge(realm=options["REALM"])  # a realm no challenge can carry: now
        except (ConfigError, TypeError) as exc:
            raise ConfigError(f"app.config['TIGERSEAL_REALM']: {exc}") from None
        self._guard: LoginGuard | None = None

    @property
    def guard(self) -> LoginGuard:
        guard = self._guard
        if guard is None:
            explicit = self.services.settings is not None
            # Without app settings the guard follows the process-wide limiter and passwords.
            guard = self._guard = LoginGuard(
                max_failures_per_user=self.options["LOGIN_MAX_FAILURES_PER_USER"],
                max_failures_per_ip=self.options["LOGIN_MAX_FAILURES_PER_IP"],
                lockout_seconds=float(self.options["LOGIN_LOCKOUT_SECONDS"]),
                storage=self.services.limiter.storage if explicit else None,
                passwords=self.services.passwords if explicit else None,
            )
        return guard


def _state(app: Flask | None = None) -> _State:
    found = (app or current_app).extensions.get("tigerseal")
    if found is None:
        raise ConfigError("tigerseal_flask is not set up for this app: call TigerSeal(app) first")
    return found  # type: ignore[no-any-return]


# -- requests -------------------------------------------------------------------------------
def client_ip() -> str:
    """The current request's client address (``remote_addr`` or what trusted proxies say)."""
    return _client_ip(_state().proxies)


def _client_ip(proxies: TrustedProxies) -> str:
    if not proxies.reads_headers:
        return proxies.client_ip(request.remote_addr)
    header = "X-Forwarded-For" if proxies.header == "x-forwarded-for" else "Forwarded"
    return proxies.client_ip(request.remote_addr, request.headers.getlist(header) or None)


def error_response(
    exc: BaseException,
    *,
    realm: str | None = None,
    scopes: Iterable[str] | None = None,
    scheme: str = "Bearer",
) -> Response:
    """The JSON response for a tigerseal error (status, code, safe message, headers)."""
    if realm is None:
        realm = _state().options["REALM"]
    error = http_error(exc, realm=realm, scopes=scopes, scheme=scheme)
    response = jsonify(error.body())
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def _handle_error(exc: TigerSealError) -> Response:
    response = error_response(exc)
    if response.status_code >= 500:
        # The client gets a generic message; the operator's text goes to the log.
        log.error("tigerseal error in %s: %s", request.path, exc, exc_info=exc)
    return response


def _scopes(scopes: Iterable[str], realm: str | None) -> list[str]:
    """The required scopes, refused now if a challenge could not carry them or the realm.

    Found at request time instead, every unauthenticated request to the view would be a 500.
    """
    required = [scopes] if isinstance(scopes, str) else list(scopes)
    bearer_challenge(realm=realm, scope=required or None)
    return required


def _call(view: Callable[..., Any], *a: Any, **kw: Any) -> Any:
    # ensure_sync: an ``async def`` view runs as Flask runs it undecorated (flask[async]).
    return current_app.ensure_sync(view)(*a, **kw)


def jwt_required(*args: Any, scopes: Iterable[str] = (), realm: str | None = None) -> Any:
    """Require a bearer JWT granting ``scopes``; its payload is ``g.tigerseal_token``.

    Args:
        *args: the view, when used bare (``@jwt_required``).
        scopes: scopes the token must grant, all of them.
        realm: the challenge's realm (default ``TIGERSEAL_REALM``).
    """
    required = _scopes(scopes, realm)
    verified = VerifiedTokens()  # a repeated token skips the signature check

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*a: Any, **kw: Any) -> Any:
            state = _state()
            try:
                g.tigerseal_token = verify_bearer_request(
                    request.headers.get("Authorization"),
                    scopes=required,
                    manager=state.services.tokens,
                    source_ip=None,  # the address is looked up only for a failure's audit
                    resource=request.path,
                    audit=False,
                    cache=verified,
                )
            except TokenError as exc:
                audit_auth_failure(exc, source_ip=_client_ip(state.proxies), resource=request.path)
                return error_response(exc, realm=realm, scopes=required)
            return _call(view, *a, **kw)

        return wrapped  # type: ignore[return-value]

    if len(args) == 1 and callable(args[0]):
        return decorate(args[0])
    return decorate


def api_key_required(
    lookup: Callable[[str], Any],
    *,
    scopes: Iterable[str] = (),
    header: str = "X-API-Key",
    realm: str | None = None,
) -> Callable[[F], F]:
    """Require an API key (``header``) whose record grants ``scopes``; ``g.tigerseal_api_key``.

    Args:
        lookup: ``key_id -> APIKeyRecord | None`` (your storage of key records).
        scopes: scopes the key must grant.
        header: the request header holding the key.
        realm: the challenge's realm (default ``TIGERSEAL_REALM``).
    """
    required = _scopes(scopes, realm)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*a: Any, **kw: Any) -> Any:
            try:
                g.tigerseal_api_key = verify_api_key_request(
                    request.headers.get(header),
                    lookup,
                    scopes=required,
                    source_ip=client_ip(),
                    resource=request.path,
                )
            except TokenError as exc:
                return error_response(exc, realm=realm, scopes=required, scheme="ApiKey")
            return _call(view, *a, **kw)

        return wrapped  # type: ignore[return-value]

    return decorate


def _check(rule: RateLimitRule, key: Callable[[], str] | None, scope: str = "") -> RateLimitResult:
    state = _state()
    client = key() if key is not None else _client_ip(state.proxies)
    return check_rate_limit(state.namespace + scope + client, rule, limiter=state.services.limiter)


def _add_headers(response: Response, headers: dict[str, str]) -> None:
    """Add ``headers`` the view did not set itself.

    One pass over the response's few headers instead of werkzeug's ``setdefault`` per field,
    which scans and raises ``KeyError`` for each missing one (most of what adding the
    RateLimit fields cost).
    """
    target = response.headers
    present = {name.lower() for name, _ in target.items()}
    for name, value in headers.items():
        if name.lower() not in present:
            target.add(name, value)


def _rejection(result: RateLimitResult) -> Response:
    response = error_response(
        RateLimitExceeded("rate limit exceeded", retry_after=result.retry_after)
    )
    response.headers.update(result.headers)
    return response


def rate_limit(
    limit: int,
    window: float,
    *,
    name: str | None = None,
    key: Callable[[], str] | None = None,
    **rule: Any,
) -> Callable[[F], F]:
    """Limit a view to ``limit`` requests per ``window`` seconds per client.

    Responses carry ``RateLimit`` / ``RateLimit-Policy``; a rejection is 429 with
    ``Retry-After``.

    Args:
        limit: requests per window.
        window: seconds.
        name: the quota's name in the headers and its counters (default: the view's name in
            the headers, its module and qualified name for the counters). Views given one
            name share one quota.
        key: ``() -> client id`` (default: the client address through trusted proxies; e.g.
            ``lambda: g.tigerseal_token.sub`` below ``@jwt_required``).
        **rule: ``algorithm``, ``burst``, ``cost`` of :class:`~tigerseal.web.RateLimitRule`.
    """

    def decorate(view: F) -> F:
        made = RateLimitRule(limit, window, name or view.__name__, **rule)
        # Without a name, the counter is the view's own (module and qualified name): two views
        # called "index" must not share one quota. Clients still see the short name.
        scope = "" if name is not None else f"{view.__module__}.{view.__qualname__}|"

        @functools.wraps(view)
        def wrapped(*a: Any, **kw: Any) -> Any:
            result = _check(made, key, scope)
            if not result.allowed:
                return _rejection(result)
            response = current_app.make_response(_call(view, *a, **kw))
            _add_headers(response, result.headers)
            return response

        return wrapped  # type: ignore[return-value]

    return decorate


def _app_rate_limit_before() -> Response | None:
    state = _state()
    if state.rule is None or request.path.startswith(state.exempt):
        return None
    result = _check(state.rule, None)
    g.tigerseal_rate_limit = result
    return None if result.allowed else _rejection(result)


def _app_rate_limit_after(response: Response) -> Response:
    result = g.pop("tigerseal_rate_limit", None)
    if result is not None:
        _add_headers(response, result.headers)
    return response


def login(
    username: str,
    password: str,
    stored_hash: str | None,
    *,
    on_rehash: Callable[[str], object] | None = None,
) -> LoginResult:
    """Sign a user in: lockout per user and address, audit, hash upgrade.

    Args:
        username: the name the client sent (known or not).
        password: the password the client sent.
        stored_hash: the user's stored hash; ``None`` when there is no such user.
        on_rehash: called with a new hash when the stored one is outdated (store it).

    Raises:
        LoginLockedError: too many failures (429 + ``Retry-After`` through the handlers).
        InvalidCredentialsError: unknown user or wrong password (401).
    """
    return _state().guard.authenticate(
        username, password, stored_hash, client_ip=client_ip(), on_rehash=on_rehash
    )
