"""Envelope format v1: header encoding, parsing, key derivation and nonces.

Byte-level specification: ``docs/format.md``. This module is the only place that knows the
layout; everything above it works with :class:`Header`.
"""

from __future__ import annotations

import functools
import hmac
import secrets
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from cryptography.hazmat.primitives.hashes import SHA512
from cryptography.hazmat.primitives.hmac import HMAC

from tigerseal.errors import DecryptionError, EncryptionError
from tigerseal.spi._provider import WrappedKey

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "CONTENT_FRAMED",
    "CONTENT_SINGLE",
    "DEFAULT_FRAME_SIZE",
    "MAGIC",
    "MANIFEST_MARKER",
    "MANIFEST_PROVIDER",
    "MAX_FRAME_SIZE",
    "MAX_HEADER_SIZE",
    "MAX_WRAPPED_KEYS",
    "SINGLE_PREFIX",
    "Header",
    "derive",
    "encode_context",
    "encode_key_section",
    "header_bytes",
    "key_deriver",
    "key_section_layout",
    "key_section_mac",
    "key_section_parts",
    "layout_mac",
    "new_message_id",
    "nonce",
    "not_utf8",
    "okm",
    "parse_header",
]

MAGIC = b"TSL"
VERSION = 1
SUITE_AES256GCM_HKDF_SHA512_COMMIT = 1
CONTENT_SINGLE = 1
CONTENT_FRAMED = 2
MESSAGE_ID_SIZE = 32
COMMITMENT_SIZE = 32
TAG_SIZE = 16
MAX_HEADER_SIZE = 65_536
MAX_WRAPPED_KEYS = 16
MAX_CONTEXT_PAIRS = 1024
MAX_PROVIDER_NAME = 64
MAX_KEY_ID = 2048
MAX_BLOB = 8192
MAX_FRAME_SIZE = 64 * 1024 * 1024
DEFAULT_FRAME_SIZE = 1024 * 1024
MAX_FRAMES = 2**32

_PREFIX = MAGIC + bytes([VERSION, SUITE_AES256GCM_HKDF_SHA512_COMMIT])
#: The authenticated header's first 10 bytes of every single-shot message.
SINGLE_PREFIX = _PREFIX + bytes([CONTENT_SINGLE]) + bytes(4)
_INFO_LABEL = b"tigerseal/v1/derive" + bytes([SUITE_AES256GCM_HKDF_SHA512_COMMIT])
_FIXED = struct.Struct(">BI")  # content type, frame size
_SHA512 = SHA512()
_NONCE_TAIL = (b"\x00\x00\x00\x00", b"\x01\x00\x00\x00")

#: Provider name of the key-section manifest entry (docs/format.md, section 3.1). It starts with
#: "#", which no URI scheme can, so no key provider owns it and readers that predate it skip it.
MANIFEST_PROVIDER = "#keys"
_MANIFEST_NAME = MANIFEST_PROVIDER.encode("ascii")
MANIFEST_MAC_SIZE = 16
#: The last 8 bytes of the message id of every message written with a manifest. The message id
#: is authenticated, so removing the manifest cannot pass the message off as an older one.
MANIFEST_MARKER = b"TSLkeys\x01"
_MAC_LABEL = b"tigerseal/v1/key-section"
# Frame nonces end in 00 or 01 (final flag); the manifest's GMAC uses 02, never a frame's.
_MANIFEST_NONCE = bytes(8) + b"\x02\x00\x00\x00"
# provider name length, "#keys", key id length 0
_MANIFEST_HEAD = bytes([len(MANIFEST_PROVIDER)]) + MANIFEST_PROVIDER.encode("ascii") + b"\x00\x00"


def derive(dek: bytes, message_id: bytes) -> tuple[bytes, bytes]:
    """Return ``(content_key, commitment)`` for a message (docs/format.md, section 4).

    HKDF-Expand with SHA-512, L = 64, PRK = the data key (HKDF-Extract is skipped: the data key
    is already uniformly random, RFC 5869 section 3.3). L equals SHA-512's output length, so
    HKDF-Expand is exactly one HMAC block, ``T(1) = HMAC(PRK, info || 0x01)``: computed as that
    one ``hmac.digest`` (the same bytes as ``HKDFExpand``, checked against the published
    vectors and by a property test; one C call instead of building a KDF object).
    """
    out = okm(dek, message_id)
    return out[:32], out[32:]


def okm(dek: bytes, message_id: bytes) -> bytes:
    """:func:`derive`'s 64 bytes, content key || commitment, unsplit (the hot path slices)."""
    return hmac.digest(dek, _INFO_LABEL + message_id + b"\x01", "sha512")


def key_deriver(dek: bytes) -> Callable[[bytes], bytes]:
    """``message_id -> okm`` (content key || commitment) for many messages under one data key.

    The same bytes as :func:`derive`, with the HMAC key schedule done once per data key and
    copied per message (about half the cost of a fresh HMAC): for cached data keys, which
    serve many messages. The returned function holds the data key; drop it with the key.
    """
    base = HMAC(dek, _SHA512)

    def derive_okm(message_id: bytes) -> bytes:
        h = base.copy()
        h.update(_INFO_LABEL + message_id + b"\x01")
        return h.finalize()

    return derive_okm


def new_message_id() -> bytes:
    """A message id for a message with a manifest: 24 random bytes, then the marker."""
    return secrets.token_bytes(MESSAGE_ID_SIZE - len(MANIFEST_MARKER)) + MANIFEST_MARKER


def key_section_mac(aes: AESGCM, wrapped: tuple[WrappedKey, ...]) -> bytes:
    """The manifest's MAC over the key section's layout (docs/format.md, section 3.1).

    GMAC under the message's content key: the 16-byte tag of AES-256-GCM with
    ``nonce = 00*8 || 02 || 00 00 00`` (no frame uses flag 02), an empty plaintext and
    ``aad = "tigerseal/v1/key-section" || layout``, where the layout is the count and each
    entry's provider name and key id, in order. ``aes`` is the content key's cipher, which
    encryption and decryption hold anyway: the check costs one small AES-GCM call, no extra
    key derivation. Key versions and blobs are left out on purpose: ``rewrap`` changes them
    without the data key, and the key commitment already binds what any blob unwraps to.
    """
    return layout_mac(aes, key_section_layout(wrapped))


def key_section_layout(wrapped: Sequence[WrappedKey]) -> bytes:
    """What the manifest's MAC authenticates: ``"tigerseal/v1/key-section" || layout``.

    Fixed for a data key's wrapped copies, so the encryptor computes it once per data key.
    """
    parts = [_MAC_LABEL, bytes((len(wrapped),))]
    for w in wrapped:
        name, kid = w.provider.encode("ascii"), w.key_id.encode()
        parts += (bytes((len(name),)), name, len(kid).to_bytes(2, "big"), kid)
    return b"".join(parts)


def layout_mac(aes: AESGCM, layout: bytes) -> bytes:
    """The manifest's MAC (GMAC under the content key) over :func:`key_section_layout`."""
    tag: bytes = aes.encrypt(_MANIFEST_NONCE, b"", layout)
    return tag


@functools.lru_cache(maxsize=256)
def _entry_prefix(provider: str, key_id: str) -> bytes:
    """``u8 len || provider || u16 len || key id`` of a key-section entry (and of the layout)."""
    name, kid = provider.encode("ascii"), key_id.encode()
    if not 1 <= len(name) <= MAX_PROVIDER_NAME or len(kid) > MAX_KEY_ID:
        raise EncryptionError(f"provider name or key id too long for provider {provider!r}")
    return bytes((len(name),)) + name + len(kid).to_bytes(2, "big") + kid


def key_section_parts(wrapped: tuple[WrappedKey, ...]) -> tuple[bytes, bytes, bytes]:
    """``(section, head, layout)`` of a data key's wrapped copies, for every message under it.

    ``section`` is :func:`encode_key_section` (no manifest), ``head`` the same section with
    the manifest entry up to its MAC (:func:`manifest_head`), ``layout`` what the MAC covers
    (:func:`key_section_layout`). One pass, the per-key prefixes memoised: a fresh data key
    per message pays for its blobs only.

    Raises:
        EncryptionError: no wrapped key, more than 15, or one outside the format's limits.
    """
    count = len(wrapped)
    if not 1 <= count < MAX_WRAPPED_KEYS:
        raise EncryptionError(
            f"a message carries 1 to {MAX_WRAPPED_KEYS - 1} wrapped keys, got {count}; "
            "configure fewer key providers"
        )
    prefixes: list[bytes] = []
    parts: list[bytes] = []
    for w in wrapped:
        prefix = _entry_prefix(w.provider, w.key_id)
        blob = w.blob
        if not 1 <= len(blob) <= MAX_BLOB or not 0 <= w.key_version < 2**32:
            raise EncryptionError(
                f"the {w.provider} provider returned a wrapped key of {len(blob)} bytes or "
                f"version {w.key_version}, outside the format's limits"
            )
        prefixes.append(prefix)
        parts += (prefix, _KEY_META.pack(w.key_version, len(blob)), blob)
    body = b"".join(parts)
    return (
        bytes((count,)) + body,
        b"".join((bytes((count + 1,)), body, _MANIFEST_HEAD, _KEY_META.pack(count, 16))),
        b"".join((_MAC_LABEL, bytes((count,)), *prefixes)),
    )


def nonce(seq: int, final: bool) -> bytes:
    """The 12-byte GCM nonce of frame ``seq`` (docs/format.md, section 5)."""
    return seq.to_bytes(8, "big") + _NONCE_TAIL[final]


def encode_context(context: Mapping[str, str] | None) -> bytes:
    """Canonical encoding of an encryption context: count, then sorted length-prefixed pairs.

    Raises:
        EncryptionError: a key or value is not a string, a key is empty, or it is too large.
    """
    if not context:
        return b"\x00\x00"
    # Fast path for the common case (a few short str pairs). Sorting the str keys gives the
    # order of their UTF-8 bytes (UTF-8 preserves code point order). Anything unusual goes to
    # the checked encoder below, which raises the precise error.
    try:
        pairs = sorted(context.items())
        if len(pairs) <= MAX_CONTEXT_PAIRS:
            parts = [len(pairs).to_bytes(2, "big")]
            for key, value in pairs:
                if key.__class__ is not str or value.__class__ is not str:
                    break
                k, v = key.encode(), value.encode()
                if not k or len(k) > 0xFFFF or len(v) > 0xFFFF:
                    break
                parts += (len(k).to_bytes(2, "big"), k, len(v).to_bytes(2, "big"), v)
            else:
                return b"".join(parts)
    except Exception:  # noqa: S110 - mixed key types, a lone surrogate, a key type whose
        # ordering raises (decimal NaN): the checked encoder below refuses each with its own
        # error, raised outside this block so nothing of the context is chained to it.
        pass
    return _encode_context_checked(context)


def _encode_context_checked(context: Mapping[str, str]) -> bytes:
    items: list[tuple[bytes, bytes]] = []
    try:
        for key, value in context.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise EncryptionError(
                    "encryption context keys and values must be str; convert values with str() "
                    f"(key {key!r} has a {type(value).__name__} value)"
                    if isinstance(key, str)
                    else "encryption context keys must be str"
                )
            if not key:
                raise EncryptionError("encryption context keys must not be empty")
            items.append((key.encode(), value.encode()))
    except UnicodeEncodeError:
        items = []
    if len(items) != len(context):
        raise not_utf8("an encryption context key or value")
    if len(items) > MAX_CONTEXT_PAIRS:
        raise EncryptionError(
            f"an encryption context may hold at most {MAX_CONTEXT_PAIRS} pairs, got {len(items)}"
        )
    items.sort()
    out = bytearray(len(items).to_bytes(2, "big"))
    for k, v in items:
        if len(k) > 0xFFFF or len(v) > 0xFFFF:
            raise EncryptionError("an encryption context key or value exceeds 65,535 bytes")
        out += len(k).to_bytes(2, "big") + k + len(v).to_bytes(2, "big") + v
    return bytes(out)


def not_utf8(what: str) -> EncryptionError:
    """The error for text that has no UTF-8 encoding (a lone surrogate).

    Raise it outside the ``except UnicodeEncodeError`` block: that exception's ``object`` is the
    whole text, which must not ride along as ``__context__`` into error reporters.
    """
    return EncryptionError(
        f"{what} contains a lone surrogate (text decoded with errors='surrogateescape', or a "
        "JSON \\udXXX escape) and has no UTF-8 encoding; pass bytes or valid text"
    )


def encode_key_section(
    wrapped: tuple[WrappedKey, ...], manifest: WrappedKey | None = None
) -> bytes:
    """Encode the key section (docs/format.md, section 3), the manifest entry last."""
    limit = MAX_WRAPPED_KEYS - (manifest is not None)
    if not 1 <= len(wrapped) <= limit:
        raise EncryptionError(
            f"a message carries 1 to {limit} wrapped keys, got {len(wrapped)}; "
            "configure fewer key providers"
        )
    out = bytearray([len(wrapped) + (manifest is not None)])
    for w in (*wrapped, manifest) if manifest is not None else wrapped:
        name = w.provider.encode("ascii")
        kid = w.key_id.encode()
        if not 1 <= len(name) <= MAX_PROVIDER_NAME or len(kid) > MAX_KEY_ID:
            raise EncryptionError(f"provider name or key id too long for provider {w.provider!r}")
        if not 1 <= len(w.blob) <= MAX_BLOB or not 0 <= w.key_version < 2**32:
            raise EncryptionError(
                f"the {w.provider} provider returned a wrapped key of {len(w.blob)} bytes or "
                f"version {w.key_version}, outside the format's limits"
            )
        out += bytes([len(name)]) + name + len(kid).to_bytes(2, "big") + kid
        out += w.key_version.to_bytes(4, "big") + len(w.blob).to_bytes(2, "big") + w.blob
    return bytes(out)


class Header(NamedTuple):
    """A parsed header.

    Attributes:
        aad: the authenticated header bytes (associated data of every frame).
        content_type: :data:`CONTENT_SINGLE` or :data:`CONTENT_FRAMED`.
        frame_size: plaintext bytes per full frame (0 for single-shot).
        message_id: 32 random bytes.
        context: the encryption context.
        commitment: 32 bytes derived from the DEK.
        wrapped_keys: the wrapped copies of the DEK, primary first (without the manifest).
        size: total header length in bytes (where the body starts).
        manifest: the key-section manifest entry (``None`` in messages written without one):
            ``key_version`` is the number of wrapped keys written, ``blob`` the MAC.
        layout: what the manifest's MAC covers (:func:`key_section_layout` of
            ``wrapped_keys``), taken from the header bytes as parsed; ``None`` without a
            manifest or when the header was not parsed.
    """

    aad: bytes
    content_type: int
    frame_size: int
    message_id: bytes
    context: dict[str, str]
    commitment: bytes
    wrapped_keys: tuple[WrappedKey, ...]
    size: int
    manifest: WrappedKey | None = None
    layout: bytes | None = None

    @property
    def expects_manifest(self) -> bool:
        """Whether the (authenticated) message id says the message was written with a manifest."""
        return self.message_id[-len(MANIFEST_MARKER) :] == MANIFEST_MARKER


def build_aad(
    content_type: int, frame_size: int, message_id: bytes, context_bytes: bytes, commitment: bytes
) -> bytes:
    """The authenticated header (docs/format.md, section 2).

    Its size is checked with the key section by :func:`header_bytes`, the one check every
    writer goes through.
    """
    return _PREFIX + _FIXED.pack(content_type, frame_size) + message_id + context_bytes + commitment


def header_bytes(aad: bytes, section: bytes) -> bytes:
    """The whole header, ``aad || section``, refused if a reader could not read it.

    Every writer (``encrypt``, ``encrypt_stream``, ``rewrap_headers``) builds its header here,
    before it writes anything: a reader stops at :data:`MAX_HEADER_SIZE` bytes, so a larger
    header would make a message that no tigerseal can ever decrypt.

    Raises:
        EncryptionError: the header would be larger than :data:`MAX_HEADER_SIZE` bytes.
    """
    size = len(aad) + len(section)
    if size > MAX_HEADER_SIZE:
        raise EncryptionError(
            f"the message header would be {size} bytes ({len(aad)} for the encryption context "
            f"and fixed fields, {len(section)} for the wrapped keys), over the "
            f"{MAX_HEADER_SIZE:,}-byte limit of the format; use a smaller encryption context "
            "or fewer key providers"
        )
    return aad + section


def _truncated(what: str) -> DecryptionError:
    return DecryptionError(
        f"malformed tigerseal message: the header ends inside the {what} (truncated or not a "
        "tigerseal message)"
    )


def _oversized() -> DecryptionError:
    return DecryptionError(
        f"malformed tigerseal message: the header is larger than the {MAX_HEADER_SIZE}-byte limit"
    )


def _malformed(detail: str) -> DecryptionError:
    return DecryptionError(f"malformed tigerseal message: {detail}")


_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_KEY_META = struct.Struct(">IH")  # key version, blob length
_FIXED_CTX = struct.Struct(">BI32xH")  # content type, frame size, (message id), context count


# Key-section entry bytes (name length, name, key id length, key id) -> (provider, key id).
_IDENTS: dict[bytes, tuple[str, str]] = {}
_MAX_IDENTS = 256


def parse_header(buf: bytes | bytearray | memoryview) -> Header:
    """Parse and validate a header at the start of ``buf``.

    ``buf`` may be the whole message or just its first bytes (streams read up to
    :data:`MAX_HEADER_SIZE`). Every length is checked against what remains and against the
    format's limits before anything is allocated.

    Raises:
        DecryptionError: not a tigerseal v1 message, or a malformed/oversized header.
    """
    # Hot path (every decrypt): plain locals and inline bounds checks, no helper calls.
    if not isinstance(buf, bytes):
        # memoryview, bytearray: the memo below keys on slices, which must be immutable bytes.
        buf = bytes(buf[:MAX_HEADER_SIZE])
    end = len(buf)
    if end < 44 or buf[:5] != _PREFIX:
        _bad_prefix(buf)
    if end > MAX_HEADER_SIZE:
        end = MAX_HEADER_SIZE
    content_type, frame_size, count = _FIXED_CTX.unpack_from(buf, 5)
    if content_type == CONTENT_SINGLE:
        if frame_size != 0:
            raise _malformed("a single-shot message must have frame size 0")
    elif content_type == CONTENT_FRAMED:
        if not 1 <= frame_size <= MAX_FRAME_SIZE:
            raise _malformed(f"frame size {frame_size} outside 1..{MAX_FRAME_SIZE}")
    else:
        raise _malformed(f"unknown content type {content_type}")
    if count > MAX_CONTEXT_PAIRS:
        raise _malformed(f"context claims {count} pairs, limit {MAX_CONTEXT_PAIRS}")
    pos = 44
    context: dict[str, str] = {}
    if count:
        previous = b""
        u16 = _U16.unpack_from
        try:
            for _ in range(count):
                (n,) = u16(buf, pos)
                k = buf[pos + 2 : pos + 2 + n]
                pos += 2 + n
                (n,) = u16(buf, pos)
                v = buf[pos + 2 : pos + 2 + n]
                pos += 2 + n
                if pos > end:
                    raise _short(end, "context")
                if not k or k <= previous:
                    raise _malformed("context keys are empty, unsorted or repeated")
                previous = k
                context[k.decode()] = v.decode()
        except struct.error:
            raise _short(end, "context") from None
        except UnicodeDecodeError:
            raise _malformed("context is not valid UTF-8") from None
    if pos + COMMITMENT_SIZE + 1 > end:
        raise _short(end, "commitment")
    commitment = buf[pos : pos + COMMITMENT_SIZE]
    pos += COMMITMENT_SIZE
    aad = buf[:pos]
    n_keys = buf[pos]
    pos += 1
    if not 1 <= n_keys <= MAX_WRAPPED_KEYS:
        raise _malformed(f"{n_keys} wrapped keys, expected 1..{MAX_WRAPPED_KEYS}")
    wrapped = []
    # Each entry's "name length || name || key id length || key id" bytes, as written: the
    # manifest's MAC covers exactly these (the strict ASCII/UTF-8 decoding below is a bijection,
    # so they equal key_section_layout's re-encoding), and slicing them here saves the
    # re-encoding on every decryption.
    spans = []
    manifest = layout = None
    misplaced = False  # a manifest entry before the last one
    last = n_keys - 1
    try:
        for i in range(n_keys):
            start = pos
            n_name = buf[pos]
            if not 1 <= n_name <= MAX_PROVIDER_NAME:
                raise _malformed("provider name length out of range")
            (n,) = _U16.unpack_from(buf, pos + 1 + n_name)
            if n > MAX_KEY_ID:
                raise _malformed("key id too long")
            pos += 3 + n_name + n
            span = buf[start:pos]
            version, n = _KEY_META.unpack_from(buf, pos)
            if not 1 <= n <= MAX_BLOB:
                raise _malformed("wrapped key length out of range")
            blob = buf[pos + 6 : pos + 6 + n]
            pos += 6 + n
            if pos > end:
                raise _short(end, "wrapped keys")
            if span[1 : 1 + n_name] == _MANIFEST_NAME:
                if i == last:
                    kid = span[3 + n_name :].decode()
                    manifest = WrappedKey(MANIFEST_PROVIDER, kid, version, blob)
                    continue
                misplaced = True
            # The same key's entries repeat message after message: their decoded names are
            # memoised by the exact bytes (decoded strictly the first time, so a hit is text
            # that already decoded; bounded, cleared when full).
            ident = _IDENTS.get(span)
            if ident is None:
                ident = (span[1 : 1 + n_name].decode("ascii"), span[3 + n_name :].decode())
                if len(_IDENTS) >= _MAX_IDENTS:
                    _IDENTS.clear()
                _IDENTS[span] = ident
            spans.append(span)
            wrapped.append(WrappedKey(ident[0], ident[1], version, blob))
    except (struct.error, IndexError):
        raise _short(end, "wrapped keys") from None
    except UnicodeDecodeError:
        raise _malformed("provider name or key id is not valid text") from None
    if manifest is not None:
        if not wrapped or manifest.key_id or len(manifest.blob) != MANIFEST_MAC_SIZE:
            raise _malformed("malformed key-section manifest")
        layout = _MAC_LABEL + bytes((len(wrapped),)) + b"".join(spans)
    if misplaced:
        raise _malformed("the key-section manifest must be the last entry")
    return Header(
        aad,
        content_type,
        frame_size,
        buf[10:42],
        context,
        commitment,
        tuple(wrapped),
        pos,
        manifest,
        layout,
    )


def _short(end: int, what: str) -> DecryptionError:
    return _oversized() if end >= MAX_HEADER_SIZE else _truncated(what)


def _bad_prefix(buf: bytes) -> None:
    if buf[:3] != MAGIC:
        raise DecryptionError(
            "not a tigerseal message (missing the 'TSL' magic); pass the bytes, the 'ts1.' text "
            "or the JSON form written by tigerseal"
        )
    if len(buf) > 3 and buf[3] != VERSION:
        raise DecryptionError(
            f"unsupported tigerseal format version {buf[3]}; this tigerseal reads version "
            f"{VERSION}: upgrade tigerseal"
        )
    if len(buf) > 4 and buf[4] != SUITE_AES256GCM_HKDF_SHA512_COMMIT:
        raise _malformed(f"unknown algorithm suite {buf[4]}")
    raise _truncated("fixed fields")
