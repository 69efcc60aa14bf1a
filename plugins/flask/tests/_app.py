"""The test application of the tigerseal-flask tests."""

from __future__ import annotations

from typing import Any


def make_app(**config: Any) -> Any:
    """The test application: login, JWT, API key and rate-limited routes."""
    from flask import Flask, g, request
    from tigerseal.apikeys import APIKeyRecord
    from tigerseal.errors import RateLimitExceeded
    from tigerseal.passwords import get_password_context
    from tigerseal_flask import (
        TigerSeal,
        api_key_required,
        client_ip,
        jwt_required,
        login,
        rate_limit,
    )

    app = Flask("tsflask_test")
    app.config.update({"TIGERSEAL_TRUSTED_PROXIES": ["10.0.0.1"], **config})
    ext = TigerSeal(app)
    users: dict[str, str] = {"ada": get_password_context().hash("pw-of-ada")}
    api_keys: dict[str, APIKeyRecord] = {}
    app.config["users"] = users
    app.config["api_keys"] = api_keys

    @app.get("/public")
    def public() -> Any:
        return {"ip": client_ip()}

    @app.post("/login")
    def do_login() -> Any:
        body = request.get_json()
        name = body["username"]
        login(name, body["password"], users.get(name), on_rehash=lambda h: users.update({name: h}))
        return {"access_token": ext.services().tokens.create(name, scopes=["orders:read"])}

    @app.get("/orders")
    @jwt_required(scopes=["orders:read"])
    def orders() -> Any:
        return {"user": g.tigerseal_token.sub}

    @app.get("/me")
    @jwt_required
    def me() -> Any:
        return {"user": g.tigerseal_token.sub}

    @app.get("/limited")
    @rate_limit(3, 60, name="limited")
    def limited() -> Any:
        return {"ok": True}

    @app.get("/reports")
    @api_key_required(api_keys.get, scopes=["reports"])
    def reports() -> Any:
        return {"key": g.tigerseal_api_key.key_id}

    @app.get("/boom")
    def boom() -> Any:
        raise RateLimitExceeded("internal detail: bucket 42", retry_after=7)

    return app
