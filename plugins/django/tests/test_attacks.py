"""Red-team checks of tigerseal-django: typo'd settings, bad challenges, other auth schemes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("django_setup", "tigerseal_env")

MIDDLEWARE = [
    "tigerseal_django.middleware.TigerSealErrorMiddleware",
    "tigerseal_django.middleware.RateLimitMiddleware",
    "tigerseal_django.middleware.JWTAuthenticationMiddleware",
]


@pytest.fixture(autouse=True)
def _fresh_limiter() -> Iterator[None]:
    from tigerseal.ratelimit import reset_rate_limiter

    reset_rate_limiter()
    yield
    reset_rate_limiter()


def _get(path: str, tigerseal: dict[str, Any], times: int = 1, **extra: Any) -> list[int]:
    from django.test import Client, override_settings

    with override_settings(TIGERSEAL=tigerseal, MIDDLEWARE=MIDDLEWARE):
        client = Client()
        return [client.get(path, **extra).status_code for _ in range(times)]


def test_rate_limit_exempt_given_as_one_string_is_refused() -> None:
    # tuple("/health") is ('/', 'h', ...): every path would be exempt, the limit silently off.
    from django.core.exceptions import ImproperlyConfigured

    settings = {"RATE_LIMIT": (2, 60), "RATE_LIMIT_EXEMPT": "/health"}
    with pytest.raises(ImproperlyConfigured, match="RATE_LIMIT_EXEMPT"):
        _get("/public/", settings, times=3)


def test_rate_limit_exempt_entries_must_be_paths() -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="RATE_LIMIT_EXEMPT"):
        _get("/public/", {"RATE_LIMIT": (2, 60), "RATE_LIMIT_EXEMPT": ["public/"]})


def test_another_auth_scheme_starting_with_bearer_passes_the_jwt_middleware() -> None:
    # "BearerToken x" is not the Bearer scheme: no token was sent, like "Basic ...".
    assert _get("/public/", {}, HTTP_AUTHORIZATION="BearerToken abc") == [200]
    assert _get("/public/", {}, HTTP_AUTHORIZATION="Basic YTpi") == [200]


@pytest.mark.parametrize("scopes", [["orders read"], ['a"b'], ["naïve"]])
def test_scopes_no_challenge_can_carry_are_refused_when_decorating(scopes: list[str]) -> None:
    # Otherwise every unauthenticated request to the view is a 500 (the challenge fails).
    from tigerseal.errors import ConfigError
    from tigerseal_django.web import api_key_required, jwt_required

    with pytest.raises(ConfigError, match="scope"):
        jwt_required(scopes=scopes)
    with pytest.raises(ConfigError, match="scope"):
        api_key_required(lambda _id: None, scopes=scopes)


def test_a_realm_no_challenge_can_carry_is_a_configuration_error() -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="REALM"):
        _get("/orders/", {"REALM": "api\r\nX-Injected: 1"})


@pytest.mark.parametrize("user", ["ada", "ghost"])
def test_an_empty_password_is_a_wrong_password_for_known_and_unknown_users(
    user: str, db: str
) -> None:
    # Django's ModelBackend hashes the password for an unknown user (timing); make_password("")
    # raised PasswordError there: a 500 for "ghost", a 401 for "ada" (an enumeration oracle).
    import json

    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.test import Client, override_settings

    User.objects.create(username="ada", password=make_password("pw-of-ada"))
    with override_settings(
        AUTHENTICATION_BACKENDS=["tigerseal_django.backends.LockoutModelBackend"],
        MIDDLEWARE=["tigerseal_django.middleware.TigerSealErrorMiddleware"],
    ):
        body = json.dumps({"username": user, "password": ""})
        response = Client(raise_request_exception=False).post(
            "/login/", body, content_type="application/json"
        )
    assert response.status_code == 401


def test_make_password_of_an_empty_password_never_verifies(db: str) -> None:
    from django.contrib.auth.hashers import check_password, make_password

    encoded = make_password("")
    assert encoded.startswith("tigerseal$")
    assert not check_password("", encoded)


def test_two_views_of_one_name_do_not_share_a_default_quota() -> None:
    from django.http import HttpRequest, HttpResponse, JsonResponse
    from django.test import RequestFactory, override_settings
    from tigerseal_django.web import rate_limit

    views = []
    for prefix in ("a", "b"):

        def index(request: HttpRequest) -> HttpResponse:
            return JsonResponse({"ok": True})

        index.__qualname__ = f"{prefix}.index"  # as if defined in two apps
        views.append(rate_limit(1, 60)(index))
    with override_settings(TIGERSEAL={}):
        request = RequestFactory().get("/")
        assert views[0](request).status_code == 200
        assert views[0](request).status_code == 429
        other = views[1](request)
    assert other.status_code == 200  # was 429: one counter for both "index" views
    assert other["RateLimit-Policy"] == '"index";q=1;w=60'
