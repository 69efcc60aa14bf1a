"""The built-in ``memory://`` revocation store (one process; use ``redis://`` for many)."""

from __future__ import annotations

import threading
import time
from typing import Any

from tigerseal.errors import ConfigError
from tigerseal.spi.services import RevocationStore

__all__ = ["MemoryRevocationStore", "from_uri"]

_SWEEP_EVERY = 1024


class MemoryRevocationStore(RevocationStore):
    """Revoked token ids, revoked refresh families and used refresh tokens, in memory.

    Thread-safe. Entries are dropped once the token they describe has expired (swept every
    1,024 writes), so memory stays proportional to the tokens still alive.

    Args:
        clock: time source (tests).
    """

    def __init__(self, *, clock: Any = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._revoked: dict[str, float] = {}
        self._families: dict[str, float] = {}
        self._used: dict[str, float] = {}
        self._writes = 0

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
        with self._lock:
            self._revoked[jti] = max(expires_at, self._revoked.get(jti, 0.0))
            self._wrote()

    def is_revoked(self, jti: str) -> bool:
        # A dict read is atomic under the GIL; no lock on the hot verify path.
        return self._live(self._revoked, jti)

    def revoke_family(self, family_id: str, expires_at: float) -> None:
        with self._lock:
            self._families[family_id] = max(expires_at, self._families.get(family_id, 0.0))
            self._wrote()

    def is_family_revoked(self, family_id: str) -> bool:
        return self._live(self._families, family_id)

    def mark_used(self, jti: str, expires_at: float) -> bool:
        with self._lock:
            if self._live(self._used, jti):
                return False
            self._used[jti] = expires_at
            self._wrote()
            return True

    def __len__(self) -> int:
        return len(self._revoked) + len(self._families) + len(self._used)

    def __repr__(self) -> str:
        return f"<MemoryRevocationStore entries={len(self)}>"


def from_uri(uri: str, **options: Any) -> MemoryRevocationStore:
    """Factory for ``memory://`` (no host, path or options).

    In production this needs ``TIGERSEAL_SINGLE_PROCESS=true``: with several workers a token
    revoked (or a refresh token used) in one worker would still pass in the others. (Building
    :class:`MemoryRevocationStore` in code is an explicit choice and is not checked.)

    Raises:
        ConfigError: a location or option is given, or production without the opt-in.
    """
    rest = uri.partition(":")[2].lstrip("/")
    if rest or options:
        raise ConfigError(
            f"the memory revocation store takes no location or options; use 'memory://' "
            f"(got {uri!r})"
        )
    from tigerseal.config import check_per_process_store

    check_per_process_store(
        "TIGERSEAL_REVOCATION_STORE",
        "a token revoked in one worker would still be accepted by the others, and a used "
        "refresh token could be replayed once on every other worker",
        "redis://HOST:6379/0",
    )
    return MemoryRevocationStore()
