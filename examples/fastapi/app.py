"""A small FastAPI service secured with tigerseal.

Sign-in with lockout, JWT and API-key auth with scopes, per-client rate limits and an encrypted
field.

Run it from the repository root (no servers, no configuration: development keys are created in
``.tigerseal/``, the JWT secret is random per process)::

    python3 -m uv run --locked python examples/fastapi/app.py     # or: python -m examples.fastapi

then open http://127.0.0.1:8000/docs. Sign in as ``alice`` / ``correct horse battery staple``.

Environment (optional): ``EXAMPLE_PORT`` (8000), ``EXAMPLE_RATE_LIMIT`` (requests per minute per
client, 120), ``EXAMPLE_TRUSTED_PROXIES`` (comma-separated CIDRs of your reverse proxies).
"""

from __future__ import annotations

import os
import secrets
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Security
from pydantic import BaseModel, Field
from tigerseal.apikeys import APIKeyRecord
from tigerseal.passwords import hash_password
from tigerseal.tokens import TokenPayload, create_jwt_token
from tigerseal_fastapi import (
    APIKeyAuth,
    BearerAuth,
    Encrypted,
    EncryptedStr,
    Login,
    LoginGuard,
    RateLimit,
    RateLimitMiddleware,
    RateLimitRule,
    TrustedProxies,
    install_exception_handlers,
)

# -- configuration ---------------------------------------------------------------------------
PROXIES = TrustedProxies(os.environ.get("EXAMPLE_TRUSTED_PROXIES", ""))
PER_MINUTE = int(os.environ.get("EXAMPLE_RATE_LIMIT", "120"))

# -- "database" (in memory for the example) ----------------------------------------------------
USERS: dict[str, dict[str, object]] = {
    "alice": {
        "password_hash": hash_password("correct horse battery staple"),
        "scopes": ["notes:read", "notes:write", "keys:create"],
    },
    "bob": {"password_hash": hash_password("bob's long passphrase"), "scopes": ["notes:read"]},
}
API_KEYS: dict[str, APIKeyRecord] = {}  # key_id -> record (never the key itself)
NOTES: list[dict[str, object]] = []  # rows as stored: the secret column is ts1. text


# -- models ----------------------------------------------------------------------------------
NoteSecret = Annotated[EncryptedStr, Encrypted({"table": "notes", "column": "secret"})]


class Credentials(BaseModel):
    """The sign-in request."""

    username: str = Field(max_length=150)
    password: str = Field(max_length=4096)


class NoteIn(BaseModel):
    """A new note; ``secret`` arrives in plaintext and is stored encrypted."""

    title: str = Field(max_length=200)
    secret: NoteSecret  # plaintext in, encrypted when stored


class NoteRow(BaseModel):
    """A stored note: ``model_dump()`` writes ``secret`` as ``ts1.`` text."""

    id: int
    owner: str
    title: str
    secret: NoteSecret


class NoteOut(BaseModel):
    """A note as its owner reads it."""

    id: int
    title: str
    secret: str  # decrypted for its owner


# -- tigerseal pieces ------------------------------------------------------------------------
bearer = BearerAuth(realm="notes", proxies=PROXIES)
api_key = APIKeyAuth(API_KEYS.get, realm="notes", proxies=PROXIES)
login = Login(LoginGuard(max_failures_per_user=5, max_failures_per_ip=20), proxies=PROXIES)
per_client = RateLimit(RateLimitRule(PER_MINUTE, 60, name="api"), proxies=PROXIES)

app = FastAPI(title="tigerseal FastAPI example")
install_exception_handlers(app, realm="notes")
# A generous global ceiling per client address; routes add their own quotas.
app.add_middleware(
    RateLimitMiddleware,
    rule=RateLimitRule(PER_MINUTE * 5, 60, name="global"),
    proxies=PROXIES,
    exempt={"/health"},
)


@app.get("/health")
async def health() -> dict[str, str]:
    """Liveness (never rate limited)."""
    return {"status": "ok"}


@app.post("/login")
async def sign_in(request: Request, body: Credentials) -> dict[str, str]:
    """Password sign-in: a JWT with the user's scopes (401 wrong, 429 locked out)."""
    user = USERS.get(body.username)

    def store(new_hash: str) -> None:
        if user is not None:
            user["password_hash"] = new_hash  # the hash was outdated: keep the upgrade

    await login.authenticate(
        request,
        body.username,
        body.password,
        str(user["password_hash"]) if user else None,
        on_rehash=store,
    )
    assert user is not None  # authenticate() raised for unknown users
    scopes = [str(s) for s in user["scopes"]]  # type: ignore[attr-defined]
    return {"access_token": create_jwt_token(body.username, scopes), "token_type": "bearer"}


@app.post("/notes", status_code=201, dependencies=[Depends(per_client)])
async def create_note(
    note: NoteIn, token: Annotated[TokenPayload, Security(bearer, scopes=["notes:write"])]
) -> dict[str, int]:
    """Store a note; its secret is written as ``ts1.`` text bound to notes/secret."""
    row = NoteRow(id=len(NOTES) + 1, owner=str(token.sub), title=note.title, secret=note.secret)
    NOTES.append(row.model_dump())  # what a database would hold: secret is ts1. text
    return {"id": row.id}


@app.get("/notes", dependencies=[Depends(per_client)])
async def list_notes(
    token: Annotated[TokenPayload, Security(bearer, scopes=["notes:read"])],
) -> list[NoteOut]:
    """The caller's notes, secrets decrypted."""
    rows = [NoteRow.model_validate(r) for r in NOTES if r["owner"] == token.sub]
    return [NoteOut(id=r.id, title=r.title, secret=r.secret.get_secret_value()) for r in rows]


@app.get("/notes/raw", dependencies=[Depends(per_client)])
async def raw_rows(
    token: Annotated[TokenPayload, Security(bearer, scopes=["notes:read"])],
) -> list[dict[str, object]]:
    """The stored rows as they are at rest (to see the encrypted column)."""
    return [r for r in NOTES if r["owner"] == token.sub]


@app.post("/api-keys", status_code=201)
async def create_api_key(
    token: Annotated[TokenPayload, Security(bearer, scopes=["keys:create"])],
) -> dict[str, str]:
    """Create an API key for /stats; the key is shown once, only its hash is kept."""
    key, record = APIKeyRecord.create(
        scopes=["stats:read"], name=f"{token.sub}-{secrets.token_hex(2)}", expires_in=86400
    )
    API_KEYS[record.key_id] = record
    return {"api_key": key, "key_id": record.key_id}  # shown once; only the hash is kept


@app.get("/stats", dependencies=[Depends(per_client)])
async def stats(
    record: Annotated[APIKeyRecord, Security(api_key, scopes=["stats:read"])],
) -> dict[str, object]:
    """Counts, for API-key holders with ``stats:read``."""
    return {"notes": len(NOTES), "users": len(USERS), "key_id": record.key_id}


if __name__ == "__main__":
    # `python examples/fastapi/app.py [--port N]` (the README's command).
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="the tigerseal FastAPI example")
    parser.add_argument("--port", type=int, default=int(os.environ.get("EXAMPLE_PORT", "8000")))
    args = parser.parse_args()
    # proxy_headers=False: the app decides which forwarding headers to believe
    # (EXAMPLE_TRUSTED_PROXIES); uvicorn must not rewrite the client address first.
    uvicorn.run(app, host="127.0.0.1", port=args.port, proxy_headers=False)
