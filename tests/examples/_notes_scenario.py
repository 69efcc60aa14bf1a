"""The notes scenario the Django and Flask examples both serve (same routes, same answers)."""

from __future__ import annotations

import httpx


def drive_notes_app(url: str) -> None:
    """Sign in, the 401/429 answers, an encrypted note round trip, the sign-in quota."""
    with httpx.Client(base_url=url, timeout=30) as http:
        denied = http.get("/notes")
        assert denied.status_code == 401
        assert denied.headers["WWW-Authenticate"] == 'Bearer realm="api"'
        assert http.post("/login", json={"username": "demo", "password": "x"}).status_code == 401
        signed_in = http.post("/login", json={"username": "demo", "password": "demo-password"})
        assert signed_in.status_code == 200
        assert signed_in.headers["RateLimit-Policy"].startswith('"sign_in";q=10;w=60')
        auth = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        created = http.post("/notes", json={"text": "meet at noon"}, headers=auth)
        assert created.status_code == 201
        notes = http.get("/notes", headers=auth)
        assert notes.json() == {"notes": [{"id": created.json()["id"], "text": "meet at noon"}]}
        assert notes.headers["RateLimit-Policy"] == '"app";q=100;w=60'
        # The sign-in quota: 10 a minute per address, then 429 with Retry-After.
        # (Five failures for "nobody" lock that name first: 429 login_locked, no hash checked.)
        errors = [
            http.post("/login", json={"username": "nobody", "password": "x"}).json()["error"]
            for _ in range(9)
        ]
        assert errors == ["invalid_credentials"] * 5 + ["login_locked"] * 3 + ["rate_limited"]
