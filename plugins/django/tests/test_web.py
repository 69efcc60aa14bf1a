"""Decorators and middleware through Django's test client: 401/403/429 and their headers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.usefixtures("django_setup", "tigerseal_env")


@pytest.fixture
def client() -> Iterator[object]:
    from django.test import Client, override_settings
    from tigerseal.ratelimit import reset_rate_limiter

    reset_rate_limiter()
    with override_settings(
        TIGERSEAL={"TRUSTED_PROXIES": ["10.0.0.1"]},
        MIDDLEWARE=["tigerseal_django.middleware.TigerSealErrorMiddleware"],
    ):
        yield Client()
    reset_rate_limiter()


def _token(*scopes: str, sub: str = "ada") -> str:
    from tigerseal_django.conf import get_services

    return get_services().tokens.create(sub, scopes=scopes)


def test_jwt_required_missing_token_is_401_without_error_code(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/orders/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json() == {"error": "unauthorized", "detail": "authentication required"}


def test_jwt_required_invalid_token_is_401_invalid_token(client) -> None:  # type: ignore[no-untyped-def]
    bad = _token("orders:read")[:-4] + "AAAA"
    response = client.get("/orders/", HTTP_AUTHORIZATION=f"Bearer {bad}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'


def test_jwt_required_missing_scope_is_403_with_scope(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/orders/", HTTP_AUTHORIZATION=f"Bearer {_token('other')}")
    assert response.status_code == 403
    assert response["WWW-Authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", scope="orders:read"'
    )


def test_jwt_required_grants(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/orders/", HTTP_AUTHORIZATION=f"Bearer {_token('orders:read')}")
    assert response.status_code == 200
    assert response.json() == {"user": "ada"}
    bare = client.get("/me/", HTTP_AUTHORIZATION=f"Bearer {_token(sub='bob')}")
    assert bare.json() == {"user": "bob"}


def test_rate_limit_decorator_sets_headers_and_429(client) -> None:  # type: ignore[no-untyped-def]
    for remaining in (2, 1, 0):
        response = client.get("/limited/")
        assert response.status_code == 200
        assert response["RateLimit-Policy"] == '"limited";q=3;w=60'
        assert response["RateLimit"].startswith(f'"limited";r={remaining};t=')
    response = client.get("/limited/")
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response["RateLimit"].startswith('"limited";r=0;')
    # Another client (the address a trusted proxy reports) has its own quota.
    other = client.get("/limited/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert other.status_code == 200


def test_client_ip_believes_only_trusted_proxies(client) -> None:  # type: ignore[no-untyped-def]
    spoofed = client.get("/public/", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert spoofed.json() == {"ip": "198.51.100.7"}
    proxied = client.get(
        "/public/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9"
    )
    assert proxied.json() == {"ip": "203.0.113.9"}


def test_api_key_required(client) -> None:  # type: ignore[no-untyped-def]
    from tigerseal.apikeys import APIKeyRecord
    from tsdj_app.views import API_KEYS

    key, record = APIKeyRecord.create(scopes=["reports"])
    weak_key, weak = APIKeyRecord.create(scopes=["other"])
    API_KEYS.update({record.key_id: record, weak.key_id: weak})
    try:
        assert client.get("/reports/").status_code == 401
        assert client.get("/reports/")["WWW-Authenticate"] == 'ApiKey realm="api"'
        ok = client.get("/reports/", HTTP_X_API_KEY=key)
        assert ok.status_code == 200
        assert ok.json() == {"key": record.key_id}
        assert client.get("/reports/", HTTP_X_API_KEY=key[:-2] + "xx").status_code == 401
        denied = client.get("/reports/", HTTP_X_API_KEY=weak_key)
        assert denied.status_code == 403
        assert 'error="insufficient_scope"' in denied["WWW-Authenticate"]
    finally:
        API_KEYS.clear()


def test_error_middleware_maps_tigerseal_errors(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/boom/")
    assert response.status_code == 429
    assert response["Retry-After"] == "7"
    assert "bucket 42" not in response.content.decode()  # the operator's text stays inside


def test_rate_limit_and_jwt_middleware() -> None:
    from django.test import Client, override_settings
    from tigerseal.ratelimit import reset_rate_limiter

    reset_rate_limiter()
    with override_settings(
        TIGERSEAL={"RATE_LIMIT": (2, 30), "RATE_LIMIT_EXEMPT": ["/public/"]},
        MIDDLEWARE=[
            "tigerseal_django.middleware.TigerSealErrorMiddleware",
            "tigerseal_django.middleware.RateLimitMiddleware",
            "tigerseal_django.middleware.JWTAuthenticationMiddleware",
        ],
    ):
        client = Client()
        me = client.get("/me/", HTTP_AUTHORIZATION=f"Bearer {_token(sub='eve')}")
        assert me.status_code == 200
        assert me["RateLimit-Policy"] == '"app";q=2;w=30'
        bad = client.get("/public/", HTTP_AUTHORIZATION="Bearer not.a.jwt")
        assert bad.status_code == 401  # an invalid token is refused even where none is needed
        assert client.get("/public/").status_code == 200  # exempt: not counted
        assert client.get("/me/").status_code == 401
        assert client.get("/me/").status_code == 429
    reset_rate_limiter()


def test_login_locks_out_after_failures_and_upgrades_hash(db: str) -> None:
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.test import Client, override_settings
    from tigerseal.ratelimit import reset_rate_limiter

    reset_rate_limiter()
    User.objects.create(username="ada", password=make_password("pw-of-ada", hasher="pbkdf2_sha256"))
    with override_settings(
        TIGERSEAL={"LOGIN_MAX_FAILURES_PER_USER": 3},
        AUTHENTICATION_BACKENDS=["tigerseal_django.backends.LockoutModelBackend"],
        MIDDLEWARE=["tigerseal_django.middleware.TigerSealErrorMiddleware"],
    ):
        client = Client()

        def login(password: str, user: str = "ada") -> object:
            body = json.dumps({"username": user, "password": password})
            return client.post("/login/", body, content_type="application/json")

        ok = login("pw-of-ada")
        assert ok.status_code == 200  # type: ignore[attr-defined]
        assert User.objects.get(username="ada").password.startswith("tigerseal$")
        token = ok.json()["access_token"]  # type: ignore[attr-defined]
        assert client.get("/orders/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
        for _ in range(3):
            assert login("wrong").status_code == 401  # type: ignore[attr-defined]
        locked = login("pw-of-ada")  # even the right password: no check while locked
        assert locked.status_code == 429  # type: ignore[attr-defined]
        assert int(locked["Retry-After"]) > 0  # type: ignore[index]
        assert locked.json()["error"] == "login_locked"  # type: ignore[attr-defined]
        # Unknown users are locked the same way (no user enumeration).
        for _ in range(3):
            assert login("x", user="ghost").status_code == 401  # type: ignore[attr-defined]
        assert login("x", user="ghost").status_code == 429  # type: ignore[attr-defined]
    reset_rate_limiter()


@pytest.mark.anyio
async def test_async_view_decorators(client) -> None:  # type: ignore[no-untyped-def]
    """jwt_required and rate_limit on an async view, through Django's AsyncClient."""
    from django.test import AsyncClient
    from tigerseal_django.conf import get_services

    async_client = AsyncClient()
    missing = await async_client.get("/async-orders/")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"] == 'Bearer realm="api"'
    token = get_services().tokens.create("ada", scopes=["orders:read"])
    auth = {"Authorization": f"Bearer {token}"}
    first = await async_client.get("/async-orders/", headers=auth)
    assert first.status_code == 200
    assert first.json() == {"user": "ada"}
    assert first["RateLimit-Policy"] == '"async_limited";q=2;w=60'
    assert (await async_client.get("/async-orders/", headers=auth)).status_code == 200
    third = await async_client.get("/async-orders/", headers=auth)
    assert third.status_code == 429
    assert int(third["Retry-After"]) >= 1
