"""The seed's helpers for Tiger broker credentials, each field bound to its name and account.

Every field is encrypted separately with the encryption context
``{"purpose": "tiger-credentials", "field": <name>, "account": <account id>}`` (no
``account`` when none is given). Decryption rebuilds that context from the field's name and the
account it is told, so a ciphertext copied into another column, or into another account's row,
fails with :class:`~tigerseal.errors.ContextMismatchError` instead of decrypting::

    from tigerseal import encrypt_tiger_account_data, decrypt_tiger_account_data

    enc = encrypt_tiger_account_data(tiger_id="12345", private_key=pem, account_id=42)
    row.tiger_id = enc["tiger_id"].json()          # or str(enc["tiger_id"]): "ts1...."
    creds = decrypt_tiger_account_data({"tiger_id": row.tiger_id}, account_id=42)

A failed decryption is audited (``crypto_decrypt_fail``, risk high) before it is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tigerseal.errors import DecryptionError, EncryptionError

if TYPE_CHECKING:
    from tigerseal.envelope import EncryptedData, EncryptionService

__all__ = [
    "CREDENTIAL_FIELDS",
    "PURPOSE",
    "credential_context",
    "decrypt_tiger_account_data",
    "decrypt_tiger_credentials",
    "encrypt_tiger_account_data",
    "encrypt_tiger_credentials",
]

log = logging.getLogger(__name__)

#: The fields the seed names, in order.
CREDENTIAL_FIELDS = ("tiger_id", "private_key", "access_token", "refresh_token")
#: The ``purpose`` of every credential's encryption context.
PURPOSE = "tiger-credentials"


def credential_context(field: str, account_id: str | int | None = None) -> dict[str, str]:
    """The encryption context of one credential field (of one account)."""
    context = {"purpose": PURPOSE, "field": field}
    if account_id is not None:
        context["account"] = str(account_id)
    return context


def _service(service: EncryptionService | None) -> EncryptionService:
    if service is not None:
        return service
    from tigerseal.envelope import get_encryption_service

    return get_encryption_service()


def _check_account(account_id: object) -> None:
    if account_id is not None and (
        isinstance(account_id, bool) or not isinstance(account_id, str | int) or account_id == ""
    ):
        raise EncryptionError("account_id must be a non-empty string or an integer (or None)")


def encrypt_tiger_credentials(
    tiger_id: str,
    private_key: str,
    access_token: str | None = None,
    refresh_token: str | None = None,
    *,
    account_id: str | int | None = None,
    service: EncryptionService | None = None,
) -> dict[str, EncryptedData]:
    """Encrypt Tiger API credentials, one message per field.

    Args:
        tiger_id: the Tiger developer id.
        private_key: the RSA private key (PEM text).
        access_token: optional OAuth access token.
        refresh_token: optional OAuth refresh token.
        account_id: the account (database row) the credentials belong to; binds every field to
            it, so it must be given again to decrypt.
        service: the encryption service (default: :func:`tigerseal.get_encryption_service`).

    Returns:
        ``{field: EncryptedData}`` for every field given (``None`` fields are left out). Store
        ``str(value)`` (compact ``ts1.`` text) or ``value.json()``.

    Raises:
        EncryptionError: a required field is missing or not text, or encryption failed.
    """
    return encrypt_tiger_account_data(
        tiger_id=tiger_id,
        private_key=private_key,
        access_token=access_token,
        refresh_token=refresh_token,
        account_id=account_id,
        service=service,
    )


def encrypt_tiger_account_data(
    tiger_id: str,
    private_key: str,
    access_token: str | None = None,
    refresh_token: str | None = None,
    *,
    account_id: str | int | None = None,
    service: EncryptionService | None = None,
    **extra_fields: str | None,
) -> dict[str, EncryptedData]:
    """Encrypt a Tiger account's secrets for database storage (the seed's helper).

    Same as :func:`encrypt_tiger_credentials`, and further secret text fields may be passed by
    keyword (``license="..."``); each is bound to its own name.
    """
    _check_account(account_id)
    values: dict[str, Any] = {
        "tiger_id": tiger_id,
        "private_key": private_key,
        "access_token": access_token,
        "refresh_token": refresh_token,
        **extra_fields,
    }
    for required in ("tiger_id", "private_key"):
        if not values[required]:
            raise EncryptionError(f"{required} is required to encrypt Tiger credentials")
    svc = _service(service)
    out: dict[str, EncryptedData] = {}
    for field, value in values.items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise EncryptionError(
                f"{field} must be text (str), not {type(value).__name__}; decode or serialise it"
            )
        out[field] = svc.encrypt(value, credential_context(field, account_id))
    return out


def decrypt_tiger_account_data(
    encrypted_data: Mapping[str, EncryptedData | str | bytes | None],
    *,
    account_id: str | int | None = None,
    service: EncryptionService | None = None,
) -> dict[str, str]:
    """Decrypt what :func:`encrypt_tiger_account_data` produced.

    Args:
        encrypted_data: ``{field: ciphertext}``; each value an ``EncryptedData``, its ``ts1.``
            text, its JSON or its bytes (as read back from the database). ``None`` is skipped.
        account_id: the account the data was bound to when encrypted (if it was).
        service: the encryption service (default: :func:`tigerseal.get_encryption_service`).

    Returns:
        ``{field: plaintext}``.

    Raises:
        ContextMismatchError: a value was encrypted for another field or another account (for
            example copied from another row), or ``account_id`` differs from the one used.
        DecryptionError: a value is malformed or was tampered with.
    """
    if not isinstance(encrypted_data, Mapping):
        raise DecryptionError(
            "decrypt_tiger_account_data expects a mapping of field name -> ciphertext, as "
            "returned by encrypt_tiger_account_data"
        )
    _check_account(account_id)
    svc = _service(service)
    out: dict[str, str] = {}
    for field, value in encrypted_data.items():
        if value is None:
            continue
        try:
            out[field] = svc.decrypt_to_string(value, credential_context(field, account_id))
        except DecryptionError as exc:
            # The fields decrypted so far must not ride along in the traceback's frame locals
            # (error reporters capture them).
            out.clear()
            _audit_failure(field, account_id, exc)
            raise
    return out


def decrypt_tiger_credentials(
    encrypted_credentials: Mapping[str, EncryptedData | str | bytes | None],
    *,
    account_id: str | int | None = None,
    service: EncryptionService | None = None,
) -> dict[str, str]:
    """Decrypt what :func:`encrypt_tiger_credentials` produced.

    See :func:`decrypt_tiger_account_data`.
    """
    return decrypt_tiger_account_data(encrypted_credentials, account_id=account_id, service=service)


def _audit_failure(field: str, account_id: str | int | None, exc: DecryptionError) -> None:
    try:
        from tigerseal.audit import audit_security_event

        audit_security_event(
            "crypto_decrypt_fail",
            account_id=None if account_id is None else str(account_id),
            risk_level="high",
            resource=f"tiger-credentials/{field}",
            details={"field": field, "reason": type(exc).__name__},
        )
    except Exception:
        # The decryption error is what the caller must see; a broken audit trail is logged.
        log.warning("could not audit a failed credential decryption", exc_info=True)
