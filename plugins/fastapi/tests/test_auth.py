"""Bearer JWT and API-key dependencies against a real uvicorn server."""

import base64
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Security
from starlette.types import ASGIApp
from tigerseal.apikeys import APIKeyRecord
from tigerseal.tokens import KeySet, MemoryRevocationStore, TokenManager, TokenPayload
from tigerseal_fastapi import APIKeyAuth, BearerAuth, install_exception_handlers

Serve = Callable[[ASGIApp], str]


@pytest.fixture
def manager() -> TokenManager:
    return TokenManager(
        KeySet.from_secret(secrets.token_urlsafe(48)), revocation=MemoryRevocationStore()
    )


@pytest.fixture
def bearer_url(serve: Serve, manager: TokenManager) -> str:
    app = FastAPI()
    install_exception_handlers(app, realm="api")
    bearer = BearerAuth(manager=manager, realm="api")
    optional = BearerAuth(manager=manager, realm="api", auto_error=False)

    @app.get("/me")
    async def me(token: Annotated[TokenPayload, Security(bearer, scopes=["read"])]) -> dict:
        return {"sub": str(token.sub)}

    @app.get("/admin")
    async def admin(
        token: Annotated[TokenPayload, Security(bearer, scopes=["read", "admin"])],
    ) -> dict[str, str]:
        return {"sub": str(token.sub)}

    @app.get("/maybe")
    async def maybe(token: Annotated[TokenPayload | None, Depends(optional)]) -> dict:
        return {"sub": None if token is None else str(token.sub)}

    return serve(app)


def get(url: str, token: str | None = None, **headers: str) -> httpx.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.get(url, headers=headers, timeout=10)


def test_valid_token(bearer_url: str, manager: TokenManager) -> None:
    response = get(bearer_url + "/me", manager.create("alice", ["read"]))
    assert response.status_code == 200
    assert response.json() == {"sub": "alice"}


def test_no_credentials_is_401_with_a_bare_challenge(bearer_url: str) -> None:
    response = get(bearer_url + "/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'
    assert response.json() == {"error": "unauthorized", "detail": "authentication required"}
    # Another scheme is no bearer credential either.
    basic = get(bearer_url + "/me", Authorization="Basic dXNlcjpwYXNz")
    assert basic.headers["www-authenticate"] == 'Bearer realm="api"'


def forged(manager: TokenManager) -> list[str]:
    other = TokenManager(KeySet.from_secret(secrets.token_urlsafe(48)))
    good = manager.create("alice", ["read"])
    head, body, sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["scope"] = "read admin"
    evil = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    none_head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    return [
        other.create("alice", ["read"]),  # signed with another key
        f"{head}.{evil}.{sig}",  # payload edited
        f"{none_head}.{body}.",  # alg=none
        manager.create("alice", ["read"], expires_in=60, now=time.time() - 3600),  # expired
        "not.a.jwt",
    ]


def test_forged_and_expired_tokens_are_401_invalid_token(
    bearer_url: str, manager: TokenManager, tmp_path: Path
) -> None:
    for token in forged(manager):
        response = get(bearer_url + "/me", token)
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"] == 'Bearer realm="api", error="invalid_token"'
        assert response.json()["error"] == "invalid_token"
    expired = get(bearer_url + "/me", forged(manager)[3])
    assert expired.json()["detail"] == "the access token has expired"
    from tigerseal.audit import get_auditor

    get_auditor().flush()
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    events = [json.loads(line)["event_type"] for line in lines]
    assert events.count("authn_token_invalid") >= 5


def test_malformed_authorization_is_401(bearer_url: str) -> None:
    for value in ("Bearer", "Bearer a b", "Bearer \u00e9t\u00e9".encode()):
        response = httpx.get(bearer_url + "/me", headers={"Authorization": value}, timeout=10)
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_missing_scope_is_403_insufficient_scope(bearer_url: str, manager: TokenManager) -> None:
    response = get(bearer_url + "/admin", manager.create("alice", ["read"]))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", scope="read admin"'
    )
    assert response.json() == {
        "error": "insufficient_scope",
        "detail": "the access token lacks a required scope",
    }
    assert get(bearer_url + "/admin", manager.create("root", ["read", "admin"])).status_code == 200


def test_revoked_token(bearer_url: str, manager: TokenManager) -> None:
    token = manager.create("alice", ["read"])
    manager.revoke(token)
    response = get(bearer_url + "/me", token)
    assert response.status_code == 401
    assert response.json()["detail"] == "the access token has been revoked"


def test_optional_bearer(bearer_url: str, manager: TokenManager) -> None:
    assert get(bearer_url + "/maybe").json() == {"sub": None}
    assert get(bearer_url + "/maybe", manager.create("bob")).json() == {"sub": "bob"}
    assert get(bearer_url + "/maybe", "not.a.jwt").status_code == 401


def test_openapi_documents_the_schemes(bearer_url: str) -> None:
    schemes = httpx.get(bearer_url + "/openapi.json", timeout=10).json()["components"][
        "securitySchemes"
    ]
    assert schemes["BearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


# -- API keys -------------------------------------------------------------------------------
@pytest.fixture
def keys() -> dict[str, tuple[str, APIKeyRecord]]:
    made = {
        "reader": APIKeyRecord.create(scopes=["read"]),
        "expired": APIKeyRecord.create(scopes=["read"], expires_in=1, now=time.time() - 60),
    }
    return made


@pytest.fixture
def apikey_url(serve: Serve, keys: dict[str, tuple[str, APIKeyRecord]]) -> str:
    records = {record.key_id: record for _, record in keys.values()}

    async def lookup(key_id: str) -> APIKeyRecord | None:
        return records.get(key_id)

    app = FastAPI()
    install_exception_handlers(app)
    api_key = APIKeyAuth(lookup, realm="api")
    sync_key = APIKeyAuth(records.get, header="X-Key")

    @app.get("/data")
    async def data(record: Annotated[APIKeyRecord, Security(api_key, scopes=["read"])]) -> dict:
        return {"key_id": record.key_id}

    @app.get("/write")
    async def write(record: Annotated[APIKeyRecord, Security(api_key, scopes=["write"])]) -> dict:
        return {"key_id": record.key_id}

    @app.get("/sync")
    async def sync(record: Annotated[APIKeyRecord, Depends(sync_key)]) -> dict:
        return {"key_id": record.key_id}

    return serve(app)


def test_api_key_auth(apikey_url: str, keys: dict[str, tuple[str, APIKeyRecord]]) -> None:
    key, record = keys["reader"]
    ok = httpx.get(apikey_url + "/data", headers={"X-API-Key": key}, timeout=10)
    assert ok.json() == {"key_id": record.key_id}
    assert httpx.get(apikey_url + "/sync", headers={"X-Key": key}, timeout=10).status_code == 200

    missing = httpx.get(apikey_url + "/data", timeout=10)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'ApiKey realm="api"'

    unknown_key, _ = APIKeyRecord.create(scopes=["read"])
    for bad in (
        unknown_key,
        key[:-1] + ("A" if key[-1] != "A" else "B"),
        "garbage",
        keys["expired"][0],
    ):
        response = httpx.get(apikey_url + "/data", headers={"X-API-Key": bad}, timeout=10)
        assert response.status_code == 401, bad
        assert response.headers["www-authenticate"] == 'ApiKey realm="api", error="invalid_token"'
        assert bad not in response.text

    scope = httpx.get(apikey_url + "/write", headers={"X-API-Key": key}, timeout=10)
    assert scope.status_code == 403
    assert scope.json()["error"] == "insufficient_scope"
    assert 'scope="write"' in scope.headers["www-authenticate"]
