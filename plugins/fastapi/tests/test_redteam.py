"""Red-team findings on tigerseal-fastapi (issue 13.3 review): each test failed before its fix."""

import secrets
from collections.abc import Callable
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, Security
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send
from tigerseal.envelope import EncryptionService
from tigerseal.errors import ConfigError, TokenExpiredError
from tigerseal.ratelimit import MemoryRateLimitStorage, RateLimiter
from tigerseal.testing.fake import FakeKeyProvider, reset_fake_keys
from tigerseal.tokens import KeySet, MemoryRevocationStore, TokenManager, TokenPayload
from tigerseal_fastapi import (
    BearerAuth,
    Encrypted,
    EncryptedStr,
    RateLimitMiddleware,
    RateLimitRule,
    install_exception_handlers,
)

Serve = Callable[[ASGIApp], str]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.anyio
async def test_cached_token_expires_on_the_managers_clock() -> None:
    # Before: the cache compared exp with time.time(), not the manager's clock, so a token the
    # manager calls expired was still served from the cache.
    clock = Clock()
    manager = TokenManager(
        KeySet.from_secret(secrets.token_urlsafe(48)),
        revocation=MemoryRevocationStore(),
        clock=clock,
    )
    bearer = BearerAuth(manager=manager)
    token = manager.create("alice", ["read"], expires_in=60)
    assert (await bearer._verify(token, ["read"])).sub == "alice"
    clock.now += 60 + manager.leeway + 1
    with pytest.raises(TokenExpiredError):
        await bearer._verify(token, ["read"])


def test_two_authorization_headers_are_refused(serve: Serve) -> None:
    # Before: the first Authorization header was used and the second ignored (200); a proxy
    # that reads the last one would authorise a different token than the app did.
    manager = TokenManager(KeySet.from_secret(secrets.token_urlsafe(48)))
    bearer = BearerAuth(manager=manager, realm="api")
    app = FastAPI()

    @app.get("/me")
    async def me(token: Annotated[TokenPayload, Security(bearer)]) -> dict[str, str]:
        return {"sub": str(token.sub)}

    url = serve(app) + "/me"
    good = f"Bearer {manager.create('alice')}"
    assert httpx.get(url, headers={"Authorization": good}, timeout=10).status_code == 200
    for other in (good, "Bearer x.y.z", "Basic dTpw"):
        response = httpx.get(
            url, headers=[("Authorization", good), ("Authorization", other)], timeout=10
        )
        assert response.status_code == 401
        assert 'error="invalid_request"' in response.headers["www-authenticate"] or (
            'error="invalid_token"' in response.headers["www-authenticate"]
        )


@pytest.mark.parametrize("exempt", ["/health", ["health"], [""], [b"/health"]])
def test_middleware_exempt_must_be_a_collection_of_paths(exempt: object) -> None:
    # Before: exempt="/health" became frozenset("/health") = {"/", "h", ...}: "/" exempt.
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("not called")

    with pytest.raises(ConfigError, match="path"):
        RateLimitMiddleware(
            inner,
            rule=RateLimitRule(1, 60),
            limiter=RateLimiter(MemoryRateLimitStorage()),
            exempt=exempt,  # type: ignore[arg-type]
        )


def test_validation_errors_do_not_echo_submitted_values(serve: Serve) -> None:
    # Before: FastAPI's 422 body repeats each failing field's input: the plaintext sent to an
    # encrypted field (plaintext=False) and, for a missing field, the whole body with it.
    name = "fapired-" + secrets.token_hex(4)
    service = EncryptionService(FakeKeyProvider(name))
    try:

        class Stored(BaseModel):
            note: Annotated[
                EncryptedStr, Encrypted({"t": "notes"}, service=service, plaintext=False)
            ]

        class Customer(BaseModel):
            name: str
            ssn: Annotated[EncryptedStr, Encrypted({"t": "ssn"}, service=service)]

        app = FastAPI()
        install_exception_handlers(app)

        @app.post("/notes")
        async def notes(note: Stored) -> dict[str, bool]:
            return {"ok": True}

        @app.post("/customers")
        async def customers(customer: Customer) -> dict[str, bool]:
            return {"ok": True}

        base = serve(app)
        secret = "078-05-1120-" + secrets.token_hex(4)
        refused = httpx.post(base + "/notes", json={"note": secret}, timeout=10)
        assert refused.status_code == 422
        assert secret not in refused.text
        assert refused.json()["detail"][0]["loc"] == ["body", "note"]
        missing = httpx.post(base + "/customers", json={"ssn": secret}, timeout=10)
        assert missing.status_code == 422
        assert secret not in missing.text
    finally:
        reset_fake_keys(name)


def test_bearer_middleware_auth_scopes_and_per_subject_quota(serve: Serve) -> None:
    from fastapi import Request
    from tigerseal_fastapi import BearerAuthMiddleware

    manager = TokenManager(
        KeySet.from_secret(secrets.token_urlsafe(48)), revocation=MemoryRevocationStore()
    )
    bearer = BearerAuth(manager=manager, realm="api")
    app = FastAPI()
    app.add_middleware(
        BearerAuthMiddleware,
        bearer=bearer,
        scopes=["api"],
        rate_limit=RateLimitRule(2, 60, name="user"),
        limiter=RateLimiter(MemoryRateLimitStorage()),
        exempt={"/health"},
    )

    @app.get("/me")
    async def me(request: Request) -> dict[str, str]:
        return {"sub": str(request.state.token.sub)}

    @app.get("/admin")
    async def admin(token: Annotated[TokenPayload, Security(bearer, scopes=["admin"])]) -> dict:
        return {"sub": str(token.sub)}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    base = serve(app)

    def get(path: str, token: str | None = None) -> httpx.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return httpx.get(base + path, headers=headers, timeout=10)

    alice, bob = manager.create("alice", ["api"]), manager.create("bob", ["api"])
    ok = get("/me", alice)
    assert (ok.status_code, ok.json()) == (200, {"sub": "alice"})
    assert ok.headers["ratelimit"] == '"user";r=1;t=60'
    missing = get("/me")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="api"'
    assert missing.json()["error"] == "invalid_token" or missing.json()["error"]
    narrow = get("/me", manager.create("carol", ["other"]))
    assert narrow.status_code == 403
    assert 'error="insufficient_scope"' in narrow.headers["www-authenticate"]
    assert get("/admin", alice).status_code == 403  # the route's own Security still applies
    limited = get("/me", alice)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert get("/me", bob).status_code == 200  # per subject: bob has his own quota
    assert get("/health").status_code == 200


@pytest.mark.filterwarnings("ignore::starlette.exceptions.StarletteDeprecationWarning")
def test_refresh_token_is_not_an_access_token_and_websockets_pass_through() -> None:
    # Guards (these held): a refresh token is refused by the dependency and the middleware,
    # and neither middleware touches WebSocket or lifespan scopes.
    from fastapi import Request, WebSocket
    from fastapi.testclient import TestClient
    from tigerseal_fastapi import BearerAuthMiddleware

    manager = TokenManager(
        KeySet.from_secret(secrets.token_urlsafe(48)), revocation=MemoryRevocationStore()
    )
    bearer = BearerAuth(manager=manager, realm="api", audit_failures=False)
    started: list[bool] = []

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        started.append(True)
        yield

    app = FastAPI(lifespan=lifespan)
    limiter = RateLimiter(MemoryRateLimitStorage())
    app.add_middleware(RateLimitMiddleware, rule=RateLimitRule(1, 60), limiter=limiter)
    app.add_middleware(BearerAuthMiddleware, bearer=bearer, limiter=limiter)

    @app.get("/me")
    async def me(request: Request) -> dict[str, str]:
        return {"sub": str(request.state.token.sub)}

    @app.get("/dep")
    async def dep(token: Annotated[TokenPayload, Security(bearer)]) -> dict[str, str]:
        return {"sub": str(token.sub)}

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_text("hello")
        await socket.close()

    pair = manager.create_pair("alice")
    with TestClient(app) as http:
        assert started == [True]
        for path in ("/me", "/dep"):
            refused = http.get(path, headers={"Authorization": f"Bearer {pair.refresh_token}"})
            assert refused.status_code == 401, path
        for _ in range(3):  # neither the token check nor the 1-per-minute quota applies
            with http.websocket_connect("/ws") as socket:
                assert socket.receive_text() == "hello"


def test_two_api_key_headers_are_refused(serve: Serve) -> None:
    # Before: the first X-API-Key was checked and the second ignored (200).
    from tigerseal.apikeys import APIKeyRecord
    from tigerseal_fastapi import APIKeyAuth

    key, record = APIKeyRecord.create(scopes=["reports"])
    other, _ = APIKeyRecord.create()
    auth = APIKeyAuth({record.key_id: record}.get, realm="api", audit_failures=False)
    app = FastAPI()

    @app.get("/reports")
    async def reports(found: Annotated[APIKeyRecord, Security(auth)]) -> dict[str, str]:
        return {"key": found.key_id}

    url = serve(app) + "/reports"
    assert httpx.get(url, headers={"X-API-Key": key}, timeout=10).status_code == 200
    for second in (key, other):
        response = httpx.get(url, headers=[("X-API-Key", key), ("x-api-key", second)], timeout=10)
        assert response.status_code == 401


def test_a_trusted_unix_socket_proxy_has_its_forwarding_header_read() -> None:
    """Behind nginx on a Unix socket uvicorn reports no client address: with "unix" trusted,
    X-Forwarded-For must tell clients apart (else all share one quota and one lockout)."""
    from tigerseal.web import TrustedProxies
    from tigerseal_fastapi import client_ip_from_scope

    proxies = TrustedProxies(["unix"])
    scope_a = {"type": "http", "client": None, "headers": [(b"x-forwarded-for", b"203.0.113.7")]}
    scope_b = {"type": "http", "client": None, "headers": [(b"x-forwarded-for", b"198.51.100.9")]}
    assert client_ip_from_scope(scope_a, proxies) == "203.0.113.7"
    assert client_ip_from_scope(scope_b, proxies) == "198.51.100.9"
    # Not trusted: the header is ignored whatever it says.
    assert client_ip_from_scope(scope_a, TrustedProxies()) == client_ip_from_scope(
        scope_b, TrustedProxies()
    )
