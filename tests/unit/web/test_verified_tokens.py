"""VerifiedTokens: a repeated token skips the signature check, never any other check."""

from __future__ import annotations

import secrets
import threading
import types

import pytest
from tigerseal.errors import (
    ConfigError,
    InsufficientScopeError,
    TokenExpiredError,
    TokenInvalidError,
    TokenRevokedError,
)
from tigerseal.tokens import KeySet, MemoryRevocationStore, TokenManager
from tigerseal.web import VerifiedTokens, verify_bearer_request


def _manager(keys: KeySet | None = None, **kw: object) -> TokenManager:
    keys = keys or KeySet.from_secret(secrets.token_urlsafe(48))
    return TokenManager(keys, revocation=MemoryRevocationStore(), **kw)  # type: ignore[arg-type]


class CountingManager(TokenManager):
    decodes = 0

    def decode(self, token: str | bytes):  # type: ignore[no-untyped-def]
        CountingManager.decodes += 1
        return super().decode(token)


def test_a_repeat_skips_decoding_and_still_checks_scopes() -> None:
    manager = CountingManager(KeySet.from_secret(secrets.token_urlsafe(48)))
    cache = VerifiedTokens()
    token = manager.create("ada", scopes=["read"])
    CountingManager.decodes = 0
    for _ in range(3):
        assert cache.verify(token, manager, scopes=["read"]).sub == "ada"
    assert CountingManager.decodes == 1
    with pytest.raises(InsufficientScopeError):
        cache.verify(token, manager, scopes=["write"])


def test_a_token_revoked_after_it_was_remembered_is_refused() -> None:
    manager = _manager()
    cache = VerifiedTokens()
    token = manager.create("ada")
    cache.verify(token, manager, scopes=[])
    manager.revoke(token)
    with pytest.raises(TokenRevokedError):
        verify_bearer_request(f"Bearer {token}", manager=manager, cache=cache, audit=False)


def test_a_removed_key_makes_a_remembered_token_fail() -> None:
    keys = KeySet.from_secret(secrets.token_urlsafe(48))
    manager = _manager(keys)
    cache = VerifiedTokens()
    token = manager.create("ada")
    old = keys.current.kid
    cache.verify(token, manager, scopes=[])
    keys.rotate()
    keys.remove(old)
    with pytest.raises(TokenInvalidError):
        cache.verify(token, manager, scopes=[])


def test_an_expired_token_is_refused_though_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    manager = _manager(leeway=0)
    cache = VerifiedTokens()
    token = manager.create("ada", expires_in=60)
    cache.verify(token, manager, scopes=[])
    now = manager._clock() + 3600
    later = types.SimpleNamespace(time=lambda: now)
    monkeypatch.setattr(manager, "_clock", later.time)  # the manager's clock is the cache's
    with pytest.raises(TokenExpiredError):
        cache.verify(token, manager, scopes=[])


def test_not_shared_between_managers_or_audiences() -> None:
    keys = KeySet.from_secret(secrets.token_urlsafe(48))
    one = _manager(keys, audience="one")
    two = _manager(keys, audience="two")
    cache = VerifiedTokens()
    token = one.create("ada")
    cache.verify(token, one, scopes=[])
    with pytest.raises(TokenInvalidError):
        cache.verify(token, two, scopes=[])  # another manager: verified in full, refused
    with pytest.raises(TokenInvalidError):
        cache.verify(token, one, scopes=[], audience="two")


def test_only_verified_tokens_are_stored_and_at_most_size() -> None:
    manager = _manager()
    cache = VerifiedTokens(2)
    with pytest.raises(TokenInvalidError):
        cache.verify("x.y.z", manager, scopes=[])
    assert not len(cache)
    for _ in range(5):
        cache.verify(manager.create("ada"), manager, scopes=[])
    assert len(cache) == 2


# -- red team (fapired): the manager's clock, audience/key binding, O(1) bounded eviction --
class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


def clocked_manager(clock: Clock | None = None, **kw: object) -> TokenManager:
    return TokenManager(
        KeySet.from_secret(secrets.token_urlsafe(48)),
        revocation=MemoryRevocationStore(),
        clock=clock or Clock(),
        **kw,  # type: ignore[arg-type]
    )


def test_repeat_skips_the_signature_but_not_revocation_scopes_or_expiry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    m = clocked_manager(clock)
    cache = VerifiedTokens()
    token = m.create("alice", ["read"], expires_in=60)
    assert cache.verify(token, m, scopes=["read"]).sub == "alice"
    # A hit does not decode or check the signature again.
    monkeypatch.setattr(m, "decode", lambda *a: pytest.fail("re-verified"))
    assert cache.verify(token, m, scopes=["read"]).sub == "alice"
    with pytest.raises(InsufficientScopeError, match="admin"):
        cache.verify(token, m, scopes=["read", "admin"])
    monkeypatch.undo()
    m.revoke(token)
    with pytest.raises(TokenRevokedError):
        cache.verify(token, m)
    fresh = m.create("bob", expires_in=60)
    cache.verify(fresh, m)
    clock.now += 60 + m.leeway + 1  # the manager's clock, not the wall clock
    with pytest.raises(TokenExpiredError):
        cache.verify(fresh, m)


def test_audience_manager_and_key_bind_an_entry() -> None:
    m = clocked_manager(audience="api")
    cache = VerifiedTokens()
    token = m.create("alice", audience="api")
    cache.verify(token, m)
    with pytest.raises(TokenInvalidError, match="audience"):
        cache.verify(token, m, audience="billing")
    with pytest.raises(TokenInvalidError):
        cache.verify(token, clocked_manager(audience="api"))  # another manager, another key
    m.keys.rotate()
    cache.verify(token, m)  # the old key still verifies: still a hit
    old = next(k.kid for k in m.keys if k.kid != m.keys.current.kid)
    m.keys.remove(old)  # retired: a miss, and the full verify refuses it
    with pytest.raises(TokenInvalidError, match="unknown key"):
        cache.verify(token, m)


def test_bounded_oldest_first_and_thread_safe() -> None:
    m = clocked_manager()
    with pytest.raises(ConfigError):
        VerifiedTokens(-1)
    cache = VerifiedTokens(64)
    tokens = [m.create(f"u{n}") for n in range(400)]

    def work(part: list[str]) -> None:
        for token in part:
            cache.verify(token, m)

    threads = [threading.Thread(target=work, args=(tokens[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 64
    cache.verify(tokens[0], m)
    assert cache.get(tokens[0], m) is not None


def test_verify_bearer_request_with_a_cache_still_checks_revocation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = clocked_manager()
    cache = VerifiedTokens()
    token = m.create("alice", ["read"])
    header = f"Bearer {token}"
    assert verify_bearer_request(header, scopes=["read"], manager=m, audit=False, cache=cache)
    monkeypatch.setattr(m, "decode", lambda *a: pytest.fail("re-verified"))
    assert verify_bearer_request(header, scopes="read", manager=m, audit=False, cache=cache)
    monkeypatch.undo()
    m.revoke(token)
    with pytest.raises(TokenRevokedError):
        verify_bearer_request(header, manager=m, audit=False, cache=cache)


def test_another_spelling_of_a_cached_token_is_not_a_hit() -> None:
    # Guard (held): the key is the exact text, and a spelling with other trailing base64url
    # bits (same signature bytes) is refused by the full verify, cached original or not.
    import base64

    m = clocked_manager()
    cache = VerifiedTokens()
    token = m.create("alice")
    cache.verify(token, m)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    twin = token[:-1] + alphabet[last ^ 1]  # HS256: 43 characters, the last 2 bits unused
    signature = token.rsplit(".", 1)[1]
    assert base64.urlsafe_b64decode(twin.rsplit(".", 1)[1] + "=") == base64.urlsafe_b64decode(
        signature + "="
    )
    assert cache.get(twin, m) is None
    with pytest.raises(TokenInvalidError, match="non-canonical"):
        cache.verify(twin, m)
    with pytest.raises(TokenInvalidError):
        cache.verify(token + " ", m)
