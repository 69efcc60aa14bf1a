"""Fixtures for the tigerseal-flask tests: a clean tigerseal environment and a small app."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plugins.flask.tests._app import make_app
from tests.fixtures.cheap_hashing import cheap_hashing
from tests.unit.config.isolation import isolate


@pytest.fixture(autouse=True)
def tigerseal_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No tigerseal variable but a master key and a JWT secret; fresh process-wide services."""
    from tigerseal.envelope import reset_encryption_service
    from tigerseal.passwords import Argon2Hasher, PasswordContext, set_password_context
    from tigerseal.ratelimit import reset_rate_limiter

    for workdir in isolate(monkeypatch, tmp_path):
        monkeypatch.setenv("ENCRYPTION_MASTER_KEY", secrets.token_hex(32))
        monkeypatch.setenv("JWT_SECRET", secrets.token_urlsafe(48))
        reset_encryption_service()
        reset_rate_limiter()
        cheap_hashing(monkeypatch)  # contexts built from app.config too
        # argon2id at test cost (isolate() puts the settings-built context back afterwards).
        cheap = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)
        set_password_context(PasswordContext("argon2", hashers={"argon2": cheap}))
        try:
            yield workdir
        finally:
            reset_encryption_service()
            reset_rate_limiter()


@pytest.fixture
def app() -> Any:
    return make_app()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()
