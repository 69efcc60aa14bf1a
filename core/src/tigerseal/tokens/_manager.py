"""Issue and verify JWTs: claims, key binding, revocation, refresh rotation with reuse detection.

Tokens are JWS compact serialisations (RFC 7515) signed with PyJWT's algorithm
implementations. The compact form is assembled here rather than through ``jwt.encode`` for
three reasons: the header of each key is serialised once and reused, a token is parsed once
(PyJWT would parse the header twice to find the ``kid``), and keys held in a KMS or HSM
(:class:`~tigerseal.spi.TokenSigner`) sign through the same path.

Verification order: size and shape, header (``crit`` and ``b64`` refused), key by ``kid`` with
the header's ``alg`` required to equal the key's, signature, then claims (``exp``/``nbf``/
``iat`` with leeway, ``iss``, ``aud``, required claims, token type), then the revocation store
(``jti`` and refresh family), then scopes.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from tigerseal.errors import (
    AccountAccessError,
    InsufficientScopeError,
    TokenError,
    TokenExpiredError,
    TokenInvalidError,
    TokenReuseError,
    TokenRevokedError,
)
from tigerseal.spi.services import RevocationStore
from tigerseal.tokens._payload import TokenPair, TokenPayload, scopes_of
from tigerseal.tokens._signing_keys import JWTKey, KeySet

__all__ = [
    "MAX_LIFETIME",
    "MAX_NUMERIC_DATE",
    "MAX_TOKEN_LENGTH",
    "REGISTERED_CLAIMS",
    "TokenManager",
    "validate_account_access",
    "validate_token_scopes",
]

#: Longer tokens are refused before any parsing (a bearer token has no reason to be larger).
MAX_TOKEN_LENGTH = 16 * 1024
#: Claims tigerseal sets or reads itself; ``create(**claims)`` may not set them. ``scp`` and
#: ``scopes`` are included because :attr:`TokenPayload.scopes` reads them when ``scope`` is
#: absent: an extra claim ``scp=["admin"]`` would otherwise grant a scope.
REGISTERED_CLAIMS = frozenset(
    {
        "sub",
        "exp",
        "iat",
        "nbf",
        "jti",
        "iss",
        "aud",
        "scope",
        "scopes",
        "scp",
        "token_type",
        "fam",
    }
)
#: NumericDate claims must be integers in [0, this] (9999-12-31T23:59:59Z): a float could be
#: NaN (never expires) or infinite, and a fractional expiry outlives a revocation keyed to its
#: integer part. Every mainstream issuer writes integers.
MAX_NUMERIC_DATE = 253_402_300_799
#: The largest token lifetime accepted (10 years), so ``iat + lifetime`` stays a NumericDate.
MAX_LIFETIME = 10 * 366 * 24 * 3600
_B64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64url_decode(segment: bytes) -> bytes:
    if not _B64_CHARS.issuperset(segment):
        raise TokenInvalidError("the token is not base64url-encoded JWS compact serialisation")
    try:
        data = base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise TokenInvalidError("the token is malformed (bad base64url)") from None
    # Refuse non-canonical encodings (stray trailing bits): one token, one spelling.
    if _b64url(data) != segment:
        raise TokenInvalidError("the token is malformed (non-canonical base64url)")
    return data


def _seconds(value: int | float | timedelta) -> int:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 1 <= value <= MAX_LIFETIME
    ):
        raise TokenError(
            f"a token lifetime must be a positive number of seconds, at most {MAX_LIFETIME} "
            f"(10 years), got {value!r}"
        )
    return int(value)


def _leeway(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 86_400
    ):
        raise TokenError(
            f"the clock-skew leeway must be a number of seconds from 0 to 86400, got {value!r}"
        )
    return float(value)


def _numeric_date(claims: Mapping[str, Any], name: str) -> int | None:
    """The claim ``name`` as an integer NumericDate, ``None`` if absent; anything else raises.

    ``null`` is not absent: ``{"exp": null}`` would otherwise be a token that never expires.
    """
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TokenInvalidError(
            f"the token's {name!r} claim is not an integer NumericDate (seconds since the "
            "epoch); non-integer, non-finite and non-numeric dates are refused"
        )
    if not 0 <= value <= MAX_NUMERIC_DATE:
        raise TokenInvalidError(f"the token's {name!r} claim is out of range")
    return value


def _check_ids(claims: Mapping[str, Any]) -> None:
    """``jti`` and ``fam``, when present, must be non-empty strings: revocation is keyed on them.

    Every revocation store refuses an empty id (such a token could not be revoked), and
    ``str()`` would make ``5`` and ``"5"`` the same id.
    """
    for name in ("jti", "fam"):
        value = claims.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            raise TokenInvalidError(f"the token's {name!r} claim is not a non-empty string")


class TokenManager:
    """Creates and verifies tokens for one service.

    Args:
        keys: the key set (its current key signs; all of its keys verify).
        issuer: ``iss`` written into tokens and required on verification (``None``: neither).
        audience: ``aud`` written and required by default (``None``: tokens carrying an
            ``aud`` are refused unless ``verify(audience=...)`` names it).
        access_token_expire: default access-token lifetime in seconds.
        refresh_token_expire: refresh-token lifetime in seconds.
        leeway: clock skew tolerated on ``exp``, ``nbf`` and ``iat``, in seconds.
        revocation: store of revoked ids and used refresh tokens (``None``: no revocation,
            and refresh rotation is unavailable).
        required_claims: claims a token must carry to verify.
        clock: time source (tests).

    Raises:
        TokenError: a lifetime is not 1 s to 10 years, or ``leeway`` is not a finite number
            of seconds from 0 to 86,400.
    """

    def __init__(
        self,
        keys: KeySet,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        access_token_expire: int = 3600,
        refresh_token_expire: int = 14 * 24 * 3600,
        leeway: float = 30.0,
        revocation: RevocationStore | None = None,
        required_claims: Iterable[str] = ("exp", "iat", "sub", "jti"),
        clock: Any = time.time,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.access_token_expire = _seconds(access_token_expire)
        self.refresh_token_expire = _seconds(refresh_token_expire)
        self.leeway = _leeway(leeway)
        self.revocation = revocation
        self.required_claims = tuple(required_claims)
        self._clock = clock
        self._headers: dict[tuple[str, str], bytes] = {}

    # -- encoding ------------------------------------------------------------------------------
    def _header_b64(self, key: JWTKey) -> bytes:
        cached = self._headers.get((key.kid, key.algorithm))
        if cached is None:
            header = {"alg": key.algorithm, "kid": key.kid, "typ": "JWT"}
            cached = _b64url(json.dumps(header, separators=(",", ":")).encode("utf-8"))
            self._headers[(key.kid, key.algorithm)] = cached
        return cached

    def encode(self, claims: Mapping[str, Any], *, key: JWTKey | None = None) -> str:
        """Sign arbitrary claims with the current key (no claim is added or checked)."""
        signer = key or self.keys.current
        payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False, default=str)
        signing_input = self._header_b64(signer) + b"." + _b64url(payload.encode("utf-8"))
        signature = signer.sign(signing_input)
        return (signing_input + b"." + _b64url(signature)).decode("ascii")

    def create(
        self,
        subject: str,
        scopes: Iterable[str] = (),
        expires_in: int | float | timedelta | None = None,
        *,
        audience: str | Sequence[str] | None = None,
        not_before: float | None = None,
        token_type: str = "access",  # noqa: S107 - not a password
        family: str | None = None,
        now: float | None = None,
        **claims: Any,
    ) -> str:
        """Create a signed token.

        Args:
            subject: the ``sub`` claim (user or client id).
            scopes: granted scopes (written as the space-separated ``scope`` claim).
            expires_in: lifetime in seconds (default: ``access_token_expire``).
            audience: ``aud`` (default: the manager's audience).
            not_before: ``nbf`` as epoch seconds, if the token must not be used before then.
            token_type: ``access`` (or ``refresh``, used by :meth:`create_pair`).
            family: refresh-family id (``fam``) tying the token to one sign-in.
            now: issue time (tests).
            **claims: further claims, e.g. ``accounts=["12345"]``. Do not spread an untrusted
                mapping here: Python binds a key named like one of this method's arguments
                (``scopes``, ``audience``, ``token_type``, ``family``, ``now``...) to that
                argument, not to a claim, so it would set the token's scopes, audience or type.

        Returns:
            The compact JWT.

        Raises:
            TokenError: a scope contains whitespace, a registered claim is passed in
                ``claims``, or the lifetime is not positive.
        """
        clash = REGISTERED_CLAIMS.intersection(claims)
        if clash:
            raise TokenError(
                f"claim(s) {', '.join(sorted(clash))} are set by tigerseal; use the "
                "subject/scopes/expires_in/audience arguments instead"
            )
        scope_list = [scopes] if isinstance(scopes, str) else list(scopes)
        for scope in scope_list:
            if not isinstance(scope, str) or not scope or any(c.isspace() for c in scope):
                raise TokenError(f"scope {scope!r} must be a non-empty string without spaces")
        issued = int(self._clock() if now is None else now)
        lifetime = self.access_token_expire if expires_in is None else _seconds(expires_in)
        body: dict[str, Any] = {"sub": str(subject), "iat": issued, "exp": issued + lifetime}
        if not_before is not None:
            if not isinstance(not_before, int | float) or not math.isfinite(not_before):
                raise TokenError(f"not_before must be a finite epoch time, got {not_before!r}")
            body["nbf"] = int(not_before)
        body["jti"] = secrets.token_urlsafe(16)
        if self.issuer is not None:
            body["iss"] = self.issuer
        aud = self.audience if audience is None else audience
        if aud is not None:
            body["aud"] = aud if isinstance(aud, str) else list(aud)
        if scope_list:
            body["scope"] = " ".join(scope_list)
        body["token_type"] = token_type
        if family is not None:
            if not isinstance(family, str) or not family:
                raise TokenError("family must be a non-empty string (a refresh-family id)")
            body["fam"] = family
        body.update(claims)
        return self.encode(body)

    # -- decoding ------------------------------------------------------------------------------
    def decode(self, token: str | bytes) -> TokenPayload:
        """Check the signature and key binding only; no claim is checked (use :meth:`verify`).

        Raises:
            TokenInvalidError: malformed, unknown key, algorithm not the key's, bad signature.
        """
        header, payload = self._verified_parts(token)
        claims = self._json_object(payload, "payload")
        return TokenPayload(claims, header)

    def _verified_parts(self, token: str | bytes) -> tuple[dict[str, Any], bytes]:
        """The header and raw payload of a compact JWS whose signature verifies (any payload)."""
        raw = token.encode("ascii", "replace") if isinstance(token, str) else token
        if not isinstance(raw, bytes):
            raise TokenInvalidError(f"a token must be str or bytes, not {type(token).__name__}")
        if len(raw) > MAX_TOKEN_LENGTH:
            raise TokenInvalidError(f"the token is longer than {MAX_TOKEN_LENGTH} bytes")
        parts = raw.split(b".")
        if len(parts) != 3:
            raise TokenInvalidError("the token is not a JWS compact serialisation (3 parts)")
        header_b64, payload_b64, signature_b64 = parts
        header = self._json_object(_b64url_decode(header_b64), "header")
        if "crit" in header or "b64" in header:
            raise TokenInvalidError("the token uses JWS extensions (crit/b64) not supported here")
        key = self.keys.select(header.get("kid"), header.get("alg"))
        signature = _b64url_decode(signature_b64)
        if not key.verify(header_b64 + b"." + payload_b64, signature):
            raise TokenInvalidError("the token signature does not verify")
        return header, _b64url_decode(payload_b64)

    @staticmethod
    def _json_object(data: bytes, what: str) -> dict[str, Any]:
        try:
            value = json.loads(data)
        except (ValueError, RecursionError):
            raise TokenInvalidError(f"the token {what} is not JSON") from None
        if not isinstance(value, dict):
            raise TokenInvalidError(f"the token {what} is not a JSON object")
        return value

    def verify(
        self,
        token: str | bytes,
        *,
        required_scopes: Iterable[str] = (),
        audience: str | None = None,
        token_type: str = "access",  # noqa: S107 - not a password
        now: float | None = None,
        check_revocation: bool = True,
    ) -> TokenPayload:
        """Verify a token and return its claims.

        Args:
            token: the compact JWT.
            required_scopes: scopes the token must grant (all of them).
            audience: the audience this service expects (default: the manager's).
            token_type: ``access`` (default) or ``refresh``.
            now: the current time (tests).
            check_revocation: consult the revocation store (default true).

        Raises:
            TokenExpiredError: ``exp`` has passed (beyond the leeway).
            TokenInvalidError: malformed, forged, wrong key or algorithm, wrong issuer,
                audience or token type, not yet valid, or a required claim missing.
            TokenRevokedError: its ``jti`` or its refresh family is revoked.
            InsufficientScopeError: a required scope is missing.
        """
        payload = self.decode(token)
        self._check_claims(payload, audience, token_type, self._clock() if now is None else now)
        if check_revocation:
            self.check_revocation(payload)
        if required_scopes:
            validate_token_scopes(payload, required_scopes)
        return payload

    def check_revocation(self, payload: TokenPayload) -> None:
        """Consult the revocation store for a verified token (its ``jti`` and refresh family).

        Raises:
            TokenRevokedError: the token or its sign-in has been revoked.
        """
        store = self.revocation
        if store is None:
            return
        jti = payload.jti
        if jti is not None and store.is_revoked(jti):
            raise TokenRevokedError("the token has been revoked; sign in again")
        fam = payload.family
        if fam is not None and store.is_family_revoked(fam):
            raise TokenRevokedError("the token's sign-in has been revoked; sign in again")

    def _check_claims(
        self, payload: TokenPayload, audience: str | None, token_type: str, now: float
    ) -> None:
        claims = payload
        for name in self.required_claims:
            # null counts as missing: {"jti": null} would pass yet never be revocable.
            if claims.get(name) is None:
                raise TokenInvalidError(f"the token lacks the required claim {name!r}")
        exp, nbf, iat = (_numeric_date(claims, n) for n in ("exp", "nbf", "iat"))
        if exp is not None and exp <= now - self.leeway:
            raise TokenExpiredError("the token has expired; obtain a new one")
        if nbf is not None and nbf > now + self.leeway:
            raise TokenInvalidError("the token is not valid yet (nbf is in the future)")
        if iat is not None and iat > now + self.leeway:
            raise TokenInvalidError("the token was issued in the future (iat); check clocks")
        _check_ids(claims)
        sub = claims.get("sub")
        if sub is not None and not isinstance(sub, str):
            raise TokenInvalidError("the token's 'sub' claim is not a string")
        if self.issuer is not None and claims.get("iss") != self.issuer:
            raise TokenInvalidError("the token was issued by another issuer (iss)")
        expected = self.audience if audience is None else audience
        aud = claims.get("aud")
        if aud is not None or expected is not None:
            auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            if expected is None:
                raise TokenInvalidError("the token is meant for a specific audience (aud)")
            if expected not in auds:
                raise TokenInvalidError("the token is meant for another audience (aud)")
        if payload.token_type != token_type:
            raise TokenInvalidError(
                f"expected a {token_type} token, got a {payload.token_type[:16]!r} token"
            )

    # -- refresh tokens ------------------------------------------------------------------------
    def create_pair(
        self,
        subject: str,
        scopes: Iterable[str] = (),
        *,
        family: str | None = None,
        now: float | None = None,
        **claims: Any,
    ) -> TokenPair:
        """An access token and a refresh token of one refresh family (one sign-in).

        Raises:
            TokenError: no revocation store is configured (rotation needs one).
        """
        if self.revocation is None:
            raise TokenError(
                "refresh tokens need a revocation store to detect reuse; configure "
                "TIGERSEAL_REVOCATION_STORE (memory:// or redis://)"
            )
        scope_list = [scopes] if isinstance(scopes, str) else list(scopes)
        fam = family or secrets.token_urlsafe(16)
        access = self.create(subject, scope_list, now=now, family=fam, **claims)
        refresh = self.create(
            subject,
            scope_list,
            self.refresh_token_expire,
            token_type="refresh",  # noqa: S106 - not a password
            family=fam,
            now=now,
            **claims,
        )
        return TokenPair(access, refresh, self.access_token_expire)

    def refresh(self, refresh_token: str, *, now: float | None = None) -> TokenPair:
        """Exchange a refresh token for a new pair; each refresh token works once.

        A refresh token presented a second time means it was copied: the whole family (every
        token of that sign-in, including the legitimate holder's newest) is revoked.

        Raises:
            TokenReuseError: the refresh token was already used (family now revoked).
            TokenRevokedError, TokenExpiredError, TokenInvalidError: as :meth:`verify`.
        """
        if self.revocation is None:
            raise TokenError(
                "refresh rotation needs a revocation store (TIGERSEAL_REVOCATION_STORE)"
            )
        at = self._clock() if now is None else now
        payload = self.verify(refresh_token, token_type="refresh", now=at)  # noqa: S106
        fam, jti, exp = payload.family, payload.jti, payload.exp
        if fam is None or jti is None or exp is None:
            raise TokenInvalidError("the refresh token lacks its family, id or expiry")
        if not self.revocation.mark_used(jti, math.ceil(exp + self.leeway)):
            # Every token of the family expires by now + refresh lifetime.
            until = math.ceil(at + self.refresh_token_expire + self.leeway)
            self.revocation.revoke_family(fam, until)
            raise TokenReuseError(
                "this refresh token was already used; every token of its sign-in has been "
                "revoked. Sign in again"
            )
        extra = {k: v for k, v in payload.items() if k not in REGISTERED_CLAIMS}
        return self.create_pair(payload.sub or "", payload.scopes, family=fam, now=at, **extra)

    def revoke(self, token: str | TokenPayload, *, family: bool = False) -> None:
        """Revoke one token by its ``jti`` (and its whole refresh family if ``family``).

        A token given as a string must verify (signature and key), so nobody can fill the
        store with made-up ids; expired tokens need no revocation and are ignored.
        """
        if self.revocation is None:
            raise TokenError("no revocation store is configured (TIGERSEAL_REVOCATION_STORE)")
        payload = self.decode(token) if not isinstance(token, TokenPayload) else token
        _check_ids(payload)
        exp = _numeric_date(payload, "exp")
        if exp is not None and exp + self.leeway <= self._clock():
            return
        if payload.jti is not None:
            # Kept until verify would refuse the token as expired anyway (whole seconds, so a
            # store with second-granularity TTLs does not drop it early). A token without
            # exp (a manager not requiring it) never expires, so neither does its revocation.
            until = MAX_NUMERIC_DATE if exp is None else exp
            self.revocation.revoke(payload.jti, math.ceil(until + self.leeway))
        if family and payload.family is not None:
            until = math.ceil(self._clock() + self.refresh_token_expire + self.leeway)
            self.revocation.revoke_family(payload.family, until)

    def jwks(self) -> dict[str, Any]:
        """The public keys for ``/.well-known/jwks.json``."""
        return self.keys.jwks()

    def __repr__(self) -> str:
        return f"<TokenManager keys={self.keys!r} iss={self.issuer!r} aud={self.audience!r}>"


# -- scope and account checks ----------------------------------------------------------------------
def _claims_of(payload: TokenPayload | Mapping[str, Any]) -> TokenPayload:
    return payload if isinstance(payload, TokenPayload) else TokenPayload(payload)


def validate_token_scopes(
    payload: TokenPayload | Mapping[str, Any],
    required_scopes: Iterable[str] | str,
    *,
    require_all: bool = True,
) -> bool:
    """Check a verified token grants the required scopes.

    Args:
        payload: verified claims (:class:`TokenPayload` or a mapping).
        required_scopes: a scope or scopes.
        require_all: all of them (default) or at least one.

    Returns:
        ``True`` (failures raise).

    Raises:
        InsufficientScopeError: names the missing scopes.
    """
    required = [required_scopes] if isinstance(required_scopes, str) else list(required_scopes)
    granted = set(scopes_of(_claims_of(payload)))
    missing = [s for s in required if s not in granted]
    if not required or (not missing if require_all else len(missing) < len(required)):
        return True
    need = "all of" if require_all else "one of"
    raise InsufficientScopeError(
        f"the token lacks the required scope(s) {', '.join(missing)} ({need} "
        f"{', '.join(required)} needed)"
    )


def validate_account_access(
    payload: TokenPayload | Mapping[str, Any],
    account_id: str | int,
    *,
    admin_scope: str | None = None,
) -> bool:
    """Check a verified token may act on ``account_id``.

    Access is granted when the account is in the token's ``accounts`` list (or equals its
    ``account_id`` claim), or when ``admin_scope`` is given and granted.

    Returns:
        ``True`` (failures raise).

    Raises:
        AccountAccessError: the token does not cover the account.
    """
    claims = _claims_of(payload)
    if str(account_id) in claims.accounts:
        return True
    if admin_scope is not None and admin_scope in claims.scopes:
        return True
    raise AccountAccessError(
        "the token does not grant access to this account; request a token that lists it in "
        "'accounts'"
    )
