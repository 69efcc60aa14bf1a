"""Rate-limit dependency and middleware, and the client address, on a real uvicorn server."""

from collections.abc import Callable
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.types import ASGIApp
from tigerseal.ratelimit import MemoryRateLimitStorage, RateLimiter
from tigerseal_fastapi import (
    ClientIP,
    RateLimit,
    RateLimitMiddleware,
    RateLimitRule,
    TrustedProxies,
    install_exception_handlers,
)

Serve = Callable[[ASGIApp], str]


def memory_limiter() -> RateLimiter:
    return RateLimiter(
        MemoryRateLimitStorage(),
        algorithm="sliding_window_log",
        default_limit=1000,
        audit_rejections=False,
    )


def limited_app(proxies: TrustedProxies, limiter: RateLimiter) -> FastAPI:
    app = FastAPI()
    install_exception_handlers(app)
    per_client = RateLimit(RateLimitRule(2, 60, name="api"), proxies=proxies, limiter=limiter)
    client = ClientIP(proxies)

    @app.get("/limited", dependencies=[Depends(per_client)])
    async def limited(ip: Annotated[str, Depends(client)]) -> dict[str, str]:
        return {"ip": ip}

    return app


def test_dependency_sets_fields_and_answers_429(serve: Serve) -> None:
    url = serve(limited_app(TrustedProxies(), memory_limiter())) + "/limited"
    first = httpx.get(url, timeout=10)
    assert first.status_code == 200
    assert first.headers["ratelimit-policy"] == '"api";q=2;w=60'
    assert first.headers["ratelimit"] == '"api";r=1;t=60'
    assert "retry-after" not in first.headers
    assert httpx.get(url, timeout=10).headers["ratelimit"] == '"api";r=0;t=60'
    third = httpx.get(url, timeout=10)
    assert third.status_code == 429
    assert third.json() == {"error": "rate_limited", "detail": "too many requests; try again later"}
    assert third.headers["ratelimit"].startswith('"api";r=0;t=')
    assert 1 <= int(third.headers["retry-after"]) <= 60


def test_spoofed_xff_from_an_untrusted_peer_gets_no_fresh_quota(serve: Serve) -> None:
    # The test client (127.0.0.1) is no trusted proxy: its X-Forwarded-For is a lie.
    url = serve(limited_app(TrustedProxies(["10.0.0.0/8"]), memory_limiter())) + "/limited"
    statuses = []
    for n in range(4):
        response = httpx.get(url, headers={"X-Forwarded-For": f"198.51.100.{n}"}, timeout=10)
        statuses.append(response.status_code)
        if response.status_code == 200:
            assert response.json() == {"ip": "127.0.0.1"}
    assert statuses == [200, 200, 429, 429]


def test_xff_through_a_trusted_proxy_separates_clients(serve: Serve) -> None:
    url = serve(limited_app(TrustedProxies(["127.0.0.1"]), memory_limiter())) + "/limited"
    for n in range(3):
        # A client prepends a lie; the trusted proxy (the test) appends the real address.
        headers = {"X-Forwarded-For": f"6.6.6.6, 198.51.100.{n}"}
        response = httpx.get(url, headers=headers, timeout=10)
        assert response.status_code == 200
        assert response.json() == {"ip": f"198.51.100.{n}"}
    same = {"X-Forwarded-For": "7.7.7.7, 198.51.100.0"}
    assert httpx.get(url, headers=same, timeout=10).status_code == 200
    assert httpx.get(url, headers=same, timeout=10).status_code == 429


def test_custom_key_function(serve: Serve) -> None:
    app = FastAPI()
    by_user = RateLimit(
        RateLimitRule(1, 60, name="per-user"),
        key=lambda request: request.headers.get("x-user", "anonymous"),
        limiter=memory_limiter(),
    )

    @app.get("/x", dependencies=[Depends(by_user)])
    async def x() -> dict[str, bool]:
        return {"ok": True}

    url = serve(app) + "/x"
    assert httpx.get(url, headers={"x-user": "a"}, timeout=10).status_code == 200
    assert httpx.get(url, headers={"x-user": "b"}, timeout=10).status_code == 200
    assert httpx.get(url, headers={"x-user": "a"}, timeout=10).status_code == 429


def test_middleware(serve: Serve) -> None:
    app = FastAPI()
    app.add_middleware(
        RateLimitMiddleware,
        rule=RateLimitRule(2, 30, name="global"),
        limiter=memory_limiter(),
        exempt={"/health"},
    )

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/items")
    async def items() -> list[int]:
        return [1, 2]

    @app.get("/missing")
    async def missing() -> None:
        from fastapi import HTTPException

        raise HTTPException(404)

    base = serve(app)
    ok = httpx.get(base + "/items", timeout=10)
    assert ok.status_code == 200
    assert ok.json() == [1, 2]
    assert ok.headers["ratelimit-policy"] == '"global";q=2;w=30'
    assert ok.headers["ratelimit"] == '"global";r=1;t=30'
    not_found = httpx.get(base + "/missing", timeout=10)
    assert (not_found.status_code, not_found.headers["ratelimit"]) == (404, '"global";r=0;t=30')
    rejected = httpx.get(base + "/items", timeout=10)
    assert rejected.status_code == 429
    assert rejected.json()["error"] == "rate_limited"
    assert 1 <= int(rejected.headers["retry-after"]) <= 30
    for _ in range(3):
        checked = httpx.get(base + "/health", timeout=10)
        assert checked.status_code == 200
        assert "ratelimit" not in checked.headers


@pytest.mark.integration
@pytest.mark.redis
def test_redis_storage_shared_by_two_apps(serve: Serve, redis_url: str) -> None:
    from tigerseal.plugins import rate_limit_storage_from_uri

    def redis_limiter() -> RateLimiter:
        storage = rate_limit_storage_from_uri(redis_url)
        return RateLimiter(
            storage, algorithm="sliding_window_log", default_limit=1000, audit_rejections=False
        )

    # Two "workers" with their own limiter objects share the quota through Redis.
    first = serve(limited_app(TrustedProxies(), redis_limiter())) + "/limited"
    second = serve(limited_app(TrustedProxies(), redis_limiter())) + "/limited"
    assert httpx.get(first, timeout=10).status_code == 200
    response = httpx.get(second, timeout=10)
    assert response.status_code == 200
    assert response.headers["ratelimit"] == '"api";r=0;t=60'
    assert httpx.get(first, timeout=10).status_code == 429


def test_bearer_with_rate_limit_in_one_dependency(serve: Serve) -> None:
    import secrets

    from fastapi import Security
    from tigerseal.tokens import KeySet, TokenManager, TokenPayload
    from tigerseal_fastapi import BearerAuth

    manager = TokenManager(KeySet.from_secret(secrets.token_urlsafe(48)))
    limited = BearerAuth(
        manager=manager,
        realm="api",
        audit_failures=False,
        rate_limit=RateLimit(RateLimitRule(2, 60, name="auth"), limiter=memory_limiter()),
    )
    app = FastAPI()
    install_exception_handlers(app)

    @app.get("/me")
    async def me(token: Annotated[TokenPayload, Security(limited, scopes=["read"])]) -> dict:
        return {"sub": token.sub}

    url = serve(app) + "/me"
    good = {"Authorization": f"Bearer {manager.create('alice', ['read'])}"}
    ok = httpx.get(url, headers=good, timeout=10)
    assert ok.json() == {"sub": "alice"}
    assert ok.headers["ratelimit"] == '"auth";r=1;t=60'
    # Counted before the token is checked: guessing tokens spends the quota too.
    bad = httpx.get(url, headers={"Authorization": "Bearer forged.token.here"}, timeout=10)
    assert bad.status_code == 401
    limited_out = httpx.get(url, headers=good, timeout=10)
    assert limited_out.status_code == 429
    assert limited_out.json()["error"] == "rate_limited"
    assert "retry-after" in limited_out.headers
