r"""tigerseal in a Flask app: sign-in, JWT auth, rate limits and an encrypted column.

Sign-in with lockout and hash upgrade, JWT auth with scopes, per-client and per-user rate
limits, and notes whose text is encrypted in the database (bound to its row by tigerseal-sql).

Run it from a clone (no server to install: SQLite and tigerseal's development keyring)::

    python3 -m uv run --locked python examples/flask/app.py            # http://127.0.0.1:5000

then::

    curl -s -X POST localhost:5000/login -H 'Content-Type: application/json' \\
         -d '{"username": "demo", "password": "demo-password"}'
    curl -s -X POST localhost:5000/notes -H "Authorization: Bearer $TOKEN" \\
         -H 'Content-Type: application/json' -d '{"text": "meet at noon"}'
    curl -s localhost:5000/notes -H "Authorization: Bearer $TOKEN"

Data goes to ``examples/flask/var/`` (``--data DIR`` to change); the keys to
``.tigerseal/keyring.json`` in the working directory (the development keyring: set
``ENCRYPTION_MASTER_KEY`` or ``TIGERSEAL_KEY_PROVIDERS`` for anything real).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flask import Flask, g, request
from sqlalchemy import String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from tigerseal.errors import ConfigError
from tigerseal.passwords import hash_password
from tigerseal_flask import TigerSeal, jwt_required, login, rate_limit
from tigerseal_sql import EncryptedString

HERE = Path(__file__).resolve().parent


class Base(DeclarativeBase):
    """The example's tables."""


class User(Base):
    """A user and the hash of their password."""

    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(150), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(300))


class Note(Base):
    """A note; its text is a tigerseal envelope in the database."""

    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(150), index=True)
    text: Mapped[str] = mapped_column(EncryptedString())  # an envelope in the database


def create_app(data_dir: Path) -> Flask:
    """The application, with its SQLite database in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{data_dir / 'notes.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        if session.get(User, "demo") is None:
            session.add(User(username="demo", password_hash=hash_password("demo-password")))
            session.commit()

    app = Flask(__name__)
    app.config.update(
        TIGERSEAL_RATE_LIMIT=(100, 60),  # every client: 100 requests a minute
        TIGERSEAL_RATE_LIMIT_EXEMPT=["/health"],
        TIGERSEAL_LOGIN_MAX_FAILURES_PER_USER=5,
    )
    tigerseal = TigerSeal(app)

    @app.get("/health")
    def health() -> Any:
        return {"status": "ok"}

    @app.post("/login")
    @rate_limit(10, 60)  # sign-in attempts per client address
    def sign_in() -> Any:
        body = request.get_json(force=True)
        username, password = str(body.get("username", "")), str(body.get("password", ""))
        with Session(engine) as session:
            user = session.get(User, username)

            def store(new_hash: str) -> None:  # the hash was outdated: keep the new one
                if user is not None:
                    user.password_hash = new_hash
                    session.commit()

            # 401 on a wrong password, 429 when locked out: raised, mapped by the extension.
            login(username, password, user.password_hash if user else None, on_rehash=store)
        token = tigerseal.services().tokens.create(username, scopes=["notes:read", "notes:write"])
        return {"access_token": token, "token_type": "Bearer"}

    @app.get("/notes")
    @jwt_required(scopes=["notes:read"])
    def list_notes() -> Any:
        with Session(engine) as session:
            notes = session.scalars(select(Note).where(Note.owner == g.tigerseal_token.sub))
            return {"notes": [{"id": n.id, "text": n.text} for n in notes]}

    @app.post("/notes")
    @jwt_required(scopes=["notes:write"])
    @rate_limit(20, 60, key=lambda: g.tigerseal_token.sub)  # per user, not per address
    def add_note() -> Any:
        text = str(request.get_json(force=True).get("text", ""))
        with Session(engine) as session:
            note = Note(owner=g.tigerseal_token.sub, text=text)
            session.add(note)
            session.commit()
            return {"id": note.id, "text": note.text}, 201

    return app


def main() -> None:
    """Serve the example (``--host``, ``--port``, ``--data``)."""
    parser = argparse.ArgumentParser(description="tigerseal + Flask example")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--data", type=Path, default=HERE / "var", help="database directory")
    args = parser.parse_args()
    try:
        app = create_app(args.data)
    except ConfigError as exc:
        raise SystemExit(f"configuration error: {exc}") from None
    app.run(args.host, args.port, threaded=True)


if __name__ == "__main__":
    main()
