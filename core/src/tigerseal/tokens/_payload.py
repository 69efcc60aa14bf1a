"""The verified claims of a token, with the seed's attribute access."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["TokenPair", "TokenPayload", "scopes_of"]


def scopes_of(claims: Mapping[str, Any]) -> list[str]:
    """Scopes from ``scope`` (RFC 8693: space-separated), ``scopes`` or ``scp`` (lists)."""
    for name in ("scope", "scopes", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list | tuple):
            return [str(v) for v in value]
    return []


class TokenPayload(Mapping[str, Any]):
    """Claims of a verified token.

    Attribute access for the registered claims (``payload.sub``, ``payload.scopes``,
    ``payload.exp``, ``payload.jti``...) and read-only mapping access to every claim
    (``payload["sub"]``, ``dict(payload)``), as the seed's code used both.

    Scopes are written as RFC 8693's space-separated ``scope`` claim; :attr:`scopes` also reads
    ``scopes`` and ``scp`` lists from tokens of other issuers.
    """

    __slots__ = ("_claims", "header")

    def __init__(self, claims: Mapping[str, Any], header: Mapping[str, Any] | None = None):
        self._claims = dict(claims)
        self.header: dict[str, Any] = dict(header or {})

    # -- mapping -------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Any:
        return self._claims[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._claims)

    def __len__(self) -> int:
        return len(self._claims)

    @property
    def claims(self) -> dict[str, Any]:
        """A copy of every claim."""
        return dict(self._claims)

    # -- registered claims ---------------------------------------------------------------------
    @property
    def sub(self) -> str | None:
        """Subject (user or client id)."""
        value = self._claims.get("sub")
        return None if value is None else str(value)

    @property
    def scopes(self) -> list[str]:
        """Granted scopes."""
        return scopes_of(self._claims)

    @property
    def exp(self) -> int | None:
        """Expiry, seconds since the epoch."""
        return _int(self._claims.get("exp"))

    @property
    def iat(self) -> int | None:
        """Issue time, seconds since the epoch."""
        return _int(self._claims.get("iat"))

    @property
    def nbf(self) -> int | None:
        """Not-before time, seconds since the epoch."""
        return _int(self._claims.get("nbf"))

    @property
    def jti(self) -> str | None:
        """Token id (what revocation records)."""
        value = self._claims.get("jti")
        return None if value is None else str(value)

    @property
    def iss(self) -> str | None:
        """Issuer."""
        value = self._claims.get("iss")
        return None if value is None else str(value)

    @property
    def aud(self) -> str | list[str] | None:
        """Audience (a string or a list, as issued)."""
        value = self._claims.get("aud")
        return value if value is None or isinstance(value, str | list) else str(value)

    @property
    def token_type(self) -> str:
        """``access`` or ``refresh`` (tokens of other issuers count as ``access``)."""
        return str(self._claims.get("token_type", "access"))

    @property
    def family(self) -> str | None:
        """Refresh-token family id (``fam``), shared by every token of one sign-in."""
        value = self._claims.get("fam")
        return None if value is None else str(value)

    @property
    def accounts(self) -> list[str]:
        """Account ids this token may act on (``accounts`` list or ``account_id``)."""
        value = self._claims.get("accounts")
        if isinstance(value, list | tuple):
            return [str(v) for v in value]
        single = self._claims.get("account_id")
        return [str(single)] if single is not None else []

    @property
    def expires_at(self) -> datetime | None:
        """Expiry as an aware UTC datetime."""
        exp = self.exp
        return None if exp is None else datetime.fromtimestamp(exp, UTC)

    def has_scopes(self, *required: str) -> bool:
        """Whether every scope in ``required`` was granted."""
        granted = set(self.scopes)
        return all(s in granted for s in required)

    def __repr__(self) -> str:
        return (
            f"TokenPayload(sub={self.sub!r}, scopes={self.scopes!r}, exp={self.exp!r}, "
            f"jti={self.jti!r}, type={self.token_type!r})"
        )


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
        return None


class TokenPair:
    """An access token and a refresh token, as an OAuth token response carries them.

    ``repr`` never shows the tokens.

    Attributes:
        access_token: the JWT for API calls.
        refresh_token: the JWT that buys the next pair (once).
        expires_in: access-token lifetime in seconds.
        token_type: ``"Bearer"``.
    """

    __slots__ = ("access_token", "expires_in", "refresh_token", "token_type")

    def __init__(self, access_token: str, refresh_token: str, expires_in: int) -> None:
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.expires_in = expires_in
        self.token_type = "Bearer"  # noqa: S105 - RFC 6750 token type, not a secret

    def to_dict(self) -> dict[str, Any]:
        """The RFC 6749 section 5.1 response body."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
        }

    def __repr__(self) -> str:
        return f"TokenPair(expires_in={self.expires_in}, tokens=<redacted>)"
