"""One shape for translating a backend's exceptions into tigerseal's error tree.

Every provider talks to an SDK (botocore, requests/hvac, python-pkcs11) whose exceptions mean
nothing to an application. Each provider writes one function with this signature, in its
``_errors.py``::

    def translate(exc: Exception, *, operation: str, key_id: str) -> Exception:
        '''The tigerseal error for ``exc`` raised by ``operation`` on ``key_id``.'''

It returns (never raises) a :class:`~tigerseal.errors.TigerSealError` whose message names the
operation, the key (its secret-free id) and what to do, and never contains request parameters
(plaintext, ciphertext, tokens, PINs). It returns ``exc`` itself when ``exc`` is not the SDK's
(a bug of ours must surface unchanged) or is already a tigerseal error. Extra keyword arguments
(a timeout hint, a server address) must have defaults or be bound with :func:`functools.partial`.

:func:`translated` applies one around a block::

    with translated(translate, operation="Decrypt", key_id=self.key_id):
        response = client.decrypt(...)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from tigerseal.errors import TigerSealError

__all__ = ["ErrorTranslator", "translated"]


class ErrorTranslator(Protocol):
    """``translate(exc, *, operation, key_id) -> Exception`` (see the module docstring)."""

    def __call__(self, exc: Exception, /, *, operation: str, key_id: str) -> Exception:
        """The tigerseal error for ``exc``, or ``exc`` itself when it is not the backend's."""
        ...


@contextmanager
def translated(
    translate: ErrorTranslator, *, operation: str, key_id: str, chain: bool = True
) -> Iterator[None]:
    """Raise ``translate(exc, ...)`` for any exception of the block that it translates.

    Args:
        translate: the provider's translator.
        operation: what the block does (``"Decrypt"``, ``"wrap with tiger-kek.v2"``).
        key_id: the secret-free id of the key (or token) the block uses.
        chain: keep the SDK exception as ``__cause__`` (``False`` when the SDK's own text may
            carry something secret, e.g. a URL with a token).

    Raises:
        TigerSealError: the translation; tigerseal errors pass unchanged, as do exceptions
            ``translate`` does not know (returned as themselves).
    """
    try:
        yield
    except TigerSealError:
        raise
    except Exception as exc:
        mapped = translate(exc, operation=operation, key_id=key_id)
        if mapped is exc:
            raise
        if chain:
            raise mapped from exc
        raise mapped from None
