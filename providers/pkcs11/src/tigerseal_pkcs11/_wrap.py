r"""Wrapping a data key inside the HSM: the two mechanisms and the blob format.

Wire format of ``WrappedKey.blob`` (the first byte says how it was made, so unwrapping never
depends on the current configuration)::

    0x01 || nonce (12) || AES-256-GCM(KEK, nonce, DEK, AAD) (32 + 16-byte tag)    61 bytes
    0x02 || AES-KWP(KEK, DEK) (RFC 5649, 40 bytes)                                   41 bytes

AAD of the GCM form (rebuilt on unwrap, never stored)::

    b"tigerseal/pkcs11-wrap/v1\x00" || u32(n_pairs)
        || for each pair sorted by key: u32(len(k)) || k || u32(len(v)) || v     (utf-8, BE)

Length prefixes keep different contexts from sharing an AAD (``{"a": "b=c"}`` vs
``{"a=b": "c"}``). The token label and key version are deliberately *not* bound: each version
is its own KEK already, and binding the label would break blobs when an HSM backup is restored
under another token label.

Why two mechanisms (measured on SoftHSM2 2.6, see docs/performance/pkcs11.md):

* ``CKM_AES_GCM`` with ``C_Encrypt``/``C_Decrypt`` over the raw DEK bytes: one call each way,
  binds the encryption context in the HSM, about five times faster than the key-wrap path. It
  needs a KEK with ``CKA_ENCRYPT``/``CKA_DECRYPT``. SoftHSM refuses GCM in ``C_WrapKey``
  (``CKR_MECHANISM_INVALID``), so GCM cannot be used with a wrap-only key. The 12-byte nonce is
  random (host CSPRNG): rotate a KEK version before 2^32 wraps.
* ``CKM_AES_KEY_WRAP_PAD`` (RFC 5649) with ``C_WrapKey``/``C_UnwrapKey``: for HSM policies that
  allow only key-wrapping keys. Key-wrap mechanisms take key *objects*, so the DEK is imported
  as a short-lived session object (``CKA_TOKEN`` false, extractable) and wrapped; unwrapping
  creates a session object that is extractable and not sensitive, so that ``CKA_VALUE`` can be
  read, and destroys it at once. Three calls each way, and no context binding (the envelope
  still binds the context in its own AAD).

SoftHSM answers ``CKR_GENERAL_ERROR`` to a failed GCM tag or RFC 5649 check; every integrity
failure becomes one opaque :class:`~tigerseal.errors.DecryptionError`.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Mapping
from typing import Any

from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.mechanisms import GCMParams
from tigerseal.errors import DecryptionError
from tigerseal.spi import DEK_SIZE

from tigerseal_pkcs11._errors import INTEGRITY_ERRORS
from tigerseal_pkcs11._session import Session

__all__ = [
    "BLOB_SIZES",
    "FORMAT_GCM",
    "FORMAT_KWP",
    "FORMAT_NAMES",
    "aad",
    "check_blob",
    "gcm_unwrap",
    "gcm_wrap",
    "kwp_unwrap",
    "kwp_unwrap_bytes",
    "kwp_wrap",
    "kwp_wrap_bytes",
]

FORMAT_GCM = 0x01
FORMAT_KWP = 0x02
FORMAT_NAMES = {FORMAT_GCM: "aes-gcm", FORMAT_KWP: "aes-key-wrap-pad"}
NONCE_SIZE = 12
TAG_SIZE = 16
BLOB_SIZES = {
    FORMAT_GCM: 1 + NONCE_SIZE + DEK_SIZE + TAG_SIZE,
    FORMAT_KWP: 1 + DEK_SIZE + 8,
}
_AAD_LABEL = b"tigerseal/pkcs11-wrap/v1\x00"
_U32 = struct.Struct(">I")

# The DEK as a key object: a short-lived session object the KEK can wrap.
_SESSION_SECRET = {
    Attribute.CLASS: ObjectClass.SECRET_KEY,
    Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
    Attribute.TOKEN: False,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: False,
    Attribute.EXTRACTABLE: True,
}


def aad(context: Mapping[str, str]) -> bytes:
    """The GCM additional data for ``context`` (see the module docstring)."""
    parts = [_AAD_LABEL, _U32.pack(len(context))]
    for key in sorted(context):
        value = context[key]
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("encryption context keys and values must be str")
        k, v = key.encode("utf-8"), value.encode("utf-8")
        parts += [_U32.pack(len(k)), k, _U32.pack(len(v)), v]
    return b"".join(parts)


def _opaque() -> DecryptionError:
    return DecryptionError("the wrapped data key is not authentic for this key and context")


def check_blob(blob: bytes) -> int:
    """The format byte of a well-formed blob.

    Raises:
        DecryptionError: unknown format or wrong length (checked before any HSM call).
    """
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise _opaque()
    blob = bytes(blob)
    if not blob or BLOB_SIZES.get(blob[0]) != len(blob):
        raise _opaque()
    return blob[0]


def gcm_wrap(session: Session, kek: Any, dek: bytes, aad_bytes: bytes) -> bytes:
    """``0x01 || nonce || ciphertext+tag`` of ``dek`` under ``kek``."""
    nonce = secrets.token_bytes(NONCE_SIZE)
    sealed = kek.encrypt(
        dek, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad_bytes, TAG_SIZE * 8)
    )
    return bytes([FORMAT_GCM]) + nonce + bytes(sealed)


def gcm_unwrap(session: Session, kek: Any, blob: bytes, aad_bytes: bytes) -> bytes:
    """The DEK inside a GCM blob. Raises DecryptionError on any integrity failure."""
    nonce, sealed = blob[1 : 1 + NONCE_SIZE], blob[1 + NONCE_SIZE :]
    try:
        dek = kek.decrypt(
            sealed,
            mechanism=Mechanism.AES_GCM,
            mechanism_param=GCMParams(nonce, aad_bytes, TAG_SIZE * 8),
        )
    except INTEGRITY_ERRORS:
        raise _opaque() from None
    if len(dek) != DEK_SIZE:
        raise _opaque()
    return bytes(dek)


def kwp_wrap_bytes(session: Session, kek: Any, secret: bytes) -> bytes:
    """RFC 5649 wrap of ``secret`` (any length) under ``kek``, done by the token."""
    temp = session.raw.create_object({**_SESSION_SECRET, Attribute.VALUE: bytes(secret)})
    try:
        return bytes(kek.wrap_key(temp, mechanism=Mechanism.AES_KEY_WRAP_PAD))
    finally:
        temp.destroy()


def kwp_unwrap_bytes(session: Session, kek: Any, wrapped: bytes) -> bytes:
    """RFC 5649 unwrap done by the token; the plaintext comes back through ``CKA_VALUE``.

    Raises:
        DecryptionError: the token rejects the blob (SoftHSM: ``CKR_GENERAL_ERROR``).
    """
    try:
        temp = kek.unwrap_key(
            ObjectClass.SECRET_KEY,
            KeyType.GENERIC_SECRET,
            bytes(wrapped),
            mechanism=Mechanism.AES_KEY_WRAP_PAD,
            template={
                Attribute.TOKEN: False,
                Attribute.SENSITIVE: False,
                Attribute.EXTRACTABLE: True,
                Attribute.PRIVATE: True,
            },
        )
    except INTEGRITY_ERRORS:
        raise _opaque() from None
    try:
        return bytes(temp[Attribute.VALUE])
    finally:
        temp.destroy()


def kwp_wrap(session: Session, kek: Any, dek: bytes) -> bytes:
    """``0x02 || RFC 5649 wrap`` of ``dek``."""
    return bytes([FORMAT_KWP]) + kwp_wrap_bytes(session, kek, dek)


def kwp_unwrap(session: Session, kek: Any, blob: bytes) -> bytes:
    """The DEK inside a key-wrap blob."""
    dek = kwp_unwrap_bytes(session, kek, blob[1:])
    if len(dek) != DEK_SIZE:
        raise _opaque()
    return dek
