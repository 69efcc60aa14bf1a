"""Sign-in: rehash on login, audit of failures, lockout per user and per address."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from tigerseal.errors import InvalidCredentialsError, LoginLockedError, PasswordError
from tigerseal.passwords import Argon2Hasher, Pbkdf2Sha256Hasher
from tigerseal.passwords._context import PasswordContext
from tigerseal.ratelimit import MemoryRateLimitStorage
from tigerseal.web import LoginGuard, LoginResult


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingArgon2(Argon2Hasher):
    """Cheap argon2 that counts verifications (the work an attacker can time)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verifies = 0

    def verify(self, password: str, stored_hash: str) -> bool:
        self.verifies += 1
        return super().verify(password, stored_hash)


class Audit:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event_type: str, fields: Mapping[str, Any]) -> None:
        self.events.append((event_type, dict(fields)))

    def types(self) -> list[str]:
        return [t for t, _ in self.events]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def argon() -> CountingArgon2:
    return CountingArgon2()


@pytest.fixture
def context(argon: CountingArgon2) -> PasswordContext:
    return PasswordContext(
        "argon2",
        hashers={"argon2": argon, "pbkdf2-sha256": Pbkdf2Sha256Hasher(iterations=1000)},
    )


@pytest.fixture
def audit() -> Audit:
    return Audit()


@pytest.fixture
def guard(clock: Clock, context: PasswordContext, audit: Audit) -> LoginGuard:
    return LoginGuard(
        max_failures_per_user=3,
        max_failures_per_ip=5,
        lockout_seconds=60,
        storage=MemoryRateLimitStorage(clock=clock),
        passwords=context,
        audit=audit,
    )


@pytest.fixture
def alice(context: PasswordContext) -> str:
    return context.hash("correct horse battery")


def fail(guard: LoginGuard, user: str, stored: str | None, ip: str = "198.51.100.7") -> None:
    with pytest.raises(InvalidCredentialsError, match="username or password is wrong"):
        guard.authenticate(user, "wrong password!", stored, client_ip=ip)


def test_success(guard: LoginGuard, alice: str, audit: Audit) -> None:
    result = guard.authenticate("alice", "correct horse battery", alice, client_ip="198.51.100.7")
    assert result == LoginResult("alice", False, None)
    assert audit.events == []


def test_lockout_after_n_failures_per_user(guard: LoginGuard, alice: str, clock: Clock) -> None:
    for _ in range(3):
        fail(guard, "alice", alice)
    # Even the right password is refused, from any address, and nothing is verified.
    with pytest.raises(LoginLockedError) as locked:
        guard.authenticate("alice", "correct horse battery", alice, client_ip="203.0.113.1")
    assert locked.value.retry_after == pytest.approx(60)
    assert guard.blocked == 1
    clock.now += 61
    assert guard.authenticate("Alice ", "correct horse battery", alice, client_ip="203.0.113.1")


def test_case_and_space_variants_share_the_budget(guard: LoginGuard, alice: str) -> None:
    fail(guard, "alice", alice)
    fail(guard, "ALICE", alice)
    fail(guard, " Alice", alice)
    with pytest.raises(LoginLockedError):
        guard.check("alice", "203.0.113.1")


def test_lockout_per_address_across_users(guard: LoginGuard, alice: str) -> None:
    for n in range(5):
        fail(guard, f"user{n}", None, ip="203.0.113.66")
    with pytest.raises(LoginLockedError):
        guard.authenticate("alice", "correct horse battery", alice, client_ip="203.0.113.66")
    # Another address is not affected.
    assert guard.authenticate("alice", "correct horse battery", alice, client_ip="203.0.113.1")


def test_success_clears_the_user_but_not_the_address(guard: LoginGuard, alice: str) -> None:
    ip = "203.0.113.66"
    fail(guard, "alice", alice, ip=ip)
    fail(guard, "alice", alice, ip=ip)
    guard.authenticate("alice", "correct horse battery", alice, client_ip=ip)
    fail(guard, "alice", alice, ip=ip)
    fail(guard, "alice", alice, ip=ip)
    guard.authenticate("alice", "correct horse battery", alice, client_ip=ip)  # user not locked
    fail(guard, "bob", None, ip=ip)  # 5th failure from the address
    with pytest.raises(LoginLockedError):
        guard.authenticate("alice", "correct horse battery", alice, client_ip=ip)


def test_unknown_user_is_indistinguishable(
    guard: LoginGuard, alice: str, argon: CountingArgon2, audit: Audit
) -> None:
    before = argon.verifies
    fail(guard, "alice", alice, ip="203.0.113.1")
    known_work = argon.verifies - before
    before = argon.verifies
    fail(guard, "mallory", None, ip="203.0.113.2")
    assert argon.verifies - before == known_work == 1
    assert audit.types() == ["authn_login_fail", "authn_login_fail"]
    for _ in range(2):
        fail(guard, "alice", alice, ip="203.0.113.1")
        fail(guard, "mallory", None, ip="203.0.113.2")
    with pytest.raises(LoginLockedError) as known:
        guard.authenticate("alice", "x", alice, client_ip="203.0.113.1")
    with pytest.raises(LoginLockedError) as unknown:
        guard.authenticate("mallory", "x", None, client_ip="203.0.113.2")
    assert str(known.value) == str(unknown.value)
    assert known.value.retry_after == unknown.value.retry_after


def test_rehash_on_login(guard: LoginGuard, context: PasswordContext) -> None:
    old = context.hasher("pbkdf2-sha256").hash("correct horse battery")
    stored: list[str] = []
    result = guard.authenticate(
        "alice", "correct horse battery", old, client_ip="198.51.100.7", on_rehash=stored.append
    )
    assert result.rehashed
    assert stored == [result.new_hash]
    assert result.new_hash is not None
    assert result.new_hash.startswith("$argon2id$")
    assert context.verify("correct horse battery", result.new_hash)


def test_failing_rehash_hook_does_not_fail_the_sign_in(
    guard: LoginGuard, context: PasswordContext, caplog: pytest.LogCaptureFixture
) -> None:
    old = context.hasher("pbkdf2-sha256").hash("correct horse battery")

    def broken(new_hash: str) -> None:
        raise OSError("database down")

    result = guard.authenticate(
        "alice", "correct horse battery", old, client_ip="198.51.100.7", on_rehash=broken
    )
    assert result.rehashed
    assert "could not store the upgraded password hash" in caplog.text


def test_audit_of_failures_and_lock(guard: LoginGuard, alice: str, audit: Audit) -> None:
    for _ in range(3):
        fail(guard, "alice\n[FAKE] admin logged in", alice)
    assert audit.types() == ["authn_login_fail"] * 3 + ["authn_login_lock"]
    fields = audit.events[-1][1]
    assert fields["user_id"] == "alice\\n[FAKE] admin logged in"
    assert fields["source_ip"] == "198.51.100.7"
    assert fields["details"]["locked"] == "user"
    assert "wrong password" not in json.dumps(audit.events)


def test_malformed_stored_hash_is_a_server_error(guard: LoginGuard) -> None:
    with pytest.raises(PasswordError):
        guard.authenticate("alice", "pw", "not a hash", client_ip="198.51.100.7")


def test_unlock(guard: LoginGuard, alice: str) -> None:
    for _ in range(3):
        fail(guard, "alice", alice)
    guard.unlock(username="ALICE")
    assert guard.lockout("alice", "198.51.100.7") is None


def test_default_audit_writes_the_trail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, context: PasswordContext, clock: Clock
) -> None:
    trail = tmp_path / "audit.jsonl"
    monkeypatch.setenv("TIGERSEAL_AUDIT_SINKS", f"file://{trail}")
    from tigerseal.audit import reset_auditor

    reset_auditor()
    try:
        guard = LoginGuard(storage=MemoryRateLimitStorage(clock=clock), passwords=context)
        fail(guard, "alice", None)
        from tigerseal.audit import get_auditor

        get_auditor().flush()
    finally:
        reset_auditor()
    records = [json.loads(line) for line in trail.read_text().splitlines()]
    fails = [r for r in records if r["event_type"] == "authn_login_fail"]
    assert len(fails) == 1
    assert fails[0]["source_ip"] == "198.51.100.7"
