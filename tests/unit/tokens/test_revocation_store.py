"""The memory revocation store and its plugin registration."""

from __future__ import annotations

import threading

import pytest
from tigerseal.errors import ConfigError
from tigerseal.plugins import revocation_store_from_uri
from tigerseal.tokens import MemoryRevocationStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire() -> None:
    clock = Clock()
    store = MemoryRevocationStore(clock=clock)
    store.revoke("j1", 1010.0)
    store.revoke_family("f1", 1020.0)
    assert store.is_revoked("j1")
    assert store.is_family_revoked("f1")
    assert not store.is_revoked("j2")
    clock.now = 1015.0
    assert not store.is_revoked("j1")
    assert store.is_family_revoked("f1")


def test_mark_used_once() -> None:
    store = MemoryRevocationStore()
    assert store.mark_used("r1", 2e9)
    assert not store.mark_used("r1", 2e9)


def test_mark_used_is_atomic_under_threads() -> None:
    store = MemoryRevocationStore()
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        wins.append(store.mark_used("shared", 2e9))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1
    assert len(wins) == 8


def test_sweep_drops_expired_entries() -> None:
    clock = Clock()
    store = MemoryRevocationStore(clock=clock)
    for i in range(1023):
        store.revoke(f"old{i}", 1001.0)
    clock.now = 2000.0
    store.revoke("new", 3000.0)  # the 1024th write sweeps
    assert len(store) == 1


def test_registered_as_memory_plugin() -> None:
    store = revocation_store_from_uri("memory://")
    assert isinstance(store, MemoryRevocationStore)
    with pytest.raises(ConfigError, match="no location or options"):
        revocation_store_from_uri("memory://somewhere")
