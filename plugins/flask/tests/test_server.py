"""A real server (werkzeug make_server, threaded) under concurrent requests."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from plugins.flask.tests._app import make_app


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """One client for every thread (httpx.Client is thread-safe; building one is not cheap)."""
    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=32)) as client:
        yield client


@pytest.fixture
def server() -> Iterator[str]:
    from werkzeug.serving import make_server

    app = make_app(TIGERSEAL_RATE_LIMIT=(1000, 60))
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        thread.join(10)


def test_concurrent_requests_share_one_quota(server: str, http: httpx.Client) -> None:
    def get(_: int) -> httpx.Response:
        return http.get(server + "/limited")

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(get, range(24)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 3, 429: 21}
    for r in responses:
        assert r.headers["RateLimit-Policy"] == '"limited";q=3;w=60'
        assert r.headers["RateLimit"].startswith('"limited";r=')
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) >= 1
    # The app-wide limit counted every request too.
    assert http.get(server + "/public").headers["RateLimit"].startswith('"app";r=975;')


def test_concurrent_logins_and_token_use(server: str, http: httpx.Client) -> None:
    def sign_in(i: int) -> tuple[int, Any]:
        password = "pw-of-ada" if i % 2 == 0 else "wrong"
        r = http.post(server + "/login", json={"username": "ada", "password": password})
        return r.status_code, r.json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(sign_in, range(8)))
    assert Counter(s for s, _ in results) == {200: 4, 401: 4}
    token = next(body["access_token"] for s, body in results if s == 200)
    me = http.get(server + "/orders", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json() == {"user": "ada"}
    assert http.get(server + "/orders").headers["WWW-Authenticate"] == ('Bearer realm="api"')


@pytest.mark.integration
@pytest.mark.redis
def test_two_servers_share_a_quota_on_redis(redis_url: str, http: httpx.Client) -> None:
    """TIGERSEAL_RATE_LIMIT_STORAGE=redis://...: two app instances (two servers) share one quota."""
    from werkzeug.serving import make_server

    servers = []
    try:
        for _ in range(2):
            app = make_app(TIGERSEAL_RATE_LIMIT_STORAGE=redis_url)
            srv = make_server("127.0.0.1", 0, app, threaded=True)
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            servers.append(srv)
        urls = [f"http://127.0.0.1:{s.server_port}/limited" for s in servers]
        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(lambda i: http.get(urls[i % 2]), range(12)))
        assert Counter(r.status_code for r in responses) == {200: 3, 429: 9}
    finally:
        for srv in servers:
            srv.shutdown()
