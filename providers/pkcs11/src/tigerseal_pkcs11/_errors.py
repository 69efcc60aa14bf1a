"""Translate python-pkcs11 exceptions into tigerseal errors with a remedy.

python-pkcs11 raises one class per ``CKR_*`` code, mostly without a message. Integrity
failures of an unwrap or decrypt are handled where they happen (they become an opaque
:class:`~tigerseal.errors.DecryptionError`); this module maps everything operational.
"""

from __future__ import annotations

from typing import NoReturn

import pkcs11.exceptions as p11
from tigerseal.errors import (
    AccessDenied,
    ConfigError,
    KeyNotFound,
    KeyProviderError,
    ProviderUnavailable,
    TigerSealError,
    UnsupportedOperation,
)

__all__ = ["INTEGRITY_ERRORS", "SESSION_LOST", "raise_mapped", "translate"]

#: What SoftHSM and real HSMs answer to a tampered or foreign wrapped key. SoftHSM answers a
#: bare CKR_GENERAL_ERROR to a failed AES-GCM tag or RFC 5649 integrity check.
INTEGRITY_ERRORS: tuple[type[BaseException], ...] = (
    p11.GeneralError,
    p11.EncryptedDataInvalid,
    p11.EncryptedDataLenRange,
    p11.WrappedKeyInvalid,
    p11.WrappedKeyLenRange,
    p11.DataInvalid,
    p11.DataLenRange,
    p11.FunctionFailed,
)

#: The session (or the whole login) is gone: open a new one and try again once.
SESSION_LOST: tuple[type[BaseException], ...] = (
    p11.SessionHandleInvalid,
    p11.SessionClosed,
    p11.UserNotLoggedIn,
)


def translate(exc: Exception, *, operation: str, key_id: str) -> Exception:
    """The tigerseal error for a python-pkcs11 exception, naming what failed on which token.

    The :class:`tigerseal.spi.errors.ErrorTranslator` of this provider.

    Args:
        exc: the python-pkcs11 exception.
        operation: what failed, e.g. ``"wrap with tiger-kek.v2"``.
        key_id: a secret-free description of the token (the PKCS#11 "where").

    Returns:
        The error to raise ``from exc``; ``exc`` itself if it is not python-pkcs11's.
    """
    if isinstance(exc, TigerSealError) or not isinstance(exc, p11.PKCS11Error):
        return exc
    what, token = operation, key_id
    name = type(exc).__name__
    if isinstance(exc, p11.PinIncorrect | p11.PinInvalid | p11.PinLenRange):
        return AccessDenied(
            f"the token {token} rejected the user PIN ({name}); check the PIN source "
            "(pin-source= in the pkcs11: URI, default env:TIGERSEAL_PKCS11_PIN)"
        )
    if isinstance(exc, p11.PinLocked | p11.PinExpired):
        return AccessDenied(
            f"the user PIN of token {token} is locked or expired ({name}); the security "
            "officer must reset it (softhsm2-util / your HSM's admin tool), then retry"
        )
    if isinstance(exc, p11.UserPinNotInitialized):
        return AccessDenied(
            f"token {token} has no user PIN yet; initialise it (softhsm2-util --init-token ... "
            "--pin ...) or with your HSM's admin tool"
        )
    if isinstance(exc, p11.NoSuchKey):
        return KeyNotFound(f"{what}: no such key on token {token}")
    if isinstance(exc, p11.MultipleObjectsReturned):
        return ConfigError(
            f"{what}: several objects on token {token} match; labels of key versions must be "
            "unique: delete or relabel the duplicates"
        )
    if isinstance(
        exc,
        p11.MechanismInvalid
        | p11.MechanismParamInvalid
        | p11.KeyTypeInconsistent
        | p11.FunctionNotSupported
        | p11.WrappingKeyTypeInconsistent
        | p11.UnwrappingKeyTypeInconsistent
        | p11.WrappingKeySizeRange
        | p11.KeyNotWrappable,
    ):
        return UnsupportedOperation(
            f"{what}: token {token} does not support this mechanism or key use ({name}); "
            "choose another with mechanism=aes-gcm or mechanism=aes-key-wrap-pad, or create "
            "the key with `tigerseal pkcs11 init-key`"
        )
    if isinstance(
        exc,
        p11.TokenNotPresent
        | p11.DeviceRemoved
        | p11.TokenNotRecognised
        | p11.DeviceError
        | p11.DeviceMemory
        | p11.SlotIDInvalid,
    ):
        return ProviderUnavailable(
            f"{what}: token {token} is not available ({name}); check that the HSM is "
            "connected and its token present, then retry"
        )
    if isinstance(exc, p11.TokenWriteProtected | p11.SessionReadOnly):
        return AccessDenied(
            f"{what}: token {token} is write-protected ({name}); creating keys needs a "
            "writable token"
        )
    if isinstance(exc, p11.SessionCount):
        return ProviderUnavailable(
            f"{what}: token {token} has no free session ({name}); lower max-sessions= or close "
            "other applications using the token"
        )
    return KeyProviderError(f"{what} failed on token {token}: {name} {exc}".rstrip())


def raise_mapped(exc: BaseException, *, what: str, token: str) -> NoReturn:
    """Raise :func:`translate`'s error for ``exc`` (chained); ``exc`` itself if untranslated."""
    mapped = translate(exc, operation=what, key_id=token) if isinstance(exc, Exception) else exc
    if mapped is exc:
        raise exc
    raise mapped from exc
