"""The built-in ``memory://`` revocation store (one process; use ``redis://`` for many)."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from tigerseal.errors import ConfigError, ProviderUnavailable
from tigerseal.spi.options import build_options, option, parse_uri
from tigerseal.spi.services import RevocationStore

__all__ = ["DEFAULT_MAX_ENTRIES", "MemoryRevocationStore", "from_uri"]

log = logging.getLogger(__name__)

_SWEEP_EVERY = 1024

#: Used refresh tokens held at most by default (measured: about 135 MiB, ~140 bytes an entry).
DEFAULT_MAX_ENTRIES = 1_000_000


class MemoryRevocationStore(RevocationStore):
    """Revoked token ids, revoked refresh families and used refresh tokens, in memory.

    Thread-safe. Entries are dropped once the token they describe has expired (swept every
    1,024 writes), so memory stays proportional to the tokens still alive.

    Every refresh marks the used refresh token until it would expire, so a client refreshing
    in a loop adds one entry per request: used markers are bounded by ``max_entries``. When
    they are all live, :meth:`mark_used` refuses the refresh (``ProviderUnavailable``) rather
    than forget a used token, which would let a copied refresh token through unnoticed; a
    reuse of a marked token is still detected. Revocations (:meth:`revoke`,
    :meth:`revoke_family`) are never refused nor evicted: losing one would accept a revoked
    token, and each needs a verified token, which a client cannot mint by itself.

    Args:
        clock: time source (tests).
        max_entries: most used refresh tokens held (live ones; expired ones make room).
    """

    def __init__(self, *, clock: Any = time.time, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries.__class__ is not int or max_entries < 1:
            raise ConfigError(
                "max_entries of the memory revocation store must be a whole number >= 1, "
                f"got {max_entries!r}"
            )
        self._clock = clock
        self._lock = threading.Lock()
        self._revoked: dict[str, float] = {}
        self._families: dict[str, float] = {}
        # Insertion order, so (with one refresh lifetime) the oldest marker expires first.
        self._used: dict[str, float] = {}
        self._writes = 0
        self.max_entries = max_entries
        # Refusals since the last full sweep of used markers (starts "due").
        self._refusals = max(1, max_entries // 8)
        self._warned = False

    def _live(self, table: dict[str, float], key: str) -> bool:
        until = table.get(key)
        return until is not None and until > self._clock()

    def _wrote(self) -> None:
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            now = self._clock()
            for table in (self._revoked, self._families, self._used):
                for key in [k for k, until in table.items() if until <= now]:
                    del table[key]

    def revoke(self, jti: str, expires_at: float) -> None:
        _check(jti, expires_at)
        with self._lock:
            self._revoked[jti] = max(expires_at, self._revoked.get(jti, 0.0))
            self._wrote()

    def is_revoked(self, jti: str) -> bool:
        # A dict read is atomic under the GIL; no lock on the hot verify path.
        return self._live(self._revoked, jti)

    def revoke_family(self, family_id: str, expires_at: float) -> None:
        _check(family_id, expires_at)
        with self._lock:
            self._families[family_id] = max(expires_at, self._families.get(family_id, 0.0))
            self._wrote()

    def is_family_revoked(self, family_id: str) -> bool:
        return self._live(self._families, family_id)

    def mark_used(self, jti: str, expires_at: float) -> bool:
        """Record a refresh token as used; ``False`` if it already was (reuse).

        Raises:
            ProviderUnavailable: ``max_entries`` used tokens are live (the refresh is refused;
                nothing is forgotten).
            ConfigError: an empty id, or ``expires_at`` not a number (or NaN).
        """
        _check(jti, expires_at)
        with self._lock:
            if self._live(self._used, jti):
                return False
            if len(self._used) >= self.max_entries and not self._make_room():
                self._full()
            # Re-inserted at the newest end (an expired marker of this id may linger).
            self._used.pop(jti, None)
            self._used[jti] = expires_at
            self._wrote()
            return True

    def _make_room(self) -> bool:
        """Drop expired used markers (lock held); whether there is room for one more.

        The oldest markers go first, O(1) each. One out of order (a token with a longer
        lifetime) can hide expired ones behind it, so a full sweep also runs, at most once per
        ``max_entries // 8`` refusals: a full store costs O(1) amortised per request.
        """
        now = self._clock()
        used = self._used
        while used:
            oldest = next(iter(used))
            if used[oldest] > now:
                break
            del used[oldest]
        if len(used) < self.max_entries:
            return True
        self._refusals += 1
        if self._refusals >= max(1, self.max_entries // 8):
            self._refusals = 0
            for key in [k for k, until in used.items() if until <= now]:
                del used[key]
        return len(used) < self.max_entries

    def _full(self) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "memory revocation store is full (max_entries=%d used refresh tokens not yet "
                "expired): refreshes are refused until some expire; raise max_entries "
                "(memory://?max_entries=N) or use redis:// (tigerseal-redis)",
                self.max_entries,
            )
        raise ProviderUnavailable(
            f"the memory revocation store is full: {self.max_entries} used refresh tokens have "
            "not expired yet (max_entries), so this refresh is refused rather than forget one. "
            "Sign in again; operators: raise max_entries (TIGERSEAL_REVOCATION_STORE="
            "memory://?max_entries=N), rate-limit refreshes, or use redis://HOST:6379/0"
        )

    def __len__(self) -> int:
        return len(self._revoked) + len(self._families) + len(self._used)

    def __repr__(self) -> str:
        return f"<MemoryRevocationStore entries={len(self)}>"


def _check(ident: object, expires_at: object) -> None:
    """Refuse what the Redis store refuses: an empty id, or an expiry that is not a number.

    A NaN expiry compares false with every time, so its entry would never be live: a used
    refresh token could be replayed, a revocation would have no effect.
    """
    if not isinstance(ident, str) or not ident:
        raise ConfigError(f"a token id must be a non-empty string, got a {type(ident).__name__}")
    if not isinstance(expires_at, int | float) or math.isnan(expires_at):
        raise ConfigError(f"expires_at must be epoch seconds, got {expires_at!r}")


@dataclass(frozen=True, slots=True)
class MemoryRevocationOptions:
    """Options of the ``memory://`` revocation store (see :mod:`tigerseal.spi.options`)."""

    max_entries: int = option(DEFAULT_MAX_ENTRIES, ge=1, help="entries kept (full: refuse)")


def from_uri(uri: str, **options: Any) -> MemoryRevocationStore:
    """Factory for ``memory://`` or ``memory://?max_entries=N`` (no host or path).

    In production this needs ``TIGERSEAL_SINGLE_PROCESS=true``: with several workers a token
    revoked (or a refresh token used) in one worker would still pass in the others. (Building
    :class:`MemoryRevocationStore` in code is an explicit choice and is not checked.)

    Raises:
        ConfigError: a location or option is given, or production without the opt-in.
    """
    plugin = "memory:// revocation store"
    parsed = parse_uri(uri, plugin=plugin, schemes=("memory",), example="memory://")
    if parsed.location.strip("/"):
        raise ConfigError(
            "the memory revocation store takes no location or options but max_entries; use "
            "'memory://' or "
            f"'memory://?max_entries=N' (got {parsed.redacted()!r})"
        )
    opts = build_options(MemoryRevocationOptions, plugin=plugin, uri=parsed.query, code=options)
    from tigerseal.config import check_per_process_store

    check_per_process_store(
        "TIGERSEAL_REVOCATION_STORE",
        "a token revoked in one worker would still be accepted by the others, and a used "
        "refresh token could be replayed once on every other worker",
        "redis://HOST:6379/0",
    )
    return MemoryRevocationStore(max_entries=opts.max_entries)
