"""Per-client web quotas with RateLimit / RateLimit-Policy / Retry-After."""

from __future__ import annotations

import pytest
from tigerseal.errors import ConfigError
from tigerseal.ratelimit import MemoryRateLimitStorage, RateLimiter
from tigerseal.web import RateLimitRule, check_rate_limit


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limiter(clock: Clock) -> RateLimiter:
    return RateLimiter(
        MemoryRateLimitStorage(clock=clock),
        algorithm="sliding_window_log",
        default_limit=1000,
        audit_rejections=False,
    )


def test_headers_count_down_then_429(limiter: RateLimiter, clock: Clock) -> None:
    rule = RateLimitRule(2, 60, name="api")
    first = check_rate_limit("198.51.100.7", rule, limiter=limiter)
    assert first.allowed
    assert first.headers == {"RateLimit-Policy": '"api";q=2;w=60', "RateLimit": '"api";r=1;t=60'}
    clock.now += 10
    assert check_rate_limit("198.51.100.7", rule, limiter=limiter).headers["RateLimit"] == (
        '"api";r=0;t=60'
    )
    third = check_rate_limit("198.51.100.7", rule, limiter=limiter)
    assert not third.allowed
    assert third.headers["Retry-After"] == "50"
    assert third.retry_after == pytest.approx(50)
    assert check_rate_limit("198.51.100.8", rule, limiter=limiter).allowed
    assert limiter.rejections == 1


def test_rules_with_other_names_count_apart(limiter: RateLimiter) -> None:
    login = RateLimitRule(1, 60, name="login")
    api = RateLimitRule(1, 60, name="api")
    assert check_rate_limit("c", login, limiter=limiter).allowed
    assert check_rate_limit("c", api, limiter=limiter).allowed
    assert not check_rate_limit("c", login, limiter=limiter).allowed


def test_cost_above_the_quota_still_says_when(limiter: RateLimiter) -> None:
    result = check_rate_limit("c", RateLimitRule(2, 30, cost=3), limiter=limiter)
    assert not result.allowed
    assert result.headers["Retry-After"] == "30"


def test_rule_algorithm_overrides_the_limiter(limiter: RateLimiter) -> None:
    rule = RateLimitRule(3, 60, algorithm="gcra", burst=1)
    assert rule.policy("sliding_window_log").algorithm == "gcra"
    assert check_rate_limit("c", rule, limiter=limiter).allowed
    assert not check_rate_limit("c", rule, limiter=limiter).allowed


def test_bad_rules_fail_when_built() -> None:
    with pytest.raises(ConfigError, match="printable ASCII"):
        RateLimitRule(1, 60, name="a\nb")
    with pytest.raises(ConfigError, match=">= 1"):
        RateLimitRule(0, 60)


def test_process_wide_limiter_by_default() -> None:
    rule = RateLimitRule(1, 60, name="default-limiter")
    assert check_rate_limit("c", rule).allowed
    assert not check_rate_limit("c", rule).allowed
