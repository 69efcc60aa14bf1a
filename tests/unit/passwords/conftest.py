from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tigerseal.passwords import (
    Argon2Hasher,
    BcryptHasher,
    PasswordContext,
    Pbkdf2Sha256Hasher,
    ScryptHasher,
)

from tests.unit.config.isolation import isolate


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No tigerseal variable, no .env, fresh settings and default services."""
    yield from isolate(monkeypatch, tmp_path)


def cheap_hashers() -> dict[str, object]:
    """Every built-in scheme with the cheapest parameters (tests only)."""
    return {
        "argon2": Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),
        "bcrypt": BcryptHasher(rounds=4),
        "scrypt": ScryptHasher(ln=4, r=8, p=1),
        "pbkdf2-sha256": Pbkdf2Sha256Hasher(iterations=1000),
    }


@pytest.fixture
def cheap() -> dict[str, object]:
    return cheap_hashers()


def make_context(default: str = "argon2", **kwargs: object) -> PasswordContext:
    return PasswordContext(default, hashers=cheap_hashers(), **kwargs)  # type: ignore[arg-type]
