"""The data-key cache: fewer calls to KMS, Vault or an HSM.

Encryption reuses one data key within limits of age, messages and bytes, with the semantics of the
AWS Encryption SDK's caching CMM: an entry serves a message only if, counting that message, it
stays within ``max_messages`` and ``max_bytes``, and only while younger than ``max_age``.
Decryption keeps a bounded, TTL'd map from wrapped key (and context) to the unwrapped data key.

Reuse is safe for confidentiality because every message derives its own content key from the
data key and its random message id (``docs/format.md``, section 4). What reuse costs is blast
radius: one leaked data key opens every message it served, hence the limits. Off by default.

Both halves follow the providers' key versions at once, not after ``max_age``: a cached data key
serves a message only while each of its wrapped keys is on its provider's current version (and
not below the minimum), so the first message after ``rotate()`` gets a fresh data key; and an
unwrapped key is cached per key version and never returned for a version below the provider's
minimum decryption version, so ``retire()`` takes effect on the next decryption. Providers
rotated by another process are seen as soon as the provider sees them (``file://``: within its
``reload_interval``).

Entries belong to the provider objects that made or unwrapped them. A cache shared by several
services answers a service only with keys its own providers produced: two providers with the
same key id (two tenants' ``env://ENCRYPTION_MASTER_KEY`` with different keys) never read or
wrap through each other's entries.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tigerseal.errors import ConfigError
from tigerseal.spi._capabilities import min_decryption_version
from tigerseal.spi._provider import WrappedKey

if TYPE_CHECKING:
    from tigerseal.spi._provider import KeyProvider

__all__ = ["CachePolicy", "DataKeyCache"]


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """Limits of the data-key cache.

    Attributes:
        max_age: seconds an encryption data key may be reused.
        max_messages: messages one encryption data key may protect.
        max_bytes: plaintext bytes one encryption data key may protect.
        decrypt_ttl: seconds an unwrapped data key is kept for decryption (0 disables).
        decrypt_max_entries: unwrapped data keys kept at most (least recently used go first).
    """

    max_age: float = 300.0
    max_messages: int = 2**32
    max_bytes: int = 2**40
    decrypt_ttl: float = 300.0
    decrypt_max_entries: int = 1000

    def __post_init__(self) -> None:
        if self.max_age <= 0 or self.max_messages < 1 or self.max_bytes < 1:
            raise ConfigError(
                "cache limits must be positive: max_age > 0, max_messages >= 1, max_bytes >= 1 "
                "(set TIGERSEAL_CACHE_ENABLED=false to turn the cache off instead)"
            )
        if self.decrypt_ttl < 0 or self.decrypt_max_entries < 0:
            raise ConfigError("decrypt_ttl and decrypt_max_entries must not be negative")


def _on_current_versions(
    wrapped: tuple[WrappedKey, ...],
    providers: Sequence[KeyProvider],
    versions: Sequence[tuple[int, int]],
) -> bool:
    """Whether every wrapped key is its provider's, on its current version and not retired.

    ``versions`` holds ``(key_version, min_decryption_version)`` per provider, in the order of
    ``wrapped``. A provider reporting version 0 (AWS KMS) rotates behind one key id, so only its
    minimum can be checked. No providers: no check (callers that manage versions themselves).
    """
    if not providers:
        return True
    if len(providers) != len(wrapped):
        return False
    for w, kp, (current, minimum) in zip(wrapped, providers, versions, strict=True):
        if not kp.owns(w) or (current and w.key_version != current) or w.key_version < minimum:
            return False
    return True


def _dec_key(wrapped: WrappedKey, context_key: bytes) -> tuple[str, str, int, bytes, bytes]:
    # The version is part of the key: the header's version is what the provider checks against
    # its minimum, so a cached answer must be for exactly that version.
    return (wrapped.provider, wrapped.key_id, wrapped.key_version, wrapped.blob, context_key)


def _same(a: Sequence[KeyProvider], b: Sequence[KeyProvider]) -> bool:
    """Whether two provider lists are the same objects (not merely the same key ids)."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def _versions(providers: Sequence[KeyProvider]) -> list[tuple[int, int]]:
    # Read outside the lock: a provider may do I/O to answer (file:// checks its keyring file,
    # Vault refreshes its key info).
    return [(kp.key_version, min_decryption_version(kp)) for kp in providers]


class _Entry:
    __slots__ = (
        "created",
        "dek",
        "key_section",
        "messages",
        "nbytes",
        "prepared",
        "providers",
        "versions",
        "wrapped",
    )

    def __init__(
        self,
        dek: bytes,
        wrapped: tuple[WrappedKey, ...],
        key_section: bytes,
        providers: tuple[KeyProvider, ...],
        versions: list[tuple[int, int]],
        prepared: Any,
    ) -> None:
        self.dek = dek
        self.wrapped = wrapped
        self.providers = providers
        self.key_section = key_section
        # The providers' (key_version, min_decryption_version) when the entry was stored, after
        # checking that every wrapped key was on them: while they read the same, the entry is
        # current, so a lookup compares one list instead of re-checking each wrapped key.
        self.versions = versions
        self.prepared = prepared
        self.created = time.monotonic()
        self.messages = 0
        self.nbytes = 0


class DataKeyCache:
    """Thread-safe cache of data keys for encryption and of unwrapped keys for decryption."""

    def __init__(self, policy: CachePolicy | None = None) -> None:
        self.policy = policy or CachePolicy()
        self._lock = threading.Lock()
        self._enc: dict[bytes, _Entry] = {}
        # key -> (data key, expiry, the provider that unwrapped it, prepared state or None)
        self._dec: OrderedDict[
            tuple[str, str, int, bytes, bytes], tuple[bytes, float, KeyProvider | None, Any]
        ] = OrderedDict()
        self.hits = 0
        self.misses = 0

    # -- encryption --------------------------------------------------------------------------
    def take(
        self, context_key: bytes, nbytes: int, providers: Sequence[KeyProvider] = ()
    ) -> tuple[bytes, bytes, tuple[WrappedKey, ...]] | None:
        """Reserve a cached data key for one message of ``nbytes``.

        Args:
            context_key: the encoded encryption context.
            nbytes: the message's plaintext size.
            providers: the providers that made the wrapped keys, in the same order; an entry
                whose wrapped keys are not on their provider's current version (or are below
                its minimum) is dropped, and so is one made by other provider objects.

        Returns:
            ``(dek, key_section, wrapped_keys)``, or None when the caller must make a new key.
        """
        e = self._take(context_key, nbytes, providers)
        return None if e is None else (e.dek, e.key_section, e.wrapped)

    def take_prepared(
        self, context_key: bytes, nbytes: int, providers: Sequence[KeyProvider] = ()
    ) -> Any:
        """:meth:`take`, returning the ``prepared`` object given to :meth:`put` (or None).

        For :class:`EncryptionService`, which stores its per-key state (key section, HMAC key
        schedule) with the entry so that a hit costs no re-encoding.
        """
        e = self._take(context_key, nbytes, providers)
        return None if e is None else e.prepared

    def _take(
        self, context_key: bytes, nbytes: int, providers: Sequence[KeyProvider]
    ) -> _Entry | None:
        p = self.policy
        if nbytes > p.max_bytes:
            return None
        versions = _versions(providers)
        with self._lock:
            e = self._enc.get(context_key)
            if e is not None:
                if (
                    time.monotonic() - e.created < p.max_age
                    and e.messages + 1 <= p.max_messages
                    and e.nbytes + nbytes <= p.max_bytes
                    and (
                        # Same provider objects, on the versions checked when stored.
                        (e.providers is providers or _same(e.providers, providers))
                        and e.versions == versions
                        if e.providers
                        else _on_current_versions(e.wrapped, providers, versions)
                    )
                ):
                    e.messages += 1
                    e.nbytes += nbytes
                    self.hits += 1
                    return e
                del self._enc[context_key]
            self.misses += 1
            return None

    def put(
        self,
        context_key: bytes,
        dek: bytes,
        wrapped: tuple[WrappedKey, ...],
        key_section: bytes,
        nbytes: int,
        providers: Sequence[KeyProvider] = (),
        *,
        prepared: Any = None,
    ) -> None:
        """Store a fresh data key that has just protected one message of ``nbytes``.

        ``providers`` made ``wrapped`` (same order); only :meth:`take` with the same provider
        objects gets the entry back (none given: any caller may, as before). A key whose
        wrapped copies are not on the providers' current versions (a rotation raced the wrap)
        is not stored. ``prepared`` is returned by :meth:`take_prepared`.
        """
        if nbytes > self.policy.max_bytes:
            return
        versions = _versions(providers)
        if not _on_current_versions(wrapped, providers, versions):
            return
        e = _Entry(dek, wrapped, key_section, tuple(providers), versions, prepared)
        e.messages, e.nbytes = 1, nbytes
        with self._lock:
            self._enc[context_key] = e
            if len(self._enc) > 10_000:  # bound memory if contexts are unbounded
                self._enc.pop(next(iter(self._enc)))

    # -- decryption --------------------------------------------------------------------------
    def get_unwrapped(
        self, wrapped: WrappedKey, context_key: bytes, provider: KeyProvider | None = None
    ) -> bytes | None:
        """A cached unwrapped data key, or None.

        Args:
            wrapped: the wrapped key from the message header.
            context_key: the encoded encryption context.
            provider: the provider that owns ``wrapped``; only keys that this provider object
                unwrapped (or made) are answered, and a version below its minimum decryption
                version never is (the provider must refuse it with ``KeyVersionRetired``).
        """
        hit = self.lookup(wrapped, context_key, provider)
        return None if hit is None else hit[0]

    def lookup(
        self, wrapped: WrappedKey, context_key: bytes, provider: KeyProvider | None = None
    ) -> tuple[bytes, Any] | None:
        """:meth:`get_unwrapped`, returning ``(data key, prepared)`` (see :meth:`put_unwrapped`)."""
        if not self.policy.decrypt_ttl:
            return None
        minimum = min_decryption_version(provider) if provider is not None else 0
        k = _dec_key(wrapped, context_key)
        with self._lock:
            hit = self._dec.get(k)
            if hit is None:
                return None
            if hit[2] is not None and hit[2] is not provider:
                return None  # another provider with the same key id: it must unwrap itself
            if hit[1] < time.monotonic() or wrapped.key_version < minimum:
                del self._dec[k]
                return None
            self._dec.move_to_end(k)
            self.hits += 1
            return hit[0], hit[3]

    def put_unwrapped(
        self,
        wrapped: WrappedKey,
        context_key: bytes,
        dek: bytes,
        provider: KeyProvider | None = None,
        *,
        prepared: Any = None,
    ) -> None:
        """Remember an unwrapped data key for ``decrypt_ttl`` seconds.

        With ``provider``, only :meth:`get_unwrapped` for that provider object gets it back
        (:class:`EncryptionService` always passes it); without, any caller may. ``prepared``
        (the service's per-key state) comes back from :meth:`lookup`.
        """
        p = self.policy
        if not p.decrypt_ttl or not p.decrypt_max_entries:
            return
        k = _dec_key(wrapped, context_key)
        with self._lock:
            self._dec[k] = (dek, time.monotonic() + p.decrypt_ttl, provider, prepared)
            self._dec.move_to_end(k)
            while len(self._dec) > p.decrypt_max_entries:
                self._dec.popitem(last=False)

    def clear(self) -> None:
        """Forget every cached key (after a rotation or a suspected leak)."""
        with self._lock:
            self._enc.clear()
            self._dec.clear()

    def __repr__(self) -> str:
        return f"<DataKeyCache {self.policy} hits={self.hits} misses={self.misses}>"
