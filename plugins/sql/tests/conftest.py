"""Fixtures for the SQL plugin tests: databases (SQLite and a real PostgreSQL) and keys."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tigerseal.envelope import EncryptionService
from tigerseal.providers.env import EnvKeyProvider

VAR = "TS_SQL_TEST_KEY"


@dataclass
class Keys:
    """An ``env://`` keyring held in a dict, rotated the way an operator would rotate it."""

    env: dict[str, str] = field(default_factory=lambda: {VAR: secrets.token_hex(32)})

    @property
    def version(self) -> int:
        return int(self.env.get(f"{VAR}_VERSION", "1"))

    def service(self) -> EncryptionService:
        return EncryptionService(EnvKeyProvider(VAR, environ=dict(self.env)))

    def rotate(self) -> EncryptionService:
        """Keep the current key as ``_V<n>``, install a new one as version n + 1."""
        n = self.version
        self.env[f"{VAR}_V{n}"] = self.env[VAR]
        self.env[VAR] = secrets.token_hex(32)
        self.env[f"{VAR}_VERSION"] = str(n + 1)
        return self.service()


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=[pytest.mark.integration, pytest.mark.postgres]),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new database on the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
    else:
        yield request.getfixturevalue("pg_url")
