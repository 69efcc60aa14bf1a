"""LoginGuard on redis://: lockouts are shared by every process that uses the same server."""

from __future__ import annotations

import pytest
from tigerseal.errors import InvalidCredentialsError, LoginLockedError
from tigerseal.passwords import Argon2Hasher, PasswordContext
from tigerseal.plugins import rate_limit_storage_from_uri
from tigerseal.web import LoginGuard

pytestmark = [pytest.mark.integration, pytest.mark.redis]


def test_lockout_is_shared_through_redis(redis_url: str) -> None:
    context = PasswordContext(
        "argon2", hashers={"argon2": Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)}
    )
    stored = context.hash("correct horse battery")
    # Two workers: their own storage objects (connections), one Redis.
    first, second = (
        LoginGuard(
            max_failures_per_user=3,
            lockout_seconds=60,
            storage=rate_limit_storage_from_uri(redis_url),
            passwords=context,
            audit=None,
        )
        for _ in range(2)
    )
    for guard in (first, second, first):
        with pytest.raises(InvalidCredentialsError):
            guard.authenticate("alice", "wrong", stored, client_ip="198.51.100.7")
    for guard in (first, second):
        with pytest.raises(LoginLockedError) as locked:
            guard.authenticate("alice", "correct horse battery", stored, client_ip="203.0.113.1")
        assert 0 < locked.value.retry_after <= 60
    second.unlock(username="alice")
    assert first.authenticate("alice", "correct horse battery", stored, client_ip="203.0.113.1")
