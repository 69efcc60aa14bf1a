"""Pydantic types for encrypted fields: plaintext in memory, ``ts1.`` text when serialised.

::

    from typing import Annotated
    from pydantic import BaseModel
    from tigerseal_fastapi import Encrypted, EncryptedStr

    class Customer(BaseModel):
        name: str
        ssn: Annotated[EncryptedStr, Encrypted({"table": "customers", "column": "ssn"})]

    c = Customer(name="Ada", ssn="078-05-1120")
    c.ssn.get_secret_value()          # '078-05-1120'
    repr(c)                           # ssn=EncryptedStr('**********')
    c.model_dump()["ssn"]             # 'ts1.…' (encrypted, bound to the context)
    Customer.model_validate(c.model_dump()).ssn == c.ssn   # decrypted back

The encryption context is bound to every value: a ``ts1.`` text of another column (another
context) does not decrypt here (a 422 validation error), so values cannot be swapped between
fields. Input that does not start with ``ts1.`` is plaintext, unless the field says
``plaintext=False`` (for models loaded only from storage).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema
from tigerseal.errors import ConfigError, DecryptionError

if TYPE_CHECKING:
    from tigerseal.envelope import EncryptionService

__all__ = ["Encrypted", "EncryptedStr"]

_PREFIX = "ts1."


class EncryptedStr:
    """A secret string: shown masked, serialised encrypted (see the module docs).

    Compare with ``==`` (constant time); read with :meth:`get_secret_value`.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"EncryptedStr holds str, not {type(value).__name__}")
        self._value = value

    def get_secret_value(self) -> str:
        """The plaintext."""
        return self._value

    def __repr__(self) -> str:
        return "EncryptedStr('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EncryptedStr):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __len__(self) -> int:
        return len(self._value)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        raise ConfigError(
            "an EncryptedStr field needs its encryption context: annotate it as "
            "Annotated[EncryptedStr, Encrypted({'table': ..., 'column': ...})]"
        )


class Encrypted:
    """The encryption of an :class:`EncryptedStr` field: its context and service.

    Args:
        context: non-secret pairs bound to every value of the field (``{"table": "customers",
            "column": "ssn"}``); decryption requires the same pairs.
        service: the encryption service (default: the process-wide one, looked up when a
            value is first encrypted or decrypted).
        plaintext: accept plaintext input (default). ``False``: only ``ts1.`` text validates.
    """

    __slots__ = ("context", "plaintext", "service")

    def __init__(
        self,
        context: Mapping[str, str],
        *,
        service: EncryptionService | None = None,
        plaintext: bool = True,
    ) -> None:
        if not context or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in context.items()
        ):
            raise ConfigError(
                "Encrypted(context) needs a non-empty mapping of str to str, e.g. "
                "{'table': 'customers', 'column': 'ssn'}"
            )
        self.context = dict(context)
        self.service = service
        self.plaintext = plaintext

    def __repr__(self) -> str:
        return f"Encrypted({self.context!r})"

    def _service(self) -> EncryptionService:
        if self.service is not None:
            return self.service
        from tigerseal.envelope import get_encryption_service

        return get_encryption_service()

    def encrypt(self, value: EncryptedStr) -> str:
        """The ``ts1.`` text of ``value`` under this field's context."""
        return str(self._service().encrypt(value.get_secret_value(), self.context))

    def decrypt(self, text: str) -> EncryptedStr:
        """The value of a ``ts1.`` text written for this field's context."""
        return EncryptedStr(self._service().decrypt_to_string(text, self.context))

    def _validate(self, value: Any) -> EncryptedStr:
        if isinstance(value, EncryptedStr):
            return value
        if not isinstance(value, str):
            raise PydanticCustomError("string_type", "Input should be a valid string")
        if value.startswith(_PREFIX):
            try:
                return self.decrypt(value)
            except DecryptionError:
                # Opaque on purpose: which check failed is no business of the sender.
                raise PydanticCustomError(
                    "encrypted_value", "the encrypted value does not decrypt for this field"
                ) from None
        if not self.plaintext:
            raise PydanticCustomError(
                "encrypted_value", "expected an encrypted value (ts1. text) for this field"
            )
        return EncryptedStr(value)

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        if source is not EncryptedStr:
            raise ConfigError("Encrypted(...) annotates EncryptedStr fields only")
        return core_schema.no_info_plain_validator_function(
            self._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                self.encrypt, return_schema=core_schema.str_schema()
            ),
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        described = "ts1. ciphertext" + (" or plaintext" if self.plaintext else "")
        return {"type": "string", "description": f"Encrypted field ({described})"}
