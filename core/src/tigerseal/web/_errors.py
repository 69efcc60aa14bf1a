"""tigerseal errors as HTTP responses: a status, a code and a message safe to show anyone.

The message of a tigerseal exception is written for the operator (it names settings, key ids,
providers); a client gets a fixed public text per error class instead, and the original stays
in the server's logs. Authentication failures carry an RFC 6750 ``WWW-Authenticate`` field;
rate-limit and lockout rejections a ``Retry-After``.

====================================  ======  ======================  ==========================
error                                 status  code                    extra fields
====================================  ======  ======================  ==========================
MissingCredentialsError               401     ``unauthorized``        challenge, no error code
TokenExpiredError                     401     ``invalid_token``       challenge
TokenRevokedError, other TokenError   401     ``invalid_token``       challenge
InsufficientScopeError                403     ``insufficient_scope``  challenge with the scopes
AccountAccessError                    403     ``forbidden``
InvalidCredentialsError               401     ``invalid_credentials`` challenge, no error code
LoginLockedError                      429     ``login_locked``        ``Retry-After``
RateLimitExceeded                     429     ``rate_limited``        ``Retry-After``
PasswordPolicyError                   422     ``weak_password``       (message is the policy's)
ProviderUnavailable                   503     ``unavailable``
any other TigerSealError              500     ``internal_error``
====================================  ======  ======================  ==========================
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tigerseal.errors import (
    AccountAccessError,
    InsufficientScopeError,
    InvalidCredentialsError,
    LoginLockedError,
    MissingCredentialsError,
    PasswordPolicyError,
    ProviderUnavailable,
    RateLimitExceeded,
    TokenError,
    TokenExpiredError,
    TokenRevokedError,
)
from tigerseal.web._challenge import bearer_challenge

__all__ = ["HTTPError", "http_error"]


@dataclass(frozen=True, slots=True)
class HTTPError:
    """An HTTP rendering of an error.

    Attributes:
        status: the status code.
        error: a stable machine-readable code.
        detail: a message safe to show to any client.
        headers: fields to send (``WWW-Authenticate``, ``Retry-After``).
    """

    status: int
    error: str
    detail: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, str]:
        """The JSON body: ``{"error": code, "detail": message}``."""
        return {"error": self.error, "detail": self.detail}


# (class, status, code, public message, challenge error code or "" for none, None: no challenge)
_TABLE: tuple[tuple[type[BaseException], int, str, str, str | None], ...] = (
    (MissingCredentialsError, 401, "unauthorized", "authentication required", ""),
    (TokenExpiredError, 401, "invalid_token", "the access token has expired", "invalid_token"),
    (
        TokenRevokedError,
        401,
        "invalid_token",
        "the access token has been revoked",
        "invalid_token",
    ),
    (
        InsufficientScopeError,
        403,
        "insufficient_scope",
        "the access token lacks a required scope",
        "insufficient_scope",
    ),
    (
        AccountAccessError,
        403,
        "forbidden",
        "the credentials do not grant access to this account",
        None,
    ),
    (TokenError, 401, "invalid_token", "the access token is not valid", "invalid_token"),
    (
        InvalidCredentialsError,
        401,
        "invalid_credentials",
        "the username or password is wrong",
        "",
    ),
    (
        LoginLockedError,
        429,
        "login_locked",
        "too many failed sign-in attempts; try again later",
        None,
    ),
    (RateLimitExceeded, 429, "rate_limited", "too many requests; try again later", None),
    (PasswordPolicyError, 422, "weak_password", "", None),
    (ProviderUnavailable, 503, "unavailable", "a service is temporarily unavailable", None),
)


def _retry_after(exc: BaseException) -> str | None:
    wait = getattr(exc, "retry_after", None)
    if not isinstance(wait, int | float) or math.isnan(wait):
        return None
    if math.isinf(wait):
        return None
    return str(max(1, math.ceil(wait - 1e-9)))


def http_error(
    exc: BaseException,
    *,
    realm: str | None = None,
    scopes: Iterable[str] | None = None,
    scheme: str = "Bearer",
) -> HTTPError:
    """The HTTP response for ``exc`` (see the module's table).

    Args:
        exc: any exception; one that is no tigerseal error maps to 500 ``internal_error``.
        realm: the ``realm`` of the ``WWW-Authenticate`` challenge.
        scopes: the scopes the endpoint requires (sent with ``insufficient_scope``).
        scheme: the challenge's auth-scheme (``Bearer``, or e.g. ``ApiKey``).

    Returns:
        Status, code, public message and headers. The message never includes the
        exception's own text, except for :class:`PasswordPolicyError`, whose text lists the
        policy rules the password failed and never quotes it.
    """
    row = next((r for r in _TABLE if isinstance(exc, r[0])), None)
    if row is None:
        return HTTPError(500, "internal_error", "internal server error")
    cls, status, code, message, challenge_error = row
    headers: dict[str, str] = {}
    if challenge_error is not None:
        headers["WWW-Authenticate"] = bearer_challenge(
            realm=realm,
            error=challenge_error or None,
            scope=scopes if challenge_error == "insufficient_scope" and scopes else None,
            scheme=scheme,
        )
    if status == 429:
        retry = _retry_after(exc)
        if retry is not None:
            headers["Retry-After"] = retry
    if cls is PasswordPolicyError:
        message = str(exc)
    return HTTPError(status, code, message, headers)
