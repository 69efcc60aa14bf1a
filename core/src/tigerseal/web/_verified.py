"""Bearer tokens already verified, so a repeat skips the signature check.

A client sends the same access token on every request; checking its signature, decoding and
parsing it again each time was most of what a bearer check cost (about 100 us against 1-2 us
for a hit). One implementation, used by ``tigerseal_fastapi.BearerAuth`` and by
:func:`tigerseal.web.verify_bearer_request` (Django, Flask).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tigerseal.errors import ConfigError, TokenError

if TYPE_CHECKING:
    from tigerseal.tokens import TokenManager, TokenPayload

__all__ = ["DEFAULT_CACHE_SIZE", "VerifiedTokens", "check_scopes"]

#: Tokens remembered by default (a few MiB at most: one payload per entry).
DEFAULT_CACHE_SIZE = 4096


class VerifiedTokens:
    """Tokens whose signature and claims verified, each bound to what verified it.

    An entry is reused only while, at each lookup: the manager is the same object, the
    audience asked for is the same, the manager's key set still maps the token's ``kid``/``alg``
    to the very key that verified it (a key removed, replaced or refreshed from JWKS is a miss),
    and ``exp`` has not passed on the manager's clock (with its leeway). The key is the exact
    token text (tigerseal refuses non-canonical base64url, so one token has one spelling).
    Revocation and scopes are not cached: the caller checks them on every request. Only
    verified tokens are stored, so a client cannot fill it without tokens the issuer signed; at
    most ``size`` of them, the oldest dropped first in constant time.

    A manager's ``issuer``, ``audience`` or ``required_claims`` changed in place after a token
    was cached are not noticed: install a new manager instead (that is a miss).

    Thread-safe (Django and Flask workers share one).

    Args:
        size: most tokens remembered; ``0`` remembers none.
    """

    __slots__ = ("_entries", "_lock", "size")

    def __init__(self, size: int = DEFAULT_CACHE_SIZE) -> None:
        if size.__class__ is not int or size < 0:
            raise ConfigError(
                f"the verified-token cache size must be a whole number >= 0, got {size!r}"
            )
        self.size = size
        # OrderedDict, not dict: dropping the oldest of a dict (next(iter(d))) walks the holes
        # left by earlier deletions, 30 us per insert at 4,096 entries and 250 us at 65,536.
        self._entries: OrderedDict[str, tuple[Any, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(
        self, token: str, manager: TokenManager, audience: str | None = None
    ) -> TokenPayload | None:
        """The payload of a token verified before, still valid under ``manager``; or ``None``."""
        hit = self.lookup(token, manager, audience)
        return None if hit is None else hit[0]

    def lookup(
        self, token: str, manager: TokenManager, audience: str | None = None
    ) -> tuple[TokenPayload, frozenset[str]] | None:
        """Like :meth:`get`, with the token's granted scopes (for :func:`check_scopes`)."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        owner, aud, key, kid, alg, exp, payload, granted = entry
        if (
            owner is not manager
            or aud != audience
            or exp <= manager._clock() - manager.leeway
            or not self._same_key(manager, key, kid, alg)
        ):
            self._entries.pop(token, None)
            return None
        return payload, granted

    @staticmethod
    def _same_key(manager: TokenManager, key: object, kid: Any, alg: Any) -> bool:
        try:
            return manager.keys.select(kid, alg) is key
        except TokenError:
            return False

    def put(
        self,
        token: str,
        manager: TokenManager,
        audience: str | None,
        payload: TokenPayload,
    ) -> None:
        """Remember a token ``manager`` has just verified (for ``audience``)."""
        exp = payload.get("exp")
        if self.size <= 0 or exp.__class__ is not int:
            return  # no exp: nothing bounds the reuse, so no reuse
        # Read once: the payload's header dict is the caller's to mutate afterwards.
        kid, alg = payload.header.get("kid"), payload.header.get("alg")
        try:
            key = manager.keys.select(kid, alg)
        except TokenError:
            return
        from tigerseal.tokens._payload import scopes_of

        entry = (
            manager,
            audience,
            key,
            kid,
            alg,
            float(exp),
            payload,
            frozenset(scopes_of(payload)),
        )
        with self._lock:
            entries = self._entries
            entries[token] = entry
            entries.move_to_end(token)
            while len(entries) > self.size:
                entries.popitem(last=False)

    def verify(
        self,
        token: str,
        manager: TokenManager,
        *,
        audience: str | None = None,
        scopes: Iterable[str] = (),
    ) -> TokenPayload:
        """``manager.verify(token, ...)`` with the signature check skipped on a repeat.

        Revocation (the manager's store, whichever it is) and ``scopes`` are checked every
        time.

        Raises:
            TokenError: as :meth:`TokenManager.verify` would.
        """
        required = [scopes] if isinstance(scopes, str) else list(scopes)
        hit = self.lookup(token, manager, audience)
        if hit is None:
            payload = manager.verify(token, audience=audience)
            self.put(token, manager, audience, payload)
            granted = None
        else:
            payload, granted = hit
            manager.check_revocation(payload)
        check_scopes(payload, granted, required)
        return payload


def check_scopes(
    payload: TokenPayload, granted: frozenset[str] | None, required: list[str]
) -> None:
    """Raise :class:`~tigerseal.errors.InsufficientScopeError` unless all are granted.

    ``granted`` is the cached scope set of ``payload`` (``None``: read them from it).
    """
    if not required:
        return
    if granted is not None and granted.issuperset(required):
        return
    from tigerseal.tokens import validate_token_scopes

    validate_token_scopes(payload, required)  # raises, naming the missing scopes
