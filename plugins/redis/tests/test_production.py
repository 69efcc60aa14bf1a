"""In production, Redis stores with on_outage=local keep their per-process fallback (item 12)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest
from tigerseal.config import reset_settings
from tigerseal.plugins import rate_limit_storage_from_uri, revocation_store_from_uri
from tigerseal.spi.services import RateLimitPolicy

pytestmark = [pytest.mark.integration, pytest.mark.redis]


def test_local_fallbacks_are_not_refused_in_production(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, closing: Callable[[Any], Any]
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", secrets.token_hex(32))
    monkeypatch.setenv("JWT_SECRET", secrets.token_urlsafe(48))
    monkeypatch.delenv("TIGERSEAL_SINGLE_PROCESS", raising=False)
    reset_settings()
    try:
        limits = closing(rate_limit_storage_from_uri(redis_url, on_outage="local"))
        assert limits.acquire("k", RateLimitPolicy(1, 60)).allowed
        revocation = closing(revocation_store_from_uri(redis_url, on_outage="local"))
        assert revocation.mark_used("jti-1", 2e9)
        assert not revocation.mark_used("jti-1", 2e9)
    finally:
        reset_settings()
