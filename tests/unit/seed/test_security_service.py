"""The SecurityService facade: delegation, and failures audited before they are raised."""

from __future__ import annotations

import time

import pytest
from tigerseal import (
    AccountAccessError,
    InsufficientScopeError,
    SecurityService,
    TokenError,
    TokenExpiredError,
    get_security_metrics,
    get_security_service,
)
from tigerseal.ratelimit import MemoryRateLimitStorage, RateLimiter
from tigerseal.tokens import get_token_manager


def test_singleton() -> None:
    assert get_security_service() is get_security_service()
    assert isinstance(get_security_service(), SecurityService)


def test_passwords() -> None:
    s = get_security_service()
    stored = s.hash_password("correct horse battery staple")
    assert s.verify_password("correct horse battery staple", stored)
    assert not s.verify_password("Correct horse battery staple", stored)
    ok, new_hash = s.verify_and_update("correct horse battery staple", stored)
    assert ok
    assert new_hash is None
    generated = s.generate_secure_password(24)
    assert len(generated) == 24
    assert s.check_password_policy(generated).valid
    assert not s.check_password_policy("password").valid


def test_api_keys() -> None:
    s = get_security_service()
    key, key_hash = s.generate_api_key("svc")
    assert key.startswith("svc_")
    assert s.verify_api_key(key, key_hash)
    assert not s.verify_api_key(key[:-1] + ("A" if key[-1] != "A" else "B"), key_hash)


def test_tokens_and_audited_failures() -> None:
    s = get_security_service()
    token = s.create_token("alice", ["read"], 60, accounts=["12345"])
    payload = s.verify_token(token, required_scopes=["read"])
    assert payload.sub == "alice"
    assert s.validate_token_scopes(payload, ["read"])
    assert s.validate_account_access(payload, "12345")
    with pytest.raises(InsufficientScopeError):
        s.validate_token_scopes(payload, ["admin"])
    with pytest.raises(AccountAccessError):
        s.validate_account_access(payload, "99999")
    with pytest.raises(TokenError):
        s.verify_token(token[:-2] + "xx")
    with pytest.raises(TokenExpiredError):
        s.verify_token(get_token_manager().create("bob", [], 60, now=time.time() - 3600))
    summary = get_security_metrics()["security_summary"]
    assert summary["events_by_type"]["authz_fail"] == 2
    assert summary["events_by_type"]["authn_token_invalid"] == 2
    assert summary["authorization_failures"] == 2
    assert summary["token_failures"] == 2


def test_refresh_reuse_is_audited_as_high_risk() -> None:
    s = get_security_service()
    pair = s.create_token_pair("carol", ["read"])
    s.refresh_tokens(pair.refresh_token)
    with pytest.raises(TokenError):
        s.refresh_tokens(pair.refresh_token)
    summary = get_security_metrics()["security_summary"]
    assert summary["events_by_type"].get("authn_token_reuse") == 1
    assert summary["events_by_risk_level"]["high"] == 1


def test_rate_limits_through_the_facade() -> None:
    limiter = RateLimiter(MemoryRateLimitStorage(), algorithm="gcra", default_limit=3)
    s = SecurityService(rate_limiter=limiter, audit_failures=False)
    assert [s.check_rate_limit("k") for _ in range(4)] == [True, True, True, False]
    status = s.get_rate_limit_status("k")
    assert status["requests_remaining"] == 0
    assert status["algorithm"] == "gcra"
    assert s.rate_limiter is limiter


def test_audit_and_metrics_through_the_facade() -> None:
    s = get_security_service()
    record = s.audit_event("authn_login_fail", user_id="dave", risk_level="high")
    assert record["user_id"] == "dave"
    assert s.get_security_metrics()["security_summary"]["failed_logins"] == 1
    assert repr(s) == "<SecurityService>"
