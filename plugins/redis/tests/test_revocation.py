"""Revocation store against a real redis-server, within and across processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tigerseal.errors import ConfigError
from tigerseal_redis.revocation import RedisRevocationStore, from_uri

from tests.services.redis import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.redis]

WORKER = Path(__file__).with_name("_worker.py")

Make = Callable[..., RedisRevocationStore]


@pytest.fixture
def make(redis_url: str, closing: Callable[[Any], Any]) -> Make:
    def build(**options: Any) -> RedisRevocationStore:
        return closing(from_uri(redis_url, **options))  # type: ignore[no-any-return]

    return build


def run_worker(url: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(WORKER), url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_revoke_and_families(make: Make) -> None:
    store = make()
    exp = time.time() + 300
    assert not store.is_revoked("jti-1")
    store.revoke("jti-1", exp)
    assert store.is_revoked("jti-1")
    assert not store.is_revoked("jti-2")
    assert not store.is_family_revoked("fam-1")
    store.revoke_family("fam-1", exp)
    assert store.is_family_revoked("fam-1")
    assert not store.is_revoked("fam-1")  # families and token ids are separate namespaces


def test_entries_expire_with_the_token_plus_grace(make: Make, redis_server: RedisServer) -> None:
    store = make(grace=30)
    exp = time.time() + 100
    store.revoke("jti-ttl", exp)
    client = redis_server.client()
    ttl_ms = client.pttl("tigerseal:rev:jti:jti-ttl")
    client.close()
    assert 120_000 < ttl_ms <= 131_000
    # an already-expired token is still kept a moment (verifier leeway), never written forever
    store.revoke("jti-old", time.time() - 3600)
    client = redis_server.client()
    assert 0 < client.pttl("tigerseal:rev:jti:jti-old") <= 1_100
    client.close()


def test_mark_used_is_first_wins(make: Make) -> None:
    store = make()
    exp = time.time() + 300
    assert store.mark_used("refresh-1", exp) is True
    assert store.mark_used("refresh-1", exp) is False
    assert store.mark_used("refresh-2", exp) is True


def test_bad_input(make: Make) -> None:
    store = make()
    with pytest.raises(ConfigError):
        store.revoke("", time.time())
    with pytest.raises(ConfigError):
        store.revoke("x", float("nan"))
    with pytest.raises(ConfigError):
        store.is_revoked(None)  # type: ignore[arg-type]


def test_revocation_is_visible_across_processes(make: Make, redis_url: str) -> None:
    store = make()
    run_worker(redis_url, "revoke", "jti-cross")
    assert store.is_revoked("jti-cross")
    store.revoke("jti-back", time.time() + 60)
    assert run_worker(redis_url, "is_revoked", "jti-back") == {"revoked": True}
    assert run_worker(redis_url, "is_revoked", "jti-never") == {"revoked": False}


def test_refresh_token_used_by_32_threads_in_4_processes_wins_once(
    redis_url: str, redis_server: RedisServer
) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), redis_url, "mark_used", "refresh-race", "--wait"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    client = redis_server.client()
    try:
        client.set("test:go", "1")
        outputs = [p.communicate(timeout=60) for p in procs]
    finally:
        client.close()
        for p in procs:
            if p.poll() is None:
                p.kill()
    counts = [json.loads(out) for out, _ in outputs]
    assert sum(c["admitted"] for c in counts) == 1
    assert sum(c["denied"] for c in counts) == 31


def test_token_manager_workers_share_revocations_and_reuse_detection(make: Make) -> None:
    """Two workers (two TokenManagers, two stores, one Redis) behave as one service."""
    import secrets as _secrets

    from tigerseal.errors import TokenReuseError, TokenRevokedError
    from tigerseal.tokens import KeySet
    from tigerseal.tokens._manager import TokenManager

    keys = KeySet.from_secret(_secrets.token_urlsafe(48))
    worker_a = TokenManager(keys, revocation=make())
    worker_b = TokenManager(keys, revocation=make())

    pair = worker_a.create_pair("user-1", ["read"])
    worker_b.verify(pair.access_token)
    worker_a.revoke(pair.access_token)
    with pytest.raises(TokenRevokedError):
        worker_b.verify(pair.access_token)

    rotated = worker_b.refresh(pair.refresh_token)  # the legitimate client, on worker B
    with pytest.raises(TokenReuseError):
        worker_a.refresh(pair.refresh_token)  # a copy of the old token, on worker A
    with pytest.raises(TokenRevokedError):
        worker_b.refresh(rotated.refresh_token)  # the whole family went with it
