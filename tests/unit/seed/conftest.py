from __future__ import annotations

import contextlib
import io
import secrets
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tigerseal.audit import _metrics as metrics
from tigerseal.audit import reset_auditor
from tigerseal.config import reset_settings
from tigerseal.envelope import reset_encryption_service
from tigerseal.ratelimit import reset_rate_limiter
from tigerseal.seed import reset_security_service

CONFIG_VARS = (
    "ENCRYPTION_MASTER_KEY",
    "JWT_SECRET",
    "ENVIRONMENT",
    "DATABASE_URL",
    "PBKDF2_ITERATIONS",
    "PASSWORD_HASH_ALGORITHM",
    "JWT_ACCESS_TOKEN_EXPIRE",
    "DEFAULT_RATE_LIMIT_HOUR",
    "TIGERSEAL_KEY_PROVIDERS",
    "TIGERSEAL_KEYRING_PATH",
    "TIGERSEAL_AUDIT_SINKS",
    "TIGERSEAL_RATE_LIMIT_STORAGE",
    "TIGERSEAL_RATE_LIMIT_ALGORITHM",
)


def _reset() -> None:
    reset_settings()
    reset_encryption_service()
    reset_auditor()
    reset_rate_limiter()
    reset_security_service()
    metrics.reset()


@pytest.fixture(autouse=True)
def fresh_clone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A fresh checkout: no keys configured, nothing on disk; the working directory is tmp."""
    for var in CONFIG_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    # JWT_SECRET is the one thing the quick start asks for; without it tokens use a random
    # per-process secret (and say so).
    monkeypatch.setenv("JWT_SECRET", secrets.token_urlsafe(48))
    _reset()
    yield tmp_path
    _reset()


def run_example(source: str, namespace: dict[str, Any] | None = None) -> tuple[dict[str, Any], str]:
    """Run a README example as written; return its globals and what it printed."""
    ns: dict[str, Any] = {"__name__": "__seed_example__", **(namespace or {})}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(textwrap.dedent(source), "<seed example>", "exec"), ns)  # noqa: S102
    return ns, out.getvalue()
