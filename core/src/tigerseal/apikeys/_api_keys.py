"""Generate, hash and verify API keys; the stored record with expiry and scopes.

Only a hash of a key is stored. API keys are 178-bit random strings, so a fast hash is enough
(no password-hashing cost is needed against guessing): SHA-256 by default, written as 64 hex
characters (the seed's format), or HMAC-SHA256 under a pepper held by a key provider,
written ``hmac-sha256$<pepper id>$<hex>``, which makes a stolen table useless on its own.
Verification compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tigerseal.apikeys._format import (
    _PREFIX,
    check_prefix,
    make_api_key,
    mask_api_key,
    parse_api_key,
)
from tigerseal.errors import (
    InsufficientScopeError,
    TokenError,
    TokenExpiredError,
    TokenInvalidError,
)

if TYPE_CHECKING:
    from tigerseal.passwords._pepper import PepperKeyring

__all__ = [
    "APIKeyRecord",
    "api_key_id",
    "generate_api_key",
    "hash_api_key",
    "verify_api_key",
]

_HMAC_HASH = re.compile(r"^hmac-sha256\$([A-Za-z0-9._-]{1,32})\$([0-9a-f]{64})$")
_SHA_HASH = re.compile(r"^[0-9a-f]{64}$")


def hash_api_key(key: str, *, pepper: PepperKeyring | None = None) -> str:
    """The stored form of a key: SHA-256 hex, or peppered ``hmac-sha256$<id>$<hex>``."""
    data = key.encode("utf-8")
    if pepper is None:
        return hashlib.sha256(data).hexdigest()
    return f"hmac-sha256${pepper.current}${pepper.mac(data).hex()}"


def generate_api_key(prefix: str = "tk", *, pepper: PepperKeyring | None = None) -> tuple[str, str]:
    """Create a key; show the first value to the user once and store only the second.

    Args:
        prefix: 1-16 lowercase letters or digits (``tk_...``).
        pepper: hash with HMAC under this pepper instead of plain SHA-256.

    Returns:
        ``(api_key, key_hash)``.
    """
    key = make_api_key(prefix)
    return key, hash_api_key(key, pepper=pepper)


def verify_api_key(key: str, key_hash: str, *, pepper: PepperKeyring | None = None) -> bool:
    """Whether ``key`` matches a stored hash (constant-time; typos fail on the checksum first).

    Raises:
        TokenError: the stored hash is peppered and no (or not that) pepper is given.
    """
    try:
        parse_api_key(key)
    except TokenInvalidError:
        return False
    data = key.strip().encode("utf-8")
    m = _HMAC_HASH.match(key_hash)
    if m:
        if pepper is None or not pepper.has(m[1]):
            raise TokenError(
                f"the stored API key hash uses pepper {m[1]!r}, which is not configured"
            )
        expected = pepper.mac(data, m[1]).hex()
        return hmac.compare_digest(expected, m[2])
    if not _SHA_HASH.match(key_hash):
        raise TokenError("the stored API key hash is malformed (expected 64 hex characters)")
    return hmac.compare_digest(hashlib.sha256(data).hexdigest(), key_hash)


def api_key_id(key: str) -> str:
    """A short id to show in UIs and logs (``tk_4f1c2a9be03d``), derived from the key.

    Twelve hex characters of a domain-separated SHA-256: stable, unique in practice, and
    unrelated to the stored hash, so publishing it helps no attacker.
    """
    parsed = parse_api_key(key)
    digest = hashlib.sha256(b"tigerseal/api-key-id/v1\x00" + key.strip().encode()).hexdigest()
    return f"{parsed.prefix}_{digest[:12]}"


@dataclass(frozen=True)
class APIKeyRecord:
    """What a service stores about an API key (never the key itself).

    Attributes:
        key_id: short public id (:func:`api_key_id`).
        key_hash: SHA-256 hex or peppered HMAC (:func:`hash_api_key`).
        prefix: the key's prefix.
        scopes: what the key may do.
        name: a label chosen by the owner.
        created_at: epoch seconds.
        expires_at: epoch seconds, or ``None`` for no expiry.
        display: masked form for UIs (``tk_…Xy3N``).
        metadata: free-form non-secret data (owner id, account ids...).
    """

    key_id: str
    key_hash: str = field(repr=False)
    prefix: str = "tk"
    scopes: tuple[str, ...] = ()
    name: str = ""
    created_at: float = field(default_factory=time.time)
    expires_at: float | None = None
    display: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Records come back from databases and documents: a wrong type must fail here, with
        # the field named, rather than as a wrong answer later ("admin" as five scopes).
        _check_str("key_id", self.key_id, empty=False)
        if not isinstance(self.key_hash, str) or not (
            _SHA_HASH.fullmatch(self.key_hash) or _HMAC_HASH.fullmatch(self.key_hash)
        ):
            raise TokenError(
                "API key record: key_hash must be 64 lowercase hex characters or "
                "'hmac-sha256$<pepper id>$<64 hex>' (the output of hash_api_key)"
            )
        if not isinstance(self.prefix, str) or not _PREFIX.fullmatch(self.prefix):
            raise TokenError(
                "API key record: prefix must be 1-16 lowercase letters or digits starting with "
                f"a letter, got {_kind(self.prefix)}"
            )
        object.__setattr__(self, "scopes", _scopes(self.scopes))
        _check_str("name", self.name)
        object.__setattr__(self, "created_at", _seconds("created_at", self.created_at))
        if self.expires_at is not None:
            object.__setattr__(self, "expires_at", _seconds("expires_at", self.expires_at))
        _check_str("display", self.display)
        if not isinstance(self.metadata, Mapping):
            raise TokenError(
                f"API key record: metadata must be a mapping (a JSON object), got "
                f"{_kind(self.metadata)}"
            )
        if not all(isinstance(k, str) for k in self.metadata):
            raise TokenError("API key record: metadata keys must be strings")

    @classmethod
    def create(
        cls,
        prefix: str = "tk",
        *,
        scopes: Iterable[str] = (),
        expires_in: float | timedelta | None = None,
        name: str = "",
        metadata: Mapping[str, Any] | None = None,
        pepper: PepperKeyring | None = None,
        now: float | None = None,
    ) -> tuple[str, APIKeyRecord]:
        """Generate a key and its record.

        Returns:
            ``(api_key, record)``: give the key to its owner once; store the record.
        """
        check_prefix(prefix)
        created = time.time() if now is None else now
        expires_at = None
        if expires_in is not None:
            seconds = (
                expires_in.total_seconds() if isinstance(expires_in, timedelta) else expires_in
            )
            if seconds <= 0:
                raise TokenError(f"expires_in must be positive, got {seconds}")
            try:
                expires_at = created + seconds
            except OverflowError:  # an int beyond a float's range
                raise TokenError(
                    "expires_in is too large: give a number of seconds a float can hold"
                ) from None
        key, key_hash = generate_api_key(prefix, pepper=pepper)
        record = cls(
            key_id=api_key_id(key),
            key_hash=key_hash,
            prefix=prefix,
            scopes=_scopes(scopes),
            name=name,
            created_at=created,
            expires_at=expires_at,
            display=mask_api_key(key),
            metadata=dict(metadata or {}),
        )
        return key, record

    def is_expired(self, now: float | None = None) -> bool:
        """Whether the key has expired."""
        at = time.time() if now is None else now
        return self.expires_at is not None and at >= self.expires_at

    def has_scopes(self, *required: str) -> bool:
        """Whether every scope in ``required`` is granted."""
        return all(s in self.scopes for s in required)

    def matches(self, key: str, *, pepper: PepperKeyring | None = None) -> bool:
        """Whether ``key`` is this record's key (ignores expiry and scopes)."""
        return verify_api_key(key, self.key_hash, pepper=pepper)

    def check(
        self,
        key: str,
        *,
        required_scopes: Iterable[str] | str = (),
        pepper: PepperKeyring | None = None,
        now: float | None = None,
    ) -> APIKeyRecord:
        """Authenticate ``key`` against this record and authorise ``required_scopes``.

        ``required_scopes`` is a scope or scopes: a bare string is one scope, never its letters.

        Returns:
            The record itself, for chaining.

        Raises:
            TokenInvalidError: the key does not match (or is malformed).
            TokenExpiredError: the key has expired.
            InsufficientScopeError: a required scope is not granted.
        """
        if not self.matches(key, pepper=pepper):
            raise TokenInvalidError("the API key is not valid")
        if self.is_expired(now):
            raise TokenExpiredError("the API key has expired; create a new one")
        # A bare string is one scope (as in validate_token_scopes), not its letters.
        required = [required_scopes] if isinstance(required_scopes, str) else required_scopes
        missing = [s for s in required if s not in self.scopes]
        if missing:
            raise InsufficientScopeError(f"the API key lacks scope(s) {', '.join(missing)}")
        return self

    def verify(
        self, key: str, *, pepper: PepperKeyring | None = None, now: float | None = None
    ) -> bool:
        """Whether ``key`` matches and has not expired."""
        return self.matches(key, pepper=pepper) and not self.is_expired(now)

    def with_scopes(self, scopes: Iterable[str]) -> APIKeyRecord:
        """A copy with other scopes."""
        return replace(self, scopes=_scopes(scopes))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (for a database row or document)."""
        return {
            "key_id": self.key_id,
            "key_hash": self.key_hash,
            "prefix": self.prefix,
            "scopes": list(self.scopes),
            "name": self.name,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "display": self.display,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> APIKeyRecord:
        """Rebuild a record from :meth:`to_dict` output.

        Unknown entries (extra database columns) are ignored.

        Raises:
            TokenError: ``data`` is not a mapping, ``key_id`` or ``key_hash`` is missing, or a
                field has the wrong type or form (the message names the field, never the hash).
        """
        if not isinstance(data, Mapping):
            raise TokenError(f"an API key record must be a mapping, got {_kind(data)}")
        for required in ("key_id", "key_hash"):
            if required not in data:
                raise TokenError(f"API key record: missing {required}")
        expires_at = data.get("expires_at")
        return cls(
            key_id=data["key_id"],
            key_hash=data["key_hash"],
            prefix=data.get("prefix", "tk"),
            scopes=data.get("scopes", ()),
            name=data.get("name", ""),
            created_at=data.get("created_at", 0.0),
            expires_at=expires_at,
            display=data.get("display", ""),
            metadata=data.get("metadata", {}),
        )


def _kind(value: object) -> str:
    """The type of a bad value, for messages (never the value: it may be a secret)."""
    return "a string" if isinstance(value, str) else f"a {type(value).__name__}"


def _check_str(name: str, value: object, *, empty: bool = True) -> None:
    if not isinstance(value, str) or (not empty and not value):
        what = "a string" if empty else "a non-empty string"
        raise TokenError(f"API key record: {name} must be {what}, got {_kind(value)}")


def _scopes(value: object) -> tuple[str, ...]:
    """``value`` as a tuple of scope strings; a bare string is refused, not split."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TokenError(
            f"API key record: scopes must be a list of strings (e.g. ['read']), got {_kind(value)}"
        )
    scopes = tuple(value)
    for i, scope in enumerate(scopes):
        if not isinstance(scope, str):
            raise TokenError(f"API key record: scopes[{i}] must be a string, got {_kind(scope)}")
    return scopes


def _seconds(name: str, value: object) -> float:
    """Epoch seconds: an int, float or Decimal (not a bool, not a date string), finite."""
    # Decimal: what database drivers return for a NUMERIC column.
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        null = " or null" if name == "expires_at" else ""
        raise TokenError(
            f"API key record: {name} must be a number{null} (epoch seconds), got {_kind(value)}"
        )
    try:
        seconds = float(value)
    except (OverflowError, ValueError):
        # An int beyond a float's range (JSON allows 1 followed by 400 zeros); a signalling NaN.
        seconds = math.inf
    if not math.isfinite(seconds):
        raise TokenError(f"API key record: {name} must be a finite number of epoch seconds")
    return seconds
