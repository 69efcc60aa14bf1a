"""examples/fastapi/app.py, started with the README's one command, end to end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest


@pytest.fixture
def example(start_example: Callable[[str, list[str]], str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("EXAMPLE_RATE_LIMIT", "12")
    return start_example("examples/fastapi/app.py", [])


def sign_in(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/login", json={"username": username, "password": password})


def test_fastapi_example_end_to_end(example: str, fresh_clone: Path) -> None:
    with httpx.Client(base_url=example, timeout=30) as client:
        assert client.get("/health").json() == {"status": "ok"}

        # Sign-in: wrong password and unknown user look the same.
        wrong = sign_in(client, "alice", "not her password")
        unknown = sign_in(client, "mallory", "whatever")
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json()
        alice = sign_in(client, "alice", "correct horse battery staple").json()["access_token"]
        bob = sign_in(client, "bob", "bob's long passphrase").json()["access_token"]
        as_alice = {"Authorization": f"Bearer {alice}"}
        as_bob = {"Authorization": f"Bearer {bob}"}

        # JWT scopes: bob may read, not write.
        denied = client.post("/notes", json={"title": "t", "secret": "x"}, headers=as_bob)
        assert denied.status_code == 403
        assert (
            'error="insufficient_scope", scope="notes:write"'
            in (denied.headers["www-authenticate"])
        )
        forged = client.get("/notes", headers={"Authorization": f"Bearer {alice[:-4]}AAAA"})
        assert forged.status_code == 401

        # The encrypted field: plaintext in and out for its owner, ts1. text at rest.
        created = client.post(
            "/notes", json={"title": "wifi", "secret": "hunter2-but-longer"}, headers=as_alice
        )
        assert created.status_code == 201
        raw = client.get("/notes/raw", headers=as_alice).json()
        assert raw[0]["secret"].startswith("ts1.")
        assert "hunter2" not in str(raw)
        notes = client.get("/notes", headers=as_alice).json()
        assert notes == [{"id": 1, "title": "wifi", "secret": "hunter2-but-longer"}]
        assert client.get("/notes", headers=as_bob).json() == []

        # API keys: created by a token holder, shown once, then used on their own.
        assert client.get("/stats").status_code == 401
        assert client.post("/api-keys", headers=as_bob).status_code == 403
        key = client.post("/api-keys", headers=as_alice).json()["api_key"]
        stats = client.get("/stats", headers={"X-API-Key": key})
        assert stats.status_code == 200
        assert stats.json()["notes"] == 1

        # Per-client rate limit (12/min here): 429 with the fields, and a spoofed
        # X-Forwarded-For from this untrusted client buys no fresh quota.
        statuses = []
        for n in range(10):
            response = client.get(
                "/notes", headers={**as_alice, "X-Forwarded-For": f"198.51.100.{n}"}
            )
            statuses.append(response.status_code)
        assert statuses[-1] == 429
        assert 200 in statuses
        assert statuses == sorted(statuses)  # admitted until the quota ran out, then 429
        assert response.json()["error"] == "rate_limited"
        assert response.headers["retry-after"].isdigit()
        assert '"api";r=0' in response.headers["ratelimit"]

    # Development keys were created in the working directory, not in the repository.
    assert (fresh_clone / ".tigerseal" / "keyring.json").exists()
