"""Redis killed (and hung) mid-test: each outage policy behaves as configured, then recovers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from tigerseal.errors import ProviderUnavailable
from tigerseal.spi.services import RateLimitPolicy
from tigerseal_redis import revocation, storage

from tests.services.redis import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.redis]

RETRY = 0.05  # seconds between reconnection attempts in these tests


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout}s")
        time.sleep(RETRY)


def recovered(store: Any, probe: Callable[[], object]) -> Callable[[], bool]:
    def check() -> bool:
        probe()
        return bool(store.metrics["state"] == "connected")

    return check


@pytest.mark.parametrize("policy", ["fail_closed", "fail_open", "local"])
def test_rate_limit_outage_policies(
    policy: str,
    redis_url: str,
    redis_server: RedisServer,
    audit_capture: Any,
    closing: Callable[[Any], Any],
) -> None:
    s = closing(storage.from_uri(f"{redis_url}?on_outage={policy}&retry_interval={RETRY}"))
    limit = RateLimitPolicy(3, 3600, "gcra")
    assert s.acquire("k", limit).allowed
    assert s.metrics["state"] == "connected"

    redis_server.kill()
    during = [s.acquire("k", limit) for _ in range(5)]
    allowed = [d.allowed for d in during]
    if policy == "fail_closed":
        assert allowed == [False] * 5
        assert during[0].retry_after == pytest.approx(RETRY)
    elif policy == "fail_open":
        assert allowed == [True] * 5
    else:  # a fresh in-process limit
        assert allowed == [True, True, True, False, False]
    m = s.metrics
    assert m["state"] == "degraded"
    assert m["outages"] == 1
    assert m["policy"] == policy
    assert m["fallback_calls"] >= 5
    assert m["last_error"]
    assert audit_capture.events().count("redis_unavailable") == 1
    event = audit_capture.records[audit_capture.events().index("redis_unavailable")]
    assert event["details"]["policy"] == policy
    assert event["risk_level"] == "high"
    with pytest.raises(ProviderUnavailable):
        s.reset("k")

    redis_server.restart()
    wait_until(recovered(s, lambda: s.acquire("after", limit)), "reconnection")
    m = s.metrics
    assert m["recoveries"] == 1
    assert m["outages"] == 1
    assert audit_capture.events().count("redis_recovered") == 1
    # the restarted server kept nothing (no persistence): a fresh limit, shared again
    assert s.acquire("k", limit).remaining == 2


def test_a_hung_server_times_out_instead_of_hanging(
    redis_url: str, redis_server: RedisServer, closing: Callable[[Any], Any]
) -> None:
    s = closing(
        storage.from_uri(
            f"{redis_url}?on_outage=fail_open&retry_interval={RETRY}&socket_timeout=0.2"
        )
    )
    limit = RateLimitPolicy(2, 60)
    assert s.acquire("k", limit).allowed
    redis_server.pause()
    try:
        assert all(s.acquire("k", limit).allowed for _ in range(5))
        assert s.metrics["state"] == "degraded"
        assert s.metrics["last_error"] == "TimeoutError"
    finally:
        redis_server.resume()
    wait_until(recovered(s, lambda: s.acquire("k2", limit)), "recovery after SIGCONT")


def test_revocation_fail_closed_refuses_everything(
    redis_url: str, redis_server: RedisServer, closing: Callable[[Any], Any]
) -> None:
    store = closing(revocation.from_uri(f"{redis_url}?retry_interval={RETRY}"))
    assert store.on_outage == "fail_closed"
    exp = time.time() + 300
    store.revoke("before", exp)
    redis_server.kill()
    for call in (
        lambda: store.is_revoked("before"),
        lambda: store.is_family_revoked("fam"),
        lambda: store.mark_used("r", exp),
        lambda: store.revoke("x", exp),
        lambda: store.revoke_family("fam", exp),
    ):
        with pytest.raises(ProviderUnavailable, match="fail_closed"):
            call()
    assert store.metrics["pending_writes"] == 0
    redis_server.restart()
    wait_until(recovered(store, lambda: store.is_revoked("any")), "reconnection")
    store.revoke("x", exp)
    assert store.is_revoked("x")


def test_revocation_fail_open_admits_and_replays_writes(
    redis_url: str, redis_server: RedisServer, closing: Callable[[Any], Any]
) -> None:
    store = closing(revocation.from_uri(f"{redis_url}?on_outage=fail_open&retry_interval={RETRY}"))
    exp = time.time() + 300
    redis_server.kill()
    assert store.is_revoked("anything") is False
    assert store.mark_used("r1", exp) is True
    assert store.mark_used("r1", exp) is True  # nothing can tell: that is what fail_open means
    store.revoke("logout-during-outage", exp)
    assert store.metrics["pending_writes"] == 3
    redis_server.restart()
    wait_until(recovered(store, lambda: store.is_revoked("probe")), "reconnection")
    assert store.metrics["pending_writes"] == 0
    other = closing(revocation.from_uri(redis_url))
    assert other.is_revoked("logout-during-outage")  # the revocation was not lost
    assert other.mark_used("r1", exp) is False


def test_revocation_local_fallback_and_replay(
    redis_url: str, redis_server: RedisServer, audit_capture: Any, closing: Callable[[Any], Any]
) -> None:
    store = closing(revocation.from_uri(f"{redis_url}?on_outage=local&retry_interval={RETRY}"))
    exp = time.time() + 300
    assert store.is_revoked("warmup") is False
    redis_server.kill()
    store.revoke("jti-local", exp)
    store.revoke_family("fam-local", exp)
    assert store.is_revoked("jti-local")
    assert store.is_family_revoked("fam-local")
    assert store.mark_used("refresh-local", exp) is True
    assert store.mark_used("refresh-local", exp) is False  # reuse caught in this process
    redis_server.restart()
    # the same refresh token was used on another machine while we were cut off
    client = redis_server.client()
    client.set("tigerseal:rev:used:refresh-local", "elsewhere")
    client.close()
    wait_until(recovered(store, lambda: store.is_revoked("probe")), "reconnection")
    other = closing(revocation.from_uri(redis_url))
    assert other.is_revoked("jti-local")
    assert other.is_family_revoked("fam-local")
    assert "refresh_token_reuse" in audit_capture.events()
    assert audit_capture.events().count("redis_unavailable") == 1
    assert audit_capture.events().count("redis_recovered") == 1
