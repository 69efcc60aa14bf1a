"""The memory revocation store is bounded (issue 12, item 17 applied to revocation).

Every refresh marks the used refresh token until it would expire (14 days by default), so one
client refreshing in a loop grew the store without limit. Used markers are now bounded by
``max_entries``; a full store refuses new refreshes (fail closed) rather than forgetting a used
token, and never drops a revocation.
"""

from __future__ import annotations

import contextlib
import logging
import math

import pytest
from tigerseal.errors import ConfigError, ProviderUnavailable, TokenReuseError, TokenRevokedError
from tigerseal.plugins import revocation_store_from_uri
from tigerseal.tokens import MemoryRevocationStore

from tests.unit.tokens.helpers import NOW, manager


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def test_a_refresh_loop_cannot_grow_the_store_past_its_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryRevocationStore(clock=lambda: NOW, max_entries=50)
    m = manager(revocation=store)
    pair = m.create_pair("mallory")
    for _ in range(50):
        pair = m.refresh(pair.refresh_token)
    assert len(store) == 50
    with (
        caplog.at_level(logging.WARNING, "tigerseal.tokens._revocation"),
        pytest.raises(ProviderUnavailable, match="revocation store is full") as info,
    ):
        m.refresh(pair.refresh_token)
    assert "max_entries" in str(info.value)
    assert "redis://" in str(info.value)
    assert len(store) == 50
    assert any("revocation store is full" in r.getMessage() for r in caplog.records)


def test_a_full_store_still_detects_reuse_and_records_revocations() -> None:
    store = MemoryRevocationStore(clock=lambda: NOW, max_entries=3)
    m = manager(revocation=store)
    first = m.create_pair("alice")
    second = m.refresh(first.refresh_token)
    for _ in range(2):
        m.refresh(m.create_pair("mallory").refresh_token)
    # Full: a replay of alice's used token is still caught, and her family revoked.
    with pytest.raises(TokenReuseError):
        m.refresh(first.refresh_token)
    with pytest.raises(TokenRevokedError):
        m.verify(second.access_token)
    # A revocation is never refused or evicted, whatever the used markers fill.
    other = m.create_pair("bob")
    m.revoke(other.access_token)
    with pytest.raises(TokenRevokedError):
        m.verify(other.access_token)


def test_expired_markers_make_room() -> None:
    clock = Clock()
    store = MemoryRevocationStore(clock=clock, max_entries=4)
    for i in range(4):
        assert store.mark_used(f"old{i}", NOW + 10)
    with pytest.raises(ProviderUnavailable):
        store.mark_used("new", NOW + 100)
    clock.now = NOW + 11
    assert store.mark_used("new", NOW + 100)
    assert len(store) == 1


def test_expired_markers_out_of_order_are_found_by_a_sweep() -> None:
    clock = Clock()
    store = MemoryRevocationStore(clock=clock, max_entries=16)
    store.mark_used("long-lived", NOW + 1000)
    for i in range(15):
        store.mark_used(f"short{i}", NOW + 10)
    clock.now = NOW + 11
    # The oldest marker is live; the sweep behind it (at most once per max_entries // 8
    # refusals) finds the expired ones.
    for i in range(2):
        with contextlib.suppress(ProviderUnavailable):
            store.mark_used(f"new{i}", NOW + 100)
    assert store.mark_used("after", NOW + 100)
    assert len(store) <= 4


def test_max_entries_from_the_uri_and_its_validation() -> None:
    store = revocation_store_from_uri("memory://?max_entries=10")
    assert isinstance(store, MemoryRevocationStore)
    assert store.max_entries == 10
    for bad in ("memory://?max_entries=0", "memory://?max_entries=x", "memory://?other=1"):
        with pytest.raises(ConfigError, match="max_entries"):
            revocation_store_from_uri(bad)
    with pytest.raises(ConfigError, match="max_entries"):
        MemoryRevocationStore(max_entries=0)


@pytest.mark.parametrize("expires_at", [math.nan, "2030-01-01", None])
def test_a_bad_expiry_is_refused_not_stored_as_never_live(expires_at: object) -> None:
    # NaN compared false with every time: a NaN-marked refresh token was "used" but never
    # live, so its replay passed, and a NaN revocation revoked nothing. Redis refuses these.
    store = MemoryRevocationStore()
    for write in (store.mark_used, store.revoke, store.revoke_family):
        with pytest.raises(ConfigError, match="expires_at must be epoch seconds"):
            write("id", expires_at)  # type: ignore[arg-type]
    assert len(store) == 0


@pytest.mark.parametrize("ident", ["", b"id", 7])
def test_an_empty_or_non_str_id_is_refused_as_redis_does(ident: object) -> None:
    store = MemoryRevocationStore()
    for write in (store.mark_used, store.revoke, store.revoke_family):
        with pytest.raises(ConfigError, match="a token id must be a non-empty string"):
            write(ident, NOW + 10)  # type: ignore[arg-type]
