"""``EncryptionService``: envelope encryption over one or more key providers."""

from __future__ import annotations

import hmac
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from secrets import token_bytes
from typing import Any, BinaryIO, Literal, overload

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tigerseal import observe as _observe
from tigerseal._text import escape_control
from tigerseal.envelope import _stream
from tigerseal.envelope._cache import CachePolicy, DataKeyCache
from tigerseal.envelope._format import (
    CONTENT_FRAMED,
    CONTENT_SINGLE,
    DEFAULT_FRAME_SIZE,
    MAGIC,
    MANIFEST_MARKER,
    MANIFEST_PROVIDER,
    MAX_FRAME_SIZE,
    MAX_HEADER_SIZE,
    SINGLE_PREFIX,
    TAG_SIZE,
    Header,
    build_aad,
    derive,
    encode_context,
    encode_key_section,
    header_bytes,
    key_deriver,
    key_section_layout,
    key_section_mac,
    key_section_parts,
    layout_mac,
    new_message_id,
    nonce,
    not_utf8,
    okm,
    parse_header,
)
from tigerseal.envelope._message import EncryptedData
from tigerseal.errors import (
    AccessDenied,
    BatchDecryptionError,
    ConfigError,
    ContextMismatchError,
    DecryptionError,
    EncryptionError,
    KeyDisabled,
    KeyNotFound,
    KeyProviderError,
    KeyVersionRetired,
    NoMatchingKeyError,
    ProviderUnavailable,
    TigerSealError,
)
from tigerseal.spi._capabilities import BatchWrap, rewrap_many, unwrap_many
from tigerseal.spi._provider import Context, KeyProvider, WrappedKey

__all__ = ["EncryptionService", "MessageInput", "key_section_report"]

MessageInput = EncryptedData | bytes | bytearray | memoryview | str
_FINAL0 = nonce(0, True)
_NO_CONTEXT = b"\x00\x00"
_RANDOM_ID_SIZE = 32 - len(MANIFEST_MARKER)


#: At most this many messages of one ``encrypt_many`` batch share a data key (same context).
BATCH_KEY_MESSAGES = 4096

# Batch-local unwrapped keys: (encoded context, wrapped keys) -> (data key, derivation) or error.
_UnwrapMemo = dict[
    tuple[bytes, tuple[WrappedKey, ...]],
    "tuple[bytes, Callable[[bytes], bytes] | None] | DecryptionError",
]


# Placeholder in a batch's memo while its key waits for the provider's batch call.
_QUEUED: Any = object()


def _plaintext(data: object) -> bytes | bytearray | memoryview:
    """The bytes to encrypt: text as UTF-8, bytes-like as is."""
    if isinstance(data, str):
        try:
            pt: bytes | bytearray | memoryview = data.encode()
        except UnicodeEncodeError:
            pt = b""
        if len(pt) < len(data):  # only when encoding failed: UTF-8 is never shorter
            raise not_utf8("the text to encrypt")
        return pt
    if isinstance(data, (bytes, bytearray, memoryview)):
        return data
    raise EncryptionError(
        f"encrypt() takes str or bytes, not {type(data).__name__}; serialise the value "
        "first (e.g. json.dumps)"
    )


def _seal(
    state: _KeyState, ctx_bytes: bytes, pt: bytes | bytearray | memoryview, mid: bytes
) -> bytes:
    """A single-shot message under ``state``'s data key (docs/format.md sections 2-5).

    ``mid`` is the message id (24 random bytes and the manifest marker). One HMAC gives the
    content key and the commitment; the key section is ``state``'s with this message's MAC.
    """
    derived = state.derive(mid)
    aes = AESGCM(derived[:32])
    aad = SINGLE_PREFIX + mid + ctx_bytes + derived[32:]
    derived = b""  # keep key material out of the traceback's frame locals
    head = aad + state.head + layout_mac(aes, state.layout)
    if len(head) > MAX_HEADER_SIZE:
        header_bytes(aad, state.head)  # raises, with the sizes
    return head + aes.encrypt(_FINAL0, pt, aad)


def _batch_contexts(
    contexts: Mapping[str, str] | Sequence[Mapping[str, str] | None] | None,
    n: int,
    error: type[TigerSealError],
) -> Sequence[Mapping[str, str] | None]:
    """One context per item: ``None`` and a single mapping apply to every item."""
    if contexts is None or isinstance(contexts, Mapping):
        return [contexts] * n
    if isinstance(contexts, (str, bytes)) or len(contexts) != n:
        got = "a str" if isinstance(contexts, (str, bytes)) else f"{len(contexts)} contexts"
        raise error(
            f"the batch has {n} items and {got}; pass one context (or None) per item, or one "
            "mapping for all"
        )
    return contexts


def _batch_failure_message(failures: Mapping[int, DecryptionError], total: int) -> str:
    shown = list(failures.items())[:10]
    detail = "; ".join(f"#{i}: {type(e).__name__}: {e}" for i, e in shown)
    more = f"; and {len(failures) - len(shown)} more" if len(failures) > len(shown) else ""
    return (
        f"{len(failures)} of {total} messages did not decrypt (the others did; see "
        f".failures, or pass return_exceptions=True): {detail}{more}"
    )


class _KeyState:
    """A data key ready to protect messages: what every message under it shares, built once.

    ``head`` is the key section with the manifest entry up to its MAC, ``layout`` what that MAC
    covers. :meth:`derive` gives a message's content key and commitment; from a key's second
    message on (cache, batch) with the HMAC key schedule precomputed. Holds the data key: never
    logged, dropped with the cache entry.
    """

    __slots__ = ("dek", "head", "layout", "okm", "section", "used", "wrapped")

    def __init__(self, dek: bytes, wrapped: tuple[WrappedKey, ...]) -> None:
        self.dek = dek
        self.wrapped = wrapped
        # Refuses more than 15 wrapped keys (no room for the manifest) and oversized entries.
        self.section, self.head, self.layout = key_section_parts(wrapped)
        self.okm: Callable[[bytes], bytes] | None = None
        self.used = False

    def derive(self, message_id: bytes) -> bytes:
        """Content key || commitment of a message (docs/format.md, section 4)."""
        fn = self.okm
        if fn is not None:
            return fn(message_id)
        if self.used:
            # A second message under this key (cache, batch): precompute the HMAC key schedule
            # for it and the next ones (a benign race: two threads build the same function).
            fn = self.okm = key_deriver(self.dek)
            return fn(message_id)
        self.used = True  # the first message (for a fresh key, the only one): one HMAC
        return okm(self.dek, message_id)


class EncryptionService:
    """Envelope encryption: a fresh data key per message, wrapped by every configured provider.

    The first provider generates data keys; every provider wraps them, so any one of them can
    decrypt (two KMS regions, or KMS plus an offline recovery key). Decryption tries only
    providers that own a wrapped key in the message, and never any provider that is not
    configured.

    Args:
        providers: one provider or several (primary first).
        cache: a :class:`CachePolicy` (or a ready :class:`DataKeyCache`) to reuse data keys and
            cut calls to remote key stores; ``None`` (the default) disables caching.
        frame_size: plaintext bytes per frame for :meth:`encrypt_stream`.

    Thread-safe: share one instance.
    """

    def __init__(
        self,
        providers: KeyProvider | Sequence[KeyProvider],
        *,
        cache: CachePolicy | DataKeyCache | None = None,
        frame_size: int = DEFAULT_FRAME_SIZE,
    ) -> None:
        provs = (providers,) if isinstance(providers, KeyProvider) else tuple(providers)
        if not provs:
            raise ConfigError(
                "an EncryptionService needs at least one key provider; set "
                "TIGERSEAL_KEY_PROVIDERS (e.g. env://ENCRYPTION_MASTER_KEY)"
            )
        if not 1 <= frame_size <= MAX_FRAME_SIZE:
            raise ConfigError(f"frame_size must be between 1 and {MAX_FRAME_SIZE} bytes")
        self.providers: tuple[KeyProvider, ...] = provs
        self.cache: DataKeyCache | None = (
            DataKeyCache(cache) if isinstance(cache, CachePolicy) else cache
        )
        # A cache made here is this service's alone: close() empties it. One passed in may
        # serve other services too and stays its owner's to clear.
        self._owns_cache = isinstance(cache, CachePolicy)
        self.frame_size = frame_size
        self._calls: Counter[str] = Counter()
        self._calls_lock = threading.Lock()

    # -- metrics -----------------------------------------------------------------------------
    def _count(self, what: str, n: int = 1) -> None:
        with self._calls_lock:
            self._calls[what] += n
        if _observe.on and what == "decrypt_failures":
            _observe.decrypt_failure()

    @property
    def metrics(self) -> dict[str, int]:
        """Provider calls and cache use since creation.

        Keys: ``generate``, ``wrap``, ``unwrap``, ``rewrap`` (calls to providers, the figure that
        costs money and latency with KMS/Vault/HSM), ``provider_calls`` (their sum),
        ``cache_hits``, ``cache_misses`` and ``decrypt_failures``.
        """
        with self._calls_lock:
            m = dict(self._calls)
        for k in ("generate", "wrap", "unwrap", "rewrap"):
            m.setdefault(k, 0)
        m.setdefault("decrypt_failures", 0)
        m["provider_calls"] = m["generate"] + m["wrap"] + m["unwrap"] + m["rewrap"]
        m["cache_hits"] = self.cache.hits if self.cache else 0
        m["cache_misses"] = self.cache.misses if self.cache else 0
        return m

    # -- data keys ---------------------------------------------------------------------------
    def _new_data_key(
        self,
        context: Context,
        ctx_bytes: bytes,
        nbytes: int,
        *,
        use_cache: bool = True,
    ) -> _KeyState:
        cache = self.cache if use_cache else None
        if cache is not None:
            hit = cache.take_prepared(ctx_bytes, nbytes, self.providers)
            if _observe.on:
                _observe.cache_lookup("encrypt", hit is not None)
            if hit is not None:
                state: _KeyState = hit
                return state
        primary = self.providers[0]
        try:
            # With an observer registered, provider calls are timed (observe.timed).
            dk = (
                _observe.timed(primary, "generate", primary.generate_data_key, context)
                if _observe.on
                else primary.generate_data_key(context)
            )
            self._count("generate")
            wrapped = [dk.wrapped]
            for p in self.providers[1:]:
                wrapped.append(
                    _observe.timed(p, "wrap", p.wrap, dk.plaintext, context)
                    if _observe.on
                    else p.wrap(dk.plaintext, context)
                )
                self._count("wrap")
        except TigerSealError:
            raise
        except Exception as exc:  # a provider bug must not leak its internals as-is
            raise EncryptionError(
                f"a key provider failed to create a data key ({type(exc).__name__}); run "
                "`tigerseal doctor` to check the configured providers"
            ) from exc
        wrapped_t = tuple(wrapped)
        state = _KeyState(dk.plaintext, wrapped_t)  # the manifest's MAC is added per message
        if cache is not None:
            state.okm = key_deriver(dk.plaintext)  # a cached key serves many messages
            cache.put(
                ctx_bytes,
                dk.plaintext,
                wrapped_t,
                state.section,
                nbytes,
                self.providers,
                prepared=state,
            )
            # The key is held anyway; let this process decrypt its own messages without a call.
            for w, p in zip(wrapped_t, self.providers, strict=True):
                cache.put_unwrapped(w, ctx_bytes, dk.plaintext, p, prepared=state.okm)
        return state

    def _unwrap(
        self, header: Header, context: Context, ctx_bytes: bytes
    ) -> tuple[bytes, Callable[[bytes], bytes] | None]:
        """Unwrap the message's data key with the first configured provider that can.

        Returns the data key and, for a key from the cache, its prepared derivation.
        """
        errors: list[TigerSealError] = []
        tried = False
        # Bound the provider calls a hostile key section can cause: each (provider, key id) is
        # tried once, so junk copies under a configured key cost one unwrap, not one each.
        seen: set[tuple[str, str]] = set()
        cache = self.cache
        for w in header.wrapped_keys:
            identity = (w.provider, w.key_id)
            if identity in seen:
                continue
            seen.add(identity)
            for p in self.providers:
                if not p.owns(w):
                    continue
                tried = True
                if cache is not None:
                    hit = cache.lookup(w, ctx_bytes, p)
                    if _observe.on:
                        _observe.cache_lookup("decrypt", hit is not None)
                    if hit is not None:
                        return hit[0], hit[1]
                try:
                    dek = (
                        _observe.timed(p, "unwrap", p.unwrap, w, context)
                        if _observe.on
                        else p.unwrap(w, context)
                    )
                    self._count("unwrap")
                except (DecryptionError, KeyProviderError) as exc:
                    self._count("unwrap")
                    errors.append(exc)
                    continue
                except TigerSealError:
                    raise
                except Exception as exc:
                    raise DecryptionError(
                        f"the {p.scheme} provider failed to unwrap the data key "
                        f"({type(exc).__name__}); run `tigerseal doctor`"
                    ) from exc
                derive_fn = None
                if cache is not None:
                    derive_fn = key_deriver(dek)
                    cache.put_unwrapped(w, ctx_bytes, dek, p, prepared=derive_fn)
                return dek, derive_fn
        if not tried:
            # Provider names and key ids come from the (unauthenticated) key section: escaped,
            # so a hostile header cannot forge log lines or drive the terminal.
            have = ", ".join(
                f"{escape_control(w.provider)}:{escape_control(w.key_id, limit=200)} "
                f"v{w.key_version}"
                for w in header.wrapped_keys
            )
            configured = ", ".join(p.uri for p in self.providers)
            raise NoMatchingKeyError(
                f"none of the configured key providers ({configured}) holds a key this message "
                f"was wrapped with ({have}); configure one of those keys in "
                "TIGERSEAL_KEY_PROVIDERS"
            )
        # Prefer the most actionable error: a retired version or an outage over "not authentic".
        for kind in (KeyVersionRetired, ProviderUnavailable, AccessDenied, KeyDisabled):
            for e in errors:
                if isinstance(e, kind):
                    raise e
        last = errors[-1]
        if isinstance(last, KeyNotFound):
            # The header names a key version the provider lacks: the message cannot be read
            # here, which callers catch as a DecryptionError like any other unreadable message.
            raise NoMatchingKeyError(str(last)) from last
        raise last

    # -- context -----------------------------------------------------------------------------
    @staticmethod
    def _check_context(header: Header, context: Mapping[str, str] | None) -> None:
        if context is None or context.__class__ is dict:
            expected: dict[str, str] = context or {}  # a plain dict compares as it is
        else:
            expected = dict(context)
        if expected == header.context:
            return
        missing = sorted(set(header.context) - set(expected))
        extra = sorted(set(expected) - set(header.context))
        common = set(expected) & set(header.context)
        differ = sorted(k for k in common if expected[k] != header.context[k])
        parts = []
        if missing:
            parts.append(f"the message is bound to keys you did not pass: {missing}")
        if extra:
            parts.append(f"you passed keys the message is not bound to: {extra}")
        if differ:
            parts.append(f"values differ for: {differ}")
        raise ContextMismatchError(
            "encryption context mismatch: " + "; ".join(parts) + ". Pass the exact context "
            "used to encrypt (`tigerseal inspect` shows it)"
        )

    # -- single messages ---------------------------------------------------------------------
    def encrypt(
        self, data: str | bytes | bytearray | memoryview, context: Mapping[str, str] | None = None
    ) -> EncryptedData:
        """Encrypt a value in memory.

        Args:
            data: text (encoded as UTF-8) or bytes.
            context: non-secret key/value pairs bound to the message; decryption must present
                the same pairs (e.g. ``{"table": "accounts", "column": "tiger_id", "id": "42"}``).

        Raises:
            EncryptionError: bad input, or no provider could create a data key.
        """
        pt = _plaintext(data)
        if context:
            ctx: Context = context
            ctx_bytes = encode_context(context)
        else:
            ctx, ctx_bytes = {}, _NO_CONTEXT
        state = self._new_data_key(ctx, ctx_bytes, len(pt))
        message_id = token_bytes(_RANDOM_ID_SIZE) + MANIFEST_MARKER
        # The header is parsed from these bytes only if someone asks for it.
        return EncryptedData._written(_seal(state, ctx_bytes, pt, message_id))

    def decrypt(self, message: MessageInput, context: Mapping[str, str] | None = None) -> bytes:
        """Decrypt a message written by :meth:`encrypt` (or a framed one, in memory).

        Args:
            message: ``EncryptedData``, its bytes, its ``ts1.`` text or its JSON.
            context: the context given at encryption (``None`` if there was none).

        Raises:
            ContextMismatchError: ``context`` differs from the message's.
            NoMatchingKeyError: no configured provider holds a key the message was wrapped with.
            DecryptionError: the message is malformed, tampered with or under another key.
        """
        try:
            if isinstance(message, bytes) and message[:3] == MAGIC:
                data: bytes = message
                header = parse_header(data)  # parsed once, here
            elif message.__class__ is EncryptedData and message._header is not None:
                # Parsed already (tigerseal-sql's column values): no re-parse, no call layers.
                data, header = message._data, message._header
            else:
                ed = EncryptedData.parse(message)
                data, header = ed.to_bytes(), ed.header
            self._check_context(header, context)
            return self._open(data, header, None)
        except DecryptionError:
            self._count("decrypt_failures")
            raise

    def _open(self, data: bytes, header: Header, memo: _UnwrapMemo | None) -> bytes:
        """Verify and decrypt a parsed message whose context was checked."""
        key = aes = result = None
        try:
            if header.content_type == CONTENT_SINGLE:
                # Reject a malformed body before any key provider is called (a KMS call costs).
                if len(data) - header.size < TAG_SIZE:
                    _stream.check_layout(data[header.size :], header, complete=True)  # raises
                key, aes = self._content_key(header, memo)
                try:
                    result = aes.decrypt(_FINAL0, memoryview(data)[header.size :], header.aad)
                except InvalidTag:
                    raise DecryptionError(
                        "the message failed authentication: it was modified, truncated or corrupted"
                    ) from None
            else:
                body = memoryview(data)[header.size :]
                _stream.check_layout(body, header, complete=True)
                key, aes = self._content_key(header, memo)
                result = _stream.decrypt_body(body, header, key)
        except BaseException:
            # Error reporters capture traceback frame locals: drop the content key and any
            # verified plaintext from this frame before the exception leaves it.
            key = aes = result = None
            raise
        return result

    def _content_key(self, header: Header, memo: _UnwrapMemo | None = None) -> tuple[bytes, AESGCM]:
        manifest = header.manifest
        if manifest is not None:
            if manifest.key_version != len(header.wrapped_keys):
                raise _key_section_error(header)  # before any provider is called
        elif header.expects_manifest:
            raise _key_section_error(header)
        ctx_bytes = header.aad[42:-32]
        if memo is None:
            dek, derive_fn = self._unwrap(header, header.context, ctx_bytes)
        else:
            # A batch: messages under the same wrapped keys and context unwrap once (each still
            # checks its own commitment and manifest below).
            memo_key = (ctx_bytes, header.wrapped_keys)
            hit = memo.get(memo_key)
            if hit is None:
                try:
                    dek, derive_fn = self._unwrap(header, header.context, ctx_bytes)
                except DecryptionError as exc:
                    memo[memo_key] = exc
                    raise
                memo[memo_key] = (dek, derive_fn)
            elif isinstance(hit, DecryptionError):
                # The same failure for another message: raised with a fresh traceback (a
                # re-raise would prepend this frame to it, once per message of the batch).
                raise hit.with_traceback(None)
            else:
                dek, derive_fn = hit
                if derive_fn is None:  # a second message under this key: precompute
                    derive_fn = key_deriver(dek)
                    memo[memo_key] = (dek, derive_fn)
        derived = (
            derive_fn(header.message_id) if derive_fn is not None else okm(dek, header.message_id)
        )
        dek = b""  # keep key material out of the traceback's frame locals
        key = derived[:32]
        if not hmac.compare_digest(derived[32:], header.commitment):
            derived = key = b""
            raise DecryptionError(
                "the data key does not match the message's key commitment: a wrapped key was "
                "replaced or the message was modified"
            )
        derived = b""
        aes = AESGCM(key)
        if manifest is not None and not hmac.compare_digest(
            layout_mac(aes, header.layout or key_section_layout(header.wrapped_keys)),
            manifest.blob,
        ):
            key = b""
            del aes  # holds the content key
            raise _key_section_error(header)
        return key, aes

    # -- batches -----------------------------------------------------------------------------
    def encrypt_many(
        self,
        values: Iterable[str | bytes | bytearray | memoryview],
        contexts: Mapping[str, str] | Sequence[Mapping[str, str] | None] | None = None,
    ) -> list[EncryptedData]:
        """Encrypt many small values (table columns, a batch of tokens) in one call.

        Each result is an ordinary message, exactly what :meth:`encrypt` writes: independently
        decryptable, bound to its own context, with its own message id and content key. What
        the batch shares is the data key of values with the *same* context (at most
        :data:`BATCH_KEY_MESSAGES` of them): one data key made and wrapped for them instead of
        one per value, as the data-key cache would share it (docs/encryption.md, "Batches").
        Values with different contexts never share a data key, because each wrapped copy is
        bound to its context by the key provider. With the data-key cache configured, the
        cache decides instead, with its limits, per value.

        Args:
            values: texts (encoded as UTF-8) or bytes.
            contexts: ``None`` (no context), one mapping for every value, or a sequence with
                one context (or ``None``) per value.

        Returns:
            One :class:`EncryptedData` per value, in order.

        Raises:
            EncryptionError: a bad value or context (the message names its index), a context
                sequence of another length, or no provider could create a data key.
        """
        items = list(values)
        ctxs = _batch_contexts(contexts, len(items), EncryptionError)
        n = len(items)
        ids = token_bytes(_RANDOM_ID_SIZE * n)  # every message id's random part, one call
        shared: dict[bytes, list[Any]] = {}  # encoded context -> [key state, messages]
        cache = self.cache
        out: list[EncryptedData] = []
        encoded: tuple[Mapping[str, str] | None, bytes] = (None, _NO_CONTEXT)
        for i, value in enumerate(items):
            try:
                pt = _plaintext(value)
                ctx = ctxs[i]
                if ctx is not encoded[0]:  # one mapping for all: encoded once
                    encoded = (ctx, encode_context(ctx) if ctx else _NO_CONTEXT)
            except EncryptionError as exc:
                raise EncryptionError(f"value {i} of the batch: {exc}") from None
            ctx_bytes = encoded[1]
            if cache is not None:
                state = self._new_data_key(ctx or {}, ctx_bytes, len(pt))
            else:
                slot = shared.get(ctx_bytes)
                if slot is None or slot[1] >= BATCH_KEY_MESSAGES:
                    slot = shared[ctx_bytes] = [
                        self._new_data_key(ctx or {}, ctx_bytes, 0, use_cache=False),
                        0,
                    ]
                slot[1] += 1
                state = slot[0]
            message_id = ids[i * _RANDOM_ID_SIZE : (i + 1) * _RANDOM_ID_SIZE] + MANIFEST_MARKER
            out.append(EncryptedData._written(_seal(state, ctx_bytes, pt, message_id)))
        return out

    @overload
    def decrypt_many(
        self,
        messages: Iterable[MessageInput],
        contexts: Mapping[str, str] | Sequence[Mapping[str, str] | None] | None = ...,
        *,
        return_exceptions: Literal[False] = ...,
    ) -> list[bytes]: ...

    @overload
    def decrypt_many(
        self,
        messages: Iterable[MessageInput],
        contexts: Mapping[str, str] | Sequence[Mapping[str, str] | None] | None = ...,
        *,
        return_exceptions: Literal[True],
    ) -> list[bytes | DecryptionError]: ...

    def decrypt_many(
        self,
        messages: Iterable[MessageInput],
        contexts: Mapping[str, str] | Sequence[Mapping[str, str] | None] | None = None,
        *,
        return_exceptions: bool = False,
    ) -> list[bytes] | list[bytes | DecryptionError]:
        """Decrypt many messages in one call; each is checked exactly as :meth:`decrypt` would.

        Messages under the same wrapped data key and context (written by one
        :meth:`encrypt_many`, or through the data-key cache) unwrap it once per batch; each
        message still verifies its own context, commitment, key-section manifest and tag.

        Args:
            messages: messages in any form :meth:`decrypt` accepts.
            contexts: ``None`` (no context), one mapping for every message, or a sequence with
                one context (or ``None``) per message.
            return_exceptions: return each failed message's :class:`DecryptionError` in its
                place instead of raising.

        Returns:
            The plaintexts, in order (with ``return_exceptions``, errors in place of the
            messages that failed).

        Raises:
            BatchDecryptionError: some messages failed; ``failures`` maps each index to its
                error (what :meth:`decrypt` raises for that message alone), and the message
                lists them. Messages that decrypted are not affected by the others' failures.
            KeyProviderError: a key provider failed operationally (an outage, access denied):
                raised at once, as :meth:`decrypt` raises it.
        """
        items = list(messages)
        ctxs = _batch_contexts(contexts, len(items), DecryptionError)
        memo: _UnwrapMemo = {}
        results: list[bytes | DecryptionError] = []
        failures: dict[int, DecryptionError] = {}
        parsed: list[tuple[bytes, Header] | DecryptionError] = []
        for i, message in enumerate(items):
            try:
                if isinstance(message, bytes) and message[:3] == MAGIC:
                    data: bytes = message
                    header = parse_header(data)
                else:
                    ed = EncryptedData.parse(message)
                    data, header = ed.to_bytes(), ed.header
                self._check_context(header, ctxs[i])
                parsed.append((data, header))
            except DecryptionError as exc:
                parsed.append(exc)
        try:
            self._prefetch(memo, [x for x in parsed if not isinstance(x, DecryptionError)])
            for i, item in enumerate(parsed):
                try:
                    if isinstance(item, DecryptionError):
                        raise item
                    results.append(self._open(item[0], item[1], memo))
                except DecryptionError as exc:
                    self._count("decrypt_failures")
                    failures[i] = exc
                    results.append(exc)
        except BaseException:
            # A provider outage (or an interrupt) leaves mid-batch: error reporters capture
            # frame locals, so the plaintexts decrypted so far go first.
            results.clear()
            raise
        finally:
            memo.clear()  # unwrapped data keys: not kept past the call, nor in a traceback
        if failures and not return_exceptions:
            results.clear()  # verified plaintext must not ride along in the traceback's locals
            raise BatchDecryptionError(_batch_failure_message(failures, len(items)), failures)
        return results

    def decrypt_to_string(
        self, message: MessageInput, context: Mapping[str, str] | None = None
    ) -> str:
        """Decrypt and decode as UTF-8 (the seed's ``decrypt_to_string``)."""
        raw = self.decrypt(message, context)
        try:
            return raw.decode()
        except UnicodeDecodeError:
            pass
        # Raised outside the except block and after dropping ``raw``: the UnicodeDecodeError
        # (its ``object`` is the plaintext) is not chained, and no frame local holds the value.
        raw = b""
        raise DecryptionError("the decrypted value is not UTF-8 text; use decrypt() to get bytes")

    def _prefetch(self, memo: _UnwrapMemo, parsed: Sequence[tuple[bytes, Header]]) -> None:
        """Unwrap a batch's distinct data keys with each provider's batch call (Vault, HSM).

        Only providers that implement ``unwrap_many`` themselves are asked (for the others it is
        the same loop as message by message), only for messages that passed every check made
        before a provider call (context, body layout, key-section count), and only the copy
        that :meth:`_unwrap` would try first. What comes back fills ``memo``, exactly what
        :meth:`_unwrap` would have returned; each message still checks its commitment, manifest
        and tag. A batch call that fails changes nothing: its messages are unwrapped one by
        one, so each reports its own error.
        """
        cache = self.cache
        batches: dict[int, tuple[KeyProvider, list[Any], list[tuple[WrappedKey, Context]]]] = {}
        for data, header in parsed:
            manifest = header.manifest
            if (manifest is None and header.expects_manifest) or (
                manifest is not None and manifest.key_version != len(header.wrapped_keys)
            ):
                continue
            if header.content_type == CONTENT_SINGLE:
                if len(data) - header.size < TAG_SIZE:
                    continue
            else:
                try:
                    _stream.check_layout(memoryview(data)[header.size :], header, complete=True)
                except DecryptionError:
                    continue
            ctx_bytes = header.aad[42:-32]
            memo_key = (ctx_bytes, header.wrapped_keys)
            if memo_key in memo:
                continue
            first = self._first_owner(header.wrapped_keys)
            if first is None:
                continue
            w, p = first
            if not isinstance(p, BatchWrap):
                continue  # no batch API: nothing to gain over message by message
            if cache is not None:
                hit = cache.lookup(w, ctx_bytes, p)
                if hit is not None:
                    memo[memo_key] = (hit[0], hit[1])
                    continue
            batch = batches.setdefault(id(p), (p, [], []))
            memo[memo_key] = _QUEUED
            batch[1].append(memo_key)
            batch[2].append((w, header.context))
        for p, keys, work in batches.values():
            for k in keys:
                del memo[k]
            if len(work) < 2:
                continue  # one key: message by message is the same call
            try:
                deks = (
                    _observe.timed(p, "unwrap", unwrap_many, p, work)
                    if _observe.on
                    else unwrap_many(p, work)
                )
            except Exception:  # each message then reports its own error, one by one
                self._count("unwrap", len(work))
                continue
            self._count("unwrap", len(work))
            for k, (w, _), dek in zip(keys, work, deks, strict=True):
                memo[k] = (dek, None)
                if cache is not None:
                    cache.put_unwrapped(w, k[0], dek, p)

    def _first_owner(self, wrapped: Sequence[WrappedKey]) -> tuple[WrappedKey, KeyProvider] | None:
        """The (wrapped key, provider) pair :meth:`_unwrap` tries first."""
        for w in wrapped:
            for p in self.providers:
                if p.owns(w):
                    return w, p
        return None

    # -- streams -----------------------------------------------------------------------------
    def encrypt_stream(
        self,
        src: BinaryIO,
        dst: BinaryIO,
        context: Mapping[str, str] | None = None,
        *,
        frame_size: int | None = None,
    ) -> int:
        """Encrypt ``src`` to ``dst`` in frames, in constant memory. Returns plaintext bytes."""
        fs = frame_size or self.frame_size
        if not 1 <= fs <= MAX_FRAME_SIZE:
            raise ConfigError(f"frame_size must be between 1 and {MAX_FRAME_SIZE} bytes")
        ctx = context or {}
        ctx_bytes = encode_context(ctx)
        # The cache counts bytes; a stream's size is unknown up front, so streams never reuse.
        state = self._new_data_key(ctx, ctx_bytes, 0, use_cache=False)
        message_id = new_message_id()
        key, commitment = derive(state.dek, message_id)
        aad = build_aad(CONTENT_FRAMED, fs, message_id, ctx_bytes, commitment)
        section = state.head + layout_mac(AESGCM(key), state.layout)
        dst.write(header_bytes(aad, section))  # refuses an oversized header before any write
        return _stream.encrypt_frames(src, dst, key, aad, fs)

    def decrypt_stream(
        self, src: BinaryIO, dst: BinaryIO, context: Mapping[str, str] | None = None
    ) -> int:
        """Decrypt a framed message from ``src`` to ``dst``. Returns plaintext bytes written.

        Each frame is written only after it authenticated; an error after some frames means
        ``dst`` holds a verified prefix, so write to a temporary file and rename it on success
        (the CLI does).

        Raises:
            DecryptionError: tampering, truncation, reordering, duplication or extension.
        """
        key = aes = out = None
        try:
            head = _stream.read_up_to(src, MAX_HEADER_SIZE)
            header = parse_header(head)
            self._check_context(header, context)
            # Check the framing of what was read (all of a message under 64 KiB) before any key
            # provider is called.
            complete = len(head) < MAX_HEADER_SIZE
            _stream.check_layout(memoryview(head)[header.size :], header, complete)
            key, aes = self._content_key(header)
            if header.content_type != CONTENT_FRAMED:
                rest = head[header.size :] + src.read()
                try:
                    out = aes.decrypt(_FINAL0, rest, header.aad)
                except InvalidTag:
                    raise DecryptionError("the message failed authentication") from None
                dst.write(out)
                n = len(out)
            else:
                n = _stream.decrypt_frames(
                    _stream.Prefixed(head[header.size :], src), header, key, dst
                )
        except BaseException as exc:
            key = aes = out = None  # no key or plaintext in the traceback's frame locals
            if isinstance(exc, DecryptionError):
                self._count("decrypt_failures")
            raise
        return n

    # -- rotation ----------------------------------------------------------------------------
    def _owner(self, w: WrappedKey) -> KeyProvider | None:
        for p in self.providers:
            if p.owns(w):
                return p
        return None

    @staticmethod
    def _stale(p: KeyProvider, w: WrappedKey) -> bool:
        # Version-less backends (KMS: 0) rotate behind the key id, so always re-encrypt there.
        return p.key_version == 0 or w.key_version != p.key_version

    def rewrap(self, message: MessageInput) -> EncryptedData:
        """Move the message's wrapped data keys to each provider's newest key version.

        The payload is not re-encrypted: only the key section changes (it is outside the
        authenticated header, and the key commitment still binds the data key). Wrapped keys of
        providers that are not configured are kept as they are.
        """
        return self.rewrap_many([message])[0]

    def rewrap_many(self, messages: Iterable[MessageInput]) -> list[EncryptedData]:
        """Rewrap several messages with each provider's batch API (Vault, HSM) where it has one."""
        eds = [EncryptedData.parse(m) for m in messages]
        heads = self.rewrap_headers([ed.header for ed in eds])
        out = []
        for ed, head in zip(eds, heads, strict=True):
            if head is None:
                out.append(ed)
            else:
                out.append(EncryptedData(head + bytes(ed)[ed.header.size :]))
        return out

    def rewrap_headers(self, headers: Sequence[Header]) -> list[bytes | None]:
        """New header bytes for each header whose wrapped keys are stale, else ``None``.

        Works on headers alone, so files of any size are rewrapped by rewriting their first
        bytes and copying the body (``tigerseal rewrap``). When a provider moves a copy to
        another key id (AWS KMS: an allowed key or a Multi-Region replica to the configured
        ARN), the key-section manifest is verified and recomputed, which takes one unwrap.

        Raises:
            EncryptionError: a new header would be over the format's size limit.
            DecryptionError: a moved message's key section or commitment does not verify.
        """
        for h in headers:
            if (h.manifest is not None or h.expects_manifest) and _key_section_problem(h):
                # Copies were removed or added: refuse as decrypt would, before any provider
                # call, rather than spend calls on it and write the damage back as "rewrapped".
                raise _key_section_error(h)
        new_keys = [list(h.wrapped_keys) for h in headers]
        jobs: dict[int, list[tuple[int, int]]] = {}
        items: dict[int, list[tuple[WrappedKey, Context]]] = {}
        provs: dict[int, KeyProvider] = {}
        for i, h in enumerate(headers):
            for j, w in enumerate(h.wrapped_keys):
                p = self._owner(w)
                if p is None or not self._stale(p, w):
                    continue
                pid = id(p)
                provs[pid] = p
                jobs.setdefault(pid, []).append((i, j))
                items.setdefault(pid, []).append((w, h.context))
        for pid, p in provs.items():
            result = (
                _observe.timed(p, "rewrap_many", rewrap_many, p, items[pid])
                if _observe.on
                else rewrap_many(p, items[pid])
            )
            self._count("rewrap", len(result))
            for (i, j), nw in zip(jobs[pid], result, strict=True):
                new_keys[i][j] = nw
        if provs:
            from tigerseal.audit._emit import audit_rewrap  # lazy: the audit package needs us

            audit_rewrap(
                sum(map(len, jobs.values())), ((p.uri, p.key_version) for p in provs.values())
            )
        out: list[bytes | None] = []
        for h, keys in zip(headers, new_keys, strict=True):
            if keys == list(h.wrapped_keys):
                out.append(None)
                continue
            manifest = h.manifest
            if manifest is not None and _layout(keys) != _layout(h.wrapped_keys):
                manifest = self._remac(h, tuple(keys))
            # Otherwise the manifest stays valid: it covers providers and key ids, not versions
            # or blobs, and a rotation's rewrap keeps those.
            out.append(header_bytes(h.aad, encode_key_section(tuple(keys), manifest)))
        return out

    def _remac(self, header: Header, keys: tuple[WrappedKey, ...]) -> WrappedKey:
        """The manifest for ``keys`` after a rewrap moved a copy to another key id.

        Happens when a provider rewraps to a key other than the one named in the header (AWS
        KMS: an allowed key or a Multi-Region replica moved to the configured ARN). The MAC
        covers key ids, so it is recomputed under the content key: one unwrap, which also
        verifies the old manifest and the commitment, so a tampered key section is refused
        rather than blessed.
        """
        key, aes = self._content_key(header)
        del key  # only the cipher is needed; keep key bytes out of traceback frame locals
        try:
            return WrappedKey(MANIFEST_PROVIDER, "", len(keys), key_section_mac(aes, keys))
        finally:
            del aes  # holds the content key

    def needs_rewrap(self, message: MessageInput | Header) -> bool:
        """Whether any wrapped key of a configured provider is not on its newest version."""
        header = message if isinstance(message, Header) else EncryptedData.parse(message).header
        for w in header.wrapped_keys:
            p = self._owner(w)
            if p is not None and p.key_version and w.key_version != p.key_version:
                return True
        return False

    # -- inspection --------------------------------------------------------------------------
    @staticmethod
    def inspect(message: MessageInput) -> dict[str, Any]:
        """Describe a message's header without decrypting it (no key or provider needed).

        ``key_section`` reports the manifest (docs/format.md, section 3.1): ``written`` (copies
        the writer made, ``None`` for messages without a manifest), ``present`` and
        ``problem`` (``None``, or why decryption will refuse the message: copies were removed
        or added, or the manifest was removed). Without keys only the counts can be checked;
        decryption also verifies the manifest's MAC.
        """
        ed = EncryptedData.parse(message)
        h = ed.header
        body = len(ed) - h.size
        if h.content_type == CONTENT_SINGLE:
            payload: int | None = max(body - TAG_SIZE, 0)
        else:
            payload = None
        return {
            "format": "tigerseal/1",
            "content_type": "framed" if h.content_type == CONTENT_FRAMED else "single",
            "frame_size": h.frame_size,
            "message_id": h.message_id.hex(),
            "context": dict(h.context),
            "wrapped_keys": [
                {
                    "provider": w.provider,
                    "key_id": w.key_id,
                    "key_version": w.key_version,
                    "wrapped_size": len(w.blob),
                }
                for w in h.wrapped_keys
            ],
            "key_section": key_section_report(h),
            "header_size": h.size,
            "body_size": body,
            "total_size": len(ed),
            "payload_size": payload,
        }

    def close(self) -> None:
        """Close every provider and drop the data keys of the cache this service made.

        ``tigerseal.reset_defaults()`` closes the default service this way, so its cached keys
        do not outlive it in memory (a :class:`DataKeyCache` passed in is left to its owner).
        """
        if getattr(self, "_owns_cache", False) and self.cache is not None:
            self.cache.clear()
        for p in self.providers:
            p.close()

    def __repr__(self) -> str:
        uris = " ".join(p.uri for p in self.providers)
        cache = "on" if self.cache else "off"
        return f"<EncryptionService {uris} cache={cache}>"


def _key_section_problem(h: Header) -> str | None:
    """What the header's manifest says is wrong with its key section, without any key."""
    m = h.manifest
    if m is None:
        if h.expects_manifest:
            return (
                "the key-section manifest was removed (the message id says it had one): "
                "wrapped copies of the data key may have been removed or added"
            )
        return None
    if m.key_version != len(h.wrapped_keys):
        return (
            f"{m.key_version} wrapped copies of the data key were written and "
            f"{len(h.wrapped_keys)} are present: copies were removed or added"
        )
    return None


def _key_section_error(h: Header) -> DecryptionError:
    problem = _key_section_problem(h) or (
        "the key-section manifest does not match: wrapped copies of the data key were "
        "removed, added, reordered or relabelled"
    )
    return DecryptionError(
        f"the message's key section was modified after it was written: {problem}. The payload "
        "was not decrypted; restore the message from a backup (`tigerseal inspect` shows the "
        "key section)"
    )


def key_section_report(h: Header) -> dict[str, Any]:
    """The manifest check of a header, without keys: what ``inspect`` reports as ``key_section``.

    ``{"manifest": bool, "written": int | None, "present": int, "problem": str | None}``. For
    tools that parse only a file's header (``tigerseal inspect`` on large files).
    """
    m = h.manifest
    return {
        "manifest": m is not None,
        "written": m.key_version if m is not None else None,
        "present": len(h.wrapped_keys),
        "problem": _key_section_problem(h),
    }


def _layout(keys: Sequence[WrappedKey]) -> list[tuple[str, str]]:
    """What the manifest's MAC covers of each wrapped key (docs/format.md, section 3.1)."""
    return [(w.provider, w.key_id) for w in keys]
