"""Closing a service (``reset_defaults()`` closes the default one) drops its cached data keys.

Before: ``close()`` closed the providers but the service's own data-key cache kept every cached
data key (and unwrapped key) in memory for as long as anything referenced the old service.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tigerseal
from tigerseal.envelope import CachePolicy, EncryptionService, get_encryption_service
from tigerseal.envelope._cache import DataKeyCache
from tigerseal.testing.fake import FakeKeyProvider


def test_close_clears_the_cache_it_owns() -> None:
    svc = EncryptionService(FakeKeyProvider("close-cache"), cache=CachePolicy())
    svc.decrypt(svc.encrypt(b"x"))
    assert svc.cache is not None
    assert svc.cache._enc
    assert svc.cache._dec
    svc.close()
    assert not svc.cache._enc
    assert not svc.cache._dec


def test_close_leaves_a_shared_cache_to_its_owner() -> None:
    """A DataKeyCache passed in may serve other services: closing one does not empty it."""
    shared = DataKeyCache(CachePolicy())
    one = EncryptionService(FakeKeyProvider("close-shared"), cache=shared)
    one.encrypt(b"x")
    one.close()
    assert shared._enc


def test_reset_defaults_drops_the_default_services_cached_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", "ab" * 32)
    monkeypatch.setenv("TIGERSEAL_CACHE_ENABLED", "true")
    tigerseal.reset_defaults()
    try:
        svc = get_encryption_service()
        assert svc.cache is not None
        svc.encrypt(b"x")
        assert svc.cache._enc
        tigerseal.reset_defaults()
        assert not svc.cache._enc
    finally:
        tigerseal.reset_defaults()
