"""BearerAuth's verified-token cache never lets a token through that a full verify refuses."""

import secrets
import time

import pytest
from tigerseal.errors import (
    InsufficientScopeError,
    TokenExpiredError,
    TokenInvalidError,
    TokenRevokedError,
)
from tigerseal.tokens import JWTKey, KeySet, MemoryRevocationStore, TokenManager
from tigerseal.web import VerifiedTokens
from tigerseal_fastapi import BearerAuth


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def manager() -> TokenManager:
    return TokenManager(
        KeySet.from_secret(secrets.token_urlsafe(48)), revocation=MemoryRevocationStore()
    )


@pytest.mark.anyio
async def test_hit_skips_the_signature_but_not_revocation_or_scopes() -> None:
    m = manager()
    bearer = BearerAuth(manager=m)
    token = m.create("alice", ["read"])
    assert (await bearer._verify(token, ["read"])).sub == "alice"
    assert bearer._verified.get(token, m) is not None  # cached
    with pytest.raises(InsufficientScopeError):
        await bearer._verify(token, ["admin"])
    m.revoke(token)
    with pytest.raises(TokenRevokedError):
        await bearer._verify(token, ["read"])


@pytest.mark.anyio
async def test_expiry_is_checked_on_a_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    m = manager()
    bearer = BearerAuth(manager=m)
    token = m.create("alice", ["read"], expires_in=60)
    await bearer._verify(token, ["read"])
    later = time.time() + 60 + m.leeway + 1
    monkeypatch.setattr(m, "_clock", lambda: later)  # the manager's clock is the cache's
    assert bearer._verified.get(token, m) is None
    with pytest.raises(TokenExpiredError):
        await bearer._verify(token, ["read"])


@pytest.mark.anyio
async def test_a_removed_or_replaced_key_is_a_miss() -> None:
    m = manager()
    bearer = BearerAuth(manager=m)
    token = m.create("alice", ["read"])
    await bearer._verify(token, ["read"])
    # The key set is replaced by one without the signing key (a compromised key dropped).
    m.keys = KeySet([JWTKey.from_secret(secrets.token_urlsafe(48))])
    with pytest.raises(TokenInvalidError):
        await bearer._verify(token, ["read"])


@pytest.mark.anyio
async def test_another_manager_is_a_miss() -> None:
    first, second = manager(), manager()
    token = first.create("alice", ["read"])
    bearer = BearerAuth(manager=first)
    await bearer._verify(token, ["read"])
    bearer.manager = second
    with pytest.raises(TokenInvalidError):
        await bearer._verify(token, ["read"])


def test_bounded() -> None:
    m = manager()
    cache = VerifiedTokens(3)
    tokens = [m.create(f"u{n}") for n in range(5)]
    for token in tokens:
        cache.put(token, m, None, m.verify(token))
    assert len(cache) == 3
    assert cache.get(tokens[0], m) is None
    assert cache.get(tokens[-1], m) is not None
    off = VerifiedTokens(0)
    off.put(tokens[0], m, None, m.verify(tokens[0]))
    assert len(off) == 0
