"""tigerseal errors as HTTP responses: status, code, safe message, headers."""

from __future__ import annotations

import math

import pytest
from tigerseal.errors import (
    AccountAccessError,
    ConfigError,
    DecryptionError,
    InsufficientScopeError,
    InvalidCredentialsError,
    KeyProviderError,
    LoginLockedError,
    MissingCredentialsError,
    PasswordError,
    PasswordPolicyError,
    ProviderUnavailable,
    RateLimitExceeded,
    TokenExpiredError,
    TokenInvalidError,
    TokenRevokedError,
)
from tigerseal.web import HTTPError, http_error

SECRET = "kid=prod-master-7 provider=vault://10.0.0.5 token=eyJhbGciOi"


@pytest.mark.parametrize(
    ("exc", "status", "code", "challenge"),
    [
        (MissingCredentialsError(SECRET), 401, "unauthorized", 'Bearer realm="api"'),
        (
            TokenExpiredError(SECRET),
            401,
            "invalid_token",
            'Bearer realm="api", error="invalid_token"',
        ),
        (
            TokenInvalidError(SECRET),
            401,
            "invalid_token",
            'Bearer realm="api", error="invalid_token"',
        ),
        (
            TokenRevokedError(SECRET),
            401,
            "invalid_token",
            'Bearer realm="api", error="invalid_token"',
        ),
        (
            InsufficientScopeError(SECRET),
            403,
            "insufficient_scope",
            'Bearer realm="api", error="insufficient_scope", scope="read write"',
        ),
        (AccountAccessError(SECRET), 403, "forbidden", None),
        (InvalidCredentialsError(SECRET), 401, "invalid_credentials", 'Bearer realm="api"'),
        (ProviderUnavailable(SECRET), 503, "unavailable", None),
        (KeyProviderError(SECRET), 500, "internal_error", None),
        (DecryptionError(SECRET), 500, "internal_error", None),
        (ConfigError(SECRET), 500, "internal_error", None),
        (PasswordError(SECRET), 500, "internal_error", None),
        (RuntimeError(SECRET), 500, "internal_error", None),
    ],
)
def test_mapping(exc: BaseException, status: int, code: str, challenge: str | None) -> None:
    mapped = http_error(exc, realm="api", scopes=["read", "write"])
    assert (mapped.status, mapped.error) == (status, code)
    assert mapped.headers.get("WWW-Authenticate") == challenge
    # The operator's message never reaches the client.
    assert "prod-master" not in mapped.detail
    assert SECRET not in str(mapped.body())
    assert mapped.body() == {"error": code, "detail": mapped.detail}


def test_rate_limits_carry_retry_after() -> None:
    limited = http_error(RateLimitExceeded(SECRET, retry_after=2.2))
    assert (limited.status, limited.error, limited.headers) == (
        429,
        "rate_limited",
        {"Retry-After": "3"},
    )
    locked = http_error(LoginLockedError(SECRET, retry_after=0.1))
    assert (locked.status, locked.error, locked.headers) == (
        429,
        "login_locked",
        {"Retry-After": "1"},
    )
    assert http_error(RateLimitExceeded("x", retry_after=math.inf)).headers == {}


def test_password_policy_message_is_shown() -> None:
    mapped = http_error(PasswordPolicyError("use at least 12 characters"))
    assert mapped == HTTPError(422, "weak_password", "use at least 12 characters", {})


def test_scheme_for_api_keys() -> None:
    mapped = http_error(MissingCredentialsError("x"), scheme="ApiKey")
    assert mapped.headers == {"WWW-Authenticate": "ApiKey"}
