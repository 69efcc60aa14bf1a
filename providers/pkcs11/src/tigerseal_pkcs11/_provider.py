"""The ``pkcs11:`` key provider: data keys wrapped by an AES-256 KEK that never leaves the HSM.

Example::

    from tigerseal import key_provider_from_uri
    hsm = key_provider_from_uri(
        "pkcs11:token=tigerseal;object=tiger-kek"
        "?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=env:TIGERSEAL_PKCS11_PIN"
    )

See :mod:`tigerseal_pkcs11._options` for the URI, :mod:`tigerseal_pkcs11._wrap` for the wrap
mechanisms and blob format, :mod:`tigerseal_pkcs11._session` for threads, logins and sessions.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pkcs11.exceptions as p11
from pkcs11 import Mechanism, MechanismFlag
from tigerseal.errors import (
    AccessDenied,
    ConfigError,
    DecryptionError,
    KeyNotFound,
    KeyProviderError,
    KeyVersionRetired,
    NoMatchingKeyError,
    ProviderUnavailable,
    UnsupportedOperation,
)
from tigerseal.spi import (
    DEK_SIZE,
    BatchWrap,
    Context,
    KeyProvider,
    Retirable,
    Rotatable,
    WrappedKey,
)
from tigerseal.spi._capabilities import renamed_method

from tigerseal_pkcs11 import _keys, _wrap
from tigerseal_pkcs11._errors import SESSION_LOST, raise_mapped
from tigerseal_pkcs11._options import Pkcs11Uri, parse_uri
from tigerseal_pkcs11._session import Session, TokenPool, get_module

__all__ = ["Pkcs11Provider", "from_uri"]

T = TypeVar("T")

#: Operations done per session checkout in the batch methods (bounds the lock hold time).
_BATCH = 64


class _StaleHandle(Exception):
    """A cached key handle went stale (object deleted or session reset): look it up again."""


#: Attempts of a rotation that keeps colliding with concurrent ones (each loser withdraws).
_ROTATE_ATTEMPTS = 8
#: Re-reads of the version list while a concurrent rotation holds a duplicate label (the
#: racer checks and withdraws within microseconds).
_SCAN_ATTEMPTS = 5


def _pause(attempt: int) -> None:
    """A random pause (up to 10 ms x attempt) that breaks the symmetry of two racers."""
    time.sleep(secrets.randbelow(10_000 * attempt + 1) / 1_000_000)


_RETRYABLE: tuple[type[BaseException], ...] = (_StaleHandle, *SESSION_LOST)


def _maybe_token_failure(exc: BaseException) -> bool:
    """Whether ``exc`` could come from a failed token rather than from the request itself."""
    if isinstance(exc, AccessDenied | ConfigError | UnsupportedOperation | KeyVersionRetired):
        return False
    return isinstance(exc, KeyNotFound | DecryptionError | ProviderUnavailable) or (
        type(exc) is KeyProviderError
    )


class Pkcs11Provider(KeyProvider, Rotatable, Retirable, BatchWrap):
    """Key provider backed by a PKCS#11 token (an HSM, or SoftHSM2 for development).

    Args:
        uri: a ``pkcs11:`` URI (RFC 7512) or a parsed :class:`~tigerseal_pkcs11._options.Pkcs11Uri`.
        **options: override query attributes (``mechanism``, ``locking``, ``max_sessions``,
            ``min_decryption_version``, ``module_path``, ``pin_source``).

    The constructor loads the module, logs in, finds every key version and checks the newest
    one, so a wrong path, PIN or label fails here rather than at the first encryption.

    Raises:
        ConfigError: bad URI, module path, or a key with unsafe attributes.
        AccessDenied: the PIN was rejected.
        ProviderUnavailable: the token is not present.
        KeyNotFound: no version of the key exists (create it with ``tigerseal pkcs11 init-key``).
        UnsupportedOperation: neither mechanism works with this token and key.
    """

    scheme = "pkcs11"

    def __init__(self, uri: str | Pkcs11Uri, **options: Any) -> None:
        self._uri = uri if isinstance(uri, Pkcs11Uri) else parse_uri(uri, **options)
        self._key_id = self._uri.key_id  # hot path: computed once
        pin = self._uri.pin_source.read()
        self._module = get_module(self._uri.module_path, self._uri.locking)
        self._pool: TokenPool | None = self._module.pool(self._uri)
        self._token = self._pool.description
        self._state = threading.Lock()
        self._versions: dict[int, _keys.KeyVersion] = {}
        # (version, format) of new wraps, replaced as a whole so readers need no lock.
        self._active: tuple[int, int] = (0, _wrap.FORMAT_GCM)
        self._min_version = self._uri.min_decryption_version
        try:
            self._pool.login(pin)
            self.refresh()
        except BaseException:
            self.close()
            raise

    # -- identity ----------------------------------------------------------------------------
    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def key_version(self) -> int:
        return self._active[0]

    @property
    def uri(self) -> str:
        return self._uri.to_uri()

    @property
    def binds_context(self) -> bool:
        """True when new wraps use AES-GCM with the context as AAD (false for RFC 5649)."""
        return self._active[1] == _wrap.FORMAT_GCM

    @property
    def mechanism(self) -> str:
        """The mechanism new wraps use: ``aes-gcm`` or ``aes-key-wrap-pad``."""
        return _wrap.FORMAT_NAMES[self._active[1]]

    @property
    def min_decryption_version(self) -> int:
        return self._min_version

    def retire_below(self, min_version: int) -> None:
        """Retire every version below ``min_version``: unwrapping them raises KeyVersionRetired.

        Raises:
            ConfigError: ``min_version`` is negative or above the current version.
        """
        version = min_version
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise ConfigError("min_decryption_version must be a non-negative integer")
        if version > self.key_version:
            raise ConfigError(
                f"min_decryption_version {version} is above the current version "
                f"{self.key_version}; rotate first"
            )
        self._min_version = version

    set_min_decryption_version = renamed_method("set_min_decryption_version", "retire_below")

    def __repr__(self) -> str:
        return f"<Pkcs11Provider {self.key_id} v{self.key_version} {self.mechanism}>"

    # -- plumbing ----------------------------------------------------------------------------
    def _active_pool(self) -> TokenPool:
        if self._pool is None:
            raise KeyProviderError(f"the pkcs11 provider for {self.key_id} is closed")
        return self._pool

    def _call(self, what: str, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` on a pooled session; recover the module if the token itself failed.

        A failure that could be a symptom of a failed token (the key or object is missing, an
        opaque integrity error, an unmapped module error) is checked with ``C_GetTokenInfo``:
        if the token still answers, the error stands. If not, the module is initialised again
        and ``fn`` retried once; a token that is still absent raises ProviderUnavailable
        instead of the misleading KeyNotFound/DecryptionError.
        """
        pool = self._active_pool()
        generation = self._module.generation
        try:
            return self._call_once(what, fn, pool)
        except (KeyNotFound, DecryptionError, KeyProviderError) as exc:
            # A provider from before fork() refusing in the child is no token failure; probing
            # would take the parent's module lock (perhaps held by a thread that does not exist
            # here, hanging forever) on a module this process has not initialised.
            if not _maybe_token_failure(exc) or pool.forked or pool.healthy():
                raise
            failure = exc
        try:
            self._module.recover(generation)
            return self._call_once(what, fn, pool)
        except ProviderUnavailable as exc:
            raise exc from failure
        except (KeyNotFound, DecryptionError, KeyProviderError) as exc:
            if not _maybe_token_failure(exc) or pool.healthy():
                raise
            raise ProviderUnavailable(
                f"{what}: token {self._token} is not available (it stopped answering and "
                "re-initialising the module did not bring it back); check that the HSM is "
                "connected and its token present, then retry"
            ) from exc

    def _call_once(self, what: str, fn: Callable[[Session], T], pool: TokenPool) -> T:
        """Run ``fn`` on a pooled session; retry once on a lost session or stale key handle."""

        def guarded(session: Session) -> T:
            try:
                return fn(session)
            except (p11.KeyHandleInvalid, p11.ObjectHandleInvalid) as exc:
                session.forget()
                raise _StaleHandle from exc

        for attempt in (1, 2):
            try:
                return pool.run(guarded)
            except _RETRYABLE as exc:
                if attempt == 2:
                    if isinstance(exc, _StaleHandle):
                        raise KeyNotFound(
                            f"{what}: the key object disappeared from token {self._token}; "
                            "was the version deleted? Recreate or restore it"
                        ) from exc.__cause__
                    raise_mapped(exc, what=what, token=self._token)
            except p11.PKCS11Error as exc:
                raise_mapped(exc, what=what, token=self._token)
        raise AssertionError("unreachable")  # pragma: no cover

    def refresh(self) -> None:
        """Re-read the key versions from the token (picks up a rotation by another process).

        Raises:
            KeyNotFound: no version exists.
        """

        def scan(session: Session) -> tuple[dict[int, str], bool]:
            versions = _keys.scan_versions(session, self._uri)
            unversioned = not versions and _keys.has_unversioned(session, self._uri)
            return versions, unversioned

        for attempt in range(1, _SCAN_ATTEMPTS + 1):
            try:
                versions, unversioned = self._call(f"listing versions of {self._uri.object}", scan)
                break
            except _keys.DuplicateVersion:
                if attempt == _SCAN_ATTEMPTS:
                    raise
                _pause(attempt)
        if not versions:
            raise _keys.missing_key(self._uri, self._token, None, unversioned=unversioned)
        newest = max(versions)
        info = self._version(newest)
        fmt = self._choose_format(info)
        self._active = (newest, fmt)

    def _version(self, version: int) -> _keys.KeyVersion:
        info = self._versions.get(version)
        if info is None:
            info = self._call(
                f"loading {self._uri.label(version)}",
                lambda s: _keys.load_version(s, self._uri, version, self._token),
            )
            with self._state:
                self._versions[version] = info
        return info

    def _choose_format(self, info: _keys.KeyVersion) -> int:
        pool = self._active_pool()
        gcm = info.encrypt and pool.supports(
            Mechanism.AES_GCM, MechanismFlag.ENCRYPT, MechanismFlag.DECRYPT
        )
        kwp = info.wrap and pool.supports(
            Mechanism.AES_KEY_WRAP_PAD, MechanismFlag.WRAP, MechanismFlag.UNWRAP
        )
        wanted = self._uri.mechanism
        if wanted in ("auto", "aes-gcm") and gcm:
            return _wrap.FORMAT_GCM
        if wanted in ("auto", "aes-key-wrap-pad") and kwp:
            return _wrap.FORMAT_KWP
        reasons = []
        if wanted in ("auto", "aes-gcm"):
            reasons.append(
                "AES-GCM needs CKA_ENCRYPT/CKA_DECRYPT on the key"
                if not info.encrypt
                else "the token does not offer CKM_AES_GCM for encrypt/decrypt"
            )
        if wanted in ("auto", "aes-key-wrap-pad"):
            reasons.append(
                "RFC 5649 key wrap needs CKA_WRAP/CKA_UNWRAP on the key"
                if not info.wrap
                else "the token does not offer CKM_AES_KEY_WRAP_PAD for wrap/unwrap"
            )
        raise UnsupportedOperation(
            f"key {info.label!r} on token {self._token} cannot wrap data keys with "
            f"mechanism={wanted}: {'; '.join(reasons)}. Choose another mechanism= or create a "
            "key with `tigerseal pkcs11 init-key` (usage both)"
        )

    # -- wrap / unwrap -----------------------------------------------------------------------
    def wrap(self, dek: bytes, context: Context) -> WrappedKey:
        """Wrap ``dek`` under the current version (AES-GCM with the context, or RFC 5649)."""
        if not isinstance(dek, bytes | bytearray) or len(dek) != DEK_SIZE:
            raise TypeError(f"a data key must be {DEK_SIZE} bytes")
        dek = bytes(dek)
        version, fmt = self._active
        info = self._versions.get(version) or self._version(version)
        extra = _wrap.aad(context) if fmt == _wrap.FORMAT_GCM else b""

        def run(session: Session) -> bytes:
            kek = session.find_key(info.label, info.obj_id)
            if fmt == _wrap.FORMAT_GCM:
                return _wrap.gcm_wrap(session, kek, dek, extra)
            return _wrap.kwp_wrap(session, kek, dek)

        blob = self._call(f"wrap with {info.label}", run)
        return WrappedKey(self.scheme, self.key_id, version, blob)

    def _prepare(
        self, wrapped: WrappedKey, context: Context
    ) -> tuple[_keys.KeyVersion, int, bytes]:
        """Checks that need no HSM: owner, retirement, blob shape; then the version's key."""
        if not isinstance(wrapped, WrappedKey):
            raise TypeError("unwrap expects a WrappedKey")
        if wrapped.provider != self.scheme:
            raise NoMatchingKeyError(
                f"this data key was wrapped by the {wrapped.provider!r} provider, not pkcs11; "
                "configure that provider to decrypt it"
            )
        if wrapped.key_id != self.key_id:
            raise NoMatchingKeyError(
                f"this data key was wrapped under pkcs11 key {wrapped.key_id!r}, not "
                f"{self.key_id!r}; configure a provider for that key"
            )
        version = wrapped.key_version
        if not isinstance(version, int) or version < 1:
            raise DecryptionError("the wrapped data key is not authentic for this key and context")
        if version < self._min_version:
            raise KeyVersionRetired(
                f"key version {version} of {self._uri.object} is retired (minimum "
                f"{self._min_version}); it can no longer be decrypted"
            )
        fmt = _wrap.check_blob(wrapped.blob)
        extra = _wrap.aad(context) if fmt == _wrap.FORMAT_GCM else b""
        info = self._versions.get(version) or self._version(version)
        if version > self.key_version:
            self.refresh()  # another process rotated: new wraps should use it too
        return info, fmt, extra

    @staticmethod
    def _unwrap_in(
        session: Session, info: _keys.KeyVersion, fmt: int, blob: bytes, extra: bytes
    ) -> bytes:
        kek = session.find_key(info.label, info.obj_id)
        if fmt == _wrap.FORMAT_GCM:
            if not info.encrypt:
                raise DecryptionError(
                    "the wrapped data key is not authentic for this key and context"
                )
            return _wrap.gcm_unwrap(session, kek, blob, extra)
        if not info.wrap:
            raise DecryptionError("the wrapped data key is not authentic for this key and context")
        return _wrap.kwp_unwrap(session, kek, blob)

    def unwrap(self, wrapped: WrappedKey, context: Context) -> bytes:
        """Unwrap inside the HSM.

        Raises:
            DecryptionError: tampered blob, wrong context (AES-GCM form) or another key.
            KeyVersionRetired: the version is below ``min_decryption_version``.
            KeyNotFound: the version's object is not on the token.
        """
        info, fmt, extra = self._prepare(wrapped, context)
        blob = bytes(wrapped.blob)
        return self._call(
            f"unwrap with {info.label}",
            lambda s: self._unwrap_in(s, info, fmt, blob, extra),
        )

    def unwrap_many(self, items: Sequence[tuple[WrappedKey, Context]]) -> list[bytes]:
        """Unwrap a batch, up to 64 per session checkout (one lock acquisition)."""
        prepared = [(*self._prepare(w, c), bytes(w.blob)) for w, c in items]
        out: list[bytes] = []
        for start in range(0, len(prepared), _BATCH):
            chunk = prepared[start : start + _BATCH]
            out.extend(
                self._call(
                    "batch unwrap",
                    lambda s, chunk=chunk: [  # type: ignore[misc]
                        self._unwrap_in(s, info, fmt, blob, extra)
                        for info, fmt, extra, blob in chunk
                    ],
                )
            )
        return out

    def rewrap(self, wrapped: WrappedKey, context: Context) -> WrappedKey:
        """Unwrap and wrap under the newest version (the DEK stays in this process briefly)."""
        return self.wrap(self.unwrap(wrapped, context), context)

    def rewrap_many(self, items: Sequence[tuple[WrappedKey, Context]]) -> list[WrappedKey]:
        """Rewrap a batch to the current version (unwrap and wrap inside the HSM)."""
        deks = self.unwrap_many(items)
        return [self.wrap(dek, context) for dek, (_, context) in zip(deks, items, strict=True)]

    # -- rotation ----------------------------------------------------------------------------
    def rotate(self) -> int:
        """Generate the next version ``<object>.v<N+1>`` in the token and make it current.

        The new key gets the usage (encrypt and/or wrap) of the current one. Old versions keep
        unwrapping until retired with :meth:`retire_below` (or deleted).

        Rotation is exclusive across processes and hosts sharing the token: the new object is
        created, then checked to be the only one with its label; a process that lost a race
        destroys its own object and adopts the winner's version (see
        :func:`tigerseal_pkcs11._keys.claim_kek`); processes of one host also take a local
        ``flock`` (:func:`tigerseal_pkcs11._keys.local_rotation_lock`). Two concurrent
        rotations therefore yield one new version (both calls return it) or two consecutive
        ones, never two objects with one label.

        Raises:
            KeyProviderError: concurrent rotations kept colliding (8 attempts); retry.
        """
        current = self._version(self.key_version)
        usage = (
            "both" if current.encrypt and current.wrap else "encrypt" if current.encrypt else "wrap"
        )

        def run(session: Session) -> int | None:
            versions = _keys.scan_versions(session, self._uri)
            new = max(versions, default=0) + 1
            if _keys.claim_kek(session, self._uri, new, usage):
                return new
            # Lost the race: the winner's object (if it did not withdraw too) is version new.
            return new if _keys.count_label(session, self._uri, new) == 1 else None

        pool = self._active_pool()
        for attempt in range(1, _ROTATE_ATTEMPTS + 1):
            with _keys.local_rotation_lock(self._module.path, pool.serial, self._uri.object):
                try:
                    new = self._call(f"rotating {self._uri.object}", run)
                except _keys.DuplicateVersion:
                    new = None  # another rotation is between its create and its check
            if new is not None:
                self.refresh()
                return new
            _pause(attempt)
        raise KeyProviderError(
            f"rotating {self._uri.object} on token {self._token} collided with concurrent "
            f"rotations {_ROTATE_ATTEMPTS} times; run the rotation again"
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Give the shared token pool back; the last provider of a token logs out."""
        with self._state:
            pool, self._pool = self._pool, None
        if pool is not None:
            self._module.release(pool)


def from_uri(uri: str, **options: Any) -> Pkcs11Provider:
    """Factory named by the plugin spec: ``key_provider_from_uri("pkcs11:...")``."""
    return Pkcs11Provider(uri, **options)
