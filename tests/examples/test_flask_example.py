"""examples/flask/app.py, started with the README's one command, end to end."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx


def test_flask_example_end_to_end(
    start_example: Callable[[str, list[str]], str], fresh_clone: Path, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    url = start_example("examples/flask/app.py", ["--data", str(data)])
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
    # The development keyring was created in the working directory; the note is encrypted.
    assert (fresh_clone / ".tigerseal" / "keyring.json").exists()
    with sqlite3.connect(data / "notes.db") as db:
        [(stored,)] = db.execute("SELECT text FROM notes").fetchall()
    assert b"meet at noon" not in bytes(stored)
