"""TigerSeal(app) through Flask's test client: 401/403/429 with their headers, login, config."""

from __future__ import annotations

from typing import Any

import pytest

from plugins.flask.tests._app import make_app


def _token(app: Any, *scopes: str, sub: str = "ada") -> str:
    from tigerseal_flask import TigerSeal

    return TigerSeal.services(app).tokens.create(sub, scopes=scopes)


def test_jwt_required_statuses_and_challenges(app: Any, client: Any) -> None:
    missing = client.get("/orders")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert missing.json == {"error": "unauthorized", "detail": "authentication required"}
    bad = _token(app, "orders:read")[:-4] + "AAAA"
    invalid = client.get("/orders", headers={"Authorization": f"Bearer {bad}"})
    assert invalid.status_code == 401
    assert invalid.headers["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'
    scope = client.get("/orders", headers={"Authorization": f"Bearer {_token(app, 'other')}"})
    assert scope.status_code == 403
    assert scope.headers["WWW-Authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", scope="orders:read"'
    )
    ok = client.get("/orders", headers={"Authorization": f"Bearer {_token(app, 'orders:read')}"})
    assert ok.status_code == 200
    assert ok.json == {"user": "ada"}
    bare = client.get("/me", headers={"Authorization": f"Bearer {_token(app, sub='bob')}"})
    assert bare.json == {"user": "bob"}


def test_rate_limit_decorator(client: Any) -> None:
    for remaining in (2, 1, 0):
        response = client.get("/limited")
        assert response.status_code == 200
        assert response.headers["RateLimit-Policy"] == '"limited";q=3;w=60'
        assert response.headers["RateLimit"].startswith(f'"limited";r={remaining};t=')
    rejected = client.get("/limited")
    assert rejected.status_code == 429
    assert rejected.json["error"] == "rate_limited"
    assert 1 <= int(rejected.headers["Retry-After"]) <= 60
    other = client.get(
        "/limited",
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert other.status_code == 200


def test_client_ip_believes_only_trusted_proxies(client: Any) -> None:
    spoofed = client.get(
        "/public",
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
        headers={"X-Forwarded-For": "1.2.3.4"},
    )
    assert spoofed.json == {"ip": "198.51.100.7"}
    proxied = client.get(
        "/public",
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
        headers={"X-Forwarded-For": "1.2.3.4, 203.0.113.9"},
    )
    assert proxied.json == {"ip": "203.0.113.9"}


def test_api_key_required(app: Any, client: Any) -> None:
    from tigerseal.apikeys import APIKeyRecord

    key, record = APIKeyRecord.create(scopes=["reports"])
    weak_key, weak = APIKeyRecord.create(scopes=["other"])
    app.config["api_keys"].update({record.key_id: record, weak.key_id: weak})
    missing = client.get("/reports")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'ApiKey realm="api"'
    ok = client.get("/reports", headers={"X-API-Key": key})
    assert ok.status_code == 200
    assert ok.json == {"key": record.key_id}
    assert client.get("/reports", headers={"X-API-Key": key[:-2] + "xx"}).status_code == 401
    denied = client.get("/reports", headers={"X-API-Key": weak_key})
    assert denied.status_code == 403
    assert 'error="insufficient_scope"' in denied.headers["WWW-Authenticate"]


def test_error_handler_maps_tigerseal_errors(client: Any) -> None:
    response = client.get("/boom")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert "bucket 42" not in response.get_data(as_text=True)


def test_login_rehash_and_lockout() -> None:
    from tigerseal.passwords import Pbkdf2Sha256Hasher

    app = make_app(TIGERSEAL_LOGIN_MAX_FAILURES_PER_USER=3)
    client = app.test_client()
    users = app.config["users"]
    users["ada"] = Pbkdf2Sha256Hasher(iterations=10_000).hash("pw-of-ada")  # an old scheme
    ok = client.post("/login", json={"username": "ada", "password": "pw-of-ada"})
    assert ok.status_code == 200
    assert users["ada"].startswith("$argon2id$")  # upgraded at login
    token = ok.json["access_token"]
    assert client.get("/orders", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    for _ in range(3):
        wrong = client.post("/login", json={"username": "ada", "password": "nope"})
        assert wrong.status_code == 401
        assert wrong.json["error"] == "invalid_credentials"
    locked = client.post("/login", json={"username": "ada", "password": "pw-of-ada"})
    assert locked.status_code == 429
    assert locked.json["error"] == "login_locked"
    assert int(locked.headers["Retry-After"]) > 0
    for _ in range(3):
        assert client.post("/login", json={"username": "ghost", "password": "x"}).status_code == 401
    assert client.post("/login", json={"username": "ghost", "password": "x"}).status_code == 429


def test_app_wide_rate_limit_with_exemption() -> None:
    app = make_app(TIGERSEAL_RATE_LIMIT=(2, 30), TIGERSEAL_RATE_LIMIT_EXEMPT=["/public"])
    client = app.test_client()
    first = client.get("/me")
    assert first.status_code == 401
    assert first.headers["RateLimit-Policy"] == '"app";q=2;w=30'
    for _ in range(3):
        assert client.get("/public").status_code == 200  # exempt
    assert client.get("/me").status_code == 401
    assert client.get("/me").status_code == 429


def test_config_maps_onto_settings_and_refuses_typos() -> None:
    from tigerseal.errors import ConfigError
    from tigerseal_flask import TigerSeal

    app = make_app(TIGERSEAL_PASSWORD_HASH_ALGORITHM="pbkdf2-sha256")
    services = TigerSeal.services(app)
    assert services.settings is not None
    assert services.passwords.default.name == "pbkdf2-sha256"
    with pytest.raises(ConfigError, match=r"TIGERSEAL_JWT_SECRT|JWT_SECRT"):
        make_app(TIGERSEAL_JWT_SECRT="x" * 48)
    with pytest.raises(ConfigError, match="JWT_SECRET") as info:
        make_app(TIGERSEAL_JWT_SECRET="too-short-secret")
    assert "too-short-secret" not in str(info.value)


def test_keys_and_jwt_secret_come_from_app_config() -> None:
    import secrets

    from tigerseal.errors import DecryptionError, TokenInvalidError
    from tigerseal_flask import TigerSeal

    config = {
        "TIGERSEAL_ENCRYPTION_MASTER_KEY": secrets.token_hex(32),
        "TIGERSEAL_JWT_SECRET": secrets.token_urlsafe(48),
    }
    one, same = TigerSeal.services(make_app(**config)), TigerSeal.services(make_app(**config))
    other = TigerSeal.services(make_app())  # the environment's key and secret
    token = one.tokens.create("ada")
    sealed = one.encryption.encrypt("secret note", {"n": "1"})
    assert same.tokens.verify(token).sub == "ada"
    assert same.encryption.decrypt_to_string(sealed, {"n": "1"}) == "secret note"
    with pytest.raises(TokenInvalidError):
        other.tokens.verify(token)
    with pytest.raises(DecryptionError):
        other.encryption.decrypt(sealed, {"n": "1"})
