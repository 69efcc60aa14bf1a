"""Translate the backend's exceptions into tigerseal's error tree (one function).

The signature is the one of :class:`tigerseal.spi.errors.ErrorTranslator`; apply it with
:func:`tigerseal.spi.errors.translated` around each backend call. Rules:

* an integrity failure (wrong key, wrong context, tampered blob) becomes one opaque
  :class:`~tigerseal.errors.DecryptionError`: never say which check failed;
* an operational failure becomes a :class:`~tigerseal.errors.KeyProviderError` subclass whose
  message names the operation, the key id and what to do (``ProviderUnavailable``,
  ``AccessDenied``, ``KeyNotFound``, ...);
* messages never contain request parameters (plaintext, ciphertext, tokens);
* anything else is returned unchanged, so a bug surfaces as itself.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from tigerseal.errors import DecryptionError

__all__ = ["translate"]


def translate(exc: Exception, *, operation: str, key_id: str) -> Exception:
    """The tigerseal error for ``exc`` raised by ``operation`` on ``key_id``."""
    if isinstance(exc, InvalidTag):
        # A real backend maps its "invalid ciphertext" error here too.
        return DecryptionError(
            f"{operation} with template key {key_id} failed: the wrapped key is not authentic "
            "for this key, version and context"
        )
    # A real backend adds its operational errors here, for example:
    #   ConnectionError -> ProviderUnavailable("... is unreachable; check the address")
    #   PermissionError -> AccessDenied("... grant decrypt on the key to this role")
    return exc
