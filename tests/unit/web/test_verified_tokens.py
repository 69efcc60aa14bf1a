"""VerifiedTokens: a repeated token skips the signature check, never any other check."""

from __future__ import annotations

import secrets
import types

import pytest
from tigerseal.errors import (
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
    import tigerseal.web._auth as auth

    now = manager._clock() + 3600
    later = types.SimpleNamespace(time=lambda: now)
    monkeypatch.setattr(auth, "time", later)
    monkeypatch.setattr(manager, "_clock", later.time)
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
    assert not cache._entries
    for _ in range(5):
        cache.verify(manager.create("ada"), manager, scopes=[])
    assert len(cache._entries) == 2
