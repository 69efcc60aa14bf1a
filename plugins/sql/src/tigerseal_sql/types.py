"""Column types holding tigerseal envelopes, bound to their table, column and primary key.

A value of an ``Encrypted*`` column is encrypted with the encryption context
``{"table": ..., "column": ..., "pk": ...}`` (plus any static ``context=`` given to the type), so
a ciphertext copied into another row or another column fails to decrypt with
:class:`~tigerseal.errors.ContextMismatchError`.

A ``TypeDecorator`` never sees the row it is part of, so the binding is done by ORM events
(:mod:`tigerseal_sql.orm`, installed automatically for every mapped class that uses these
types): before a flush they hand the type a :class:`Sealed` value (plaintext + row context),
after a load they decrypt with the context of the loaded row. In memory, attributes always hold
plaintext. Core statements (``insert(table).values(...)``) must pass :func:`seal` values; a bare
plaintext is refused rather than stored with a weaker binding.

Storage forms: ``storage="binary"`` (default; ``bytea``/``BLOB``) keeps the binary envelope;
``storage="text"`` keeps the ``ts1.`` text form in a ``TEXT`` column (existing text columns,
databases without binary types). Reading accepts every form, including the seed's ``.json()``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import LargeBinary, Text
from sqlalchemy.exc import DontWrapMixin
from sqlalchemy.types import TypeDecorator
from tigerseal.envelope import EncryptedData
from tigerseal.errors import ConfigError, EncryptionError, TigerSealError

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect
    from sqlalchemy.types import TypeEngine
    from tigerseal.envelope import EncryptionService

__all__ = [
    "RESERVED_CONTEXT_KEYS",
    "EncryptedBytes",
    "EncryptedJSON",
    "EncryptedString",
    "EncryptedType",
    "Sealed",
    "decrypt_value",
    "pk_string",
    "row_context",
    "seal",
]

#: Context keys set by tigerseal-sql; a static ``context=`` may not use them.
RESERVED_CONTEXT_KEYS = frozenset({"table", "column", "pk"})

Storage = Literal["binary", "text"]


class Sealed:
    """A plaintext value together with the encryption context of the cell it goes to.

    The column type encrypts it when the statement is executed. Build one with :func:`seal`
    (Core) or let the ORM events do it (``session.add``).
    """

    __slots__ = ("context", "value")

    def __init__(self, value: Any, context: Mapping[str, str]) -> None:
        self.value = value
        self.context = dict(context)

    def __repr__(self) -> str:
        return f"Sealed(context={self.context!r}, value=<redacted>)"


class _Placeholder:
    """Stored by the first phase of a two-phase insert; replaced before the flush ends."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<pending encryption>"


PENDING = _Placeholder()


def pk_string(values: Any) -> str:
    """The primary key as the string bound into the context (composite keys as a JSON list)."""
    # Once per encrypted cell read or written: the common shapes (an int or str key, alone or
    # in a 1-tuple, as the ORM's identity keys are) are answered before the general path.
    cls = type(values)
    if cls is int or cls is str:
        return str(values)
    if isinstance(values, tuple | list):
        if len(values) != 1:
            return json.dumps([_pk_part(v) for v in values], separators=(",", ":"))
        values = values[0]
        cls = type(values)
        if cls is int or cls is str:
            return str(values)
    return _pk_part(values)


def _pk_part(value: Any) -> str:
    if value is None:
        raise EncryptionError(
            "the row has no primary key yet, so its encrypted columns cannot be bound to it; "
            "give the primary key a client-side default (e.g. default=uuid.uuid4) or let the "
            "ORM insert the row (session.add) so tigerseal-sql can encrypt after the insert"
        )
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def row_context(
    table: str, column: str, pk: Any, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The encryption context of one cell: ``extra`` + table, column and primary key."""
    ctx = dict(extra or {})
    ctx.update(table=table, column=column, pk=pk_string(pk))
    return ctx


_UNWRAPPED: dict[type[TigerSealError], type[TigerSealError]] = {}


def _unwrapped(exc: TigerSealError) -> TigerSealError:
    """The same error as an instance of a subclass SQLAlchemy does not wrap (DontWrapMixin)."""
    cls = type(exc)
    sub = _UNWRAPPED.get(cls)
    if sub is None:
        sub = type(cls.__name__, (cls, DontWrapMixin), {"__module__": cls.__module__})
        _UNWRAPPED[cls] = sub
    new = sub.__new__(sub, *exc.args)
    new.__dict__.update(exc.__dict__)
    new.args = exc.args
    return new


def _install_orm_events() -> None:
    # Declaring an encrypted column is what asks for the ORM events (tigerseal_sql.install).
    # Imported here, at call time, because orm imports this module: the module graph stays
    # acyclic and importing the types registers nothing.
    from tigerseal_sql.orm import install

    install()


class EncryptedType(TypeDecorator[Any]):
    """Base of the encrypted column types (not used directly).

    Args:
        storage: ``"binary"`` (default) or ``"text"`` (the ``ts1.`` form in a ``TEXT`` column).
        service: the :class:`~tigerseal.envelope.EncryptionService` to use, or a callable
            returning one; ``None`` uses :func:`tigerseal.get_encryption_service` (settings).
        context: static, non-secret context pairs added to every cell's context (e.g. a tenant
            or application name).
    """

    impl = LargeBinary
    cache_ok = True

    def __init__(
        self,
        storage: Storage = "binary",
        service: EncryptionService | Callable[[], EncryptionService] | None = None,
        context: Mapping[str, str] | tuple[tuple[str, str], ...] | None = None,
    ) -> None:
        if storage not in ("binary", "text"):
            raise ConfigError(f"storage must be 'binary' or 'text', got {storage!r}")
        items = tuple(sorted(dict(context or {}).items()))
        clash = RESERVED_CONTEXT_KEYS.intersection(k for k, _ in items)
        if clash:
            raise ConfigError(
                f"context keys {sorted(clash)} are set by tigerseal-sql itself (table, column, "
                "primary key); choose other names"
            )
        super().__init__()
        _install_orm_events()
        self.storage: Storage = storage
        self.service = service
        # A tuple, not a dict: SQLAlchemy's statement cache needs hashable type arguments.
        self.context = items
        # (table, column) -> static context + table + column: built once, copied per cell.
        self._bases: dict[tuple[str, str], dict[str, str]] = {}

    # -- value encoding (subclasses) -----------------------------------------------------------
    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode(self, plaintext: bytes) -> Any:
        raise NotImplementedError

    # -- encryption ----------------------------------------------------------------------------
    def get_service(self) -> EncryptionService:
        """The encryption service this column uses."""
        svc = self.service
        if svc is None:
            from tigerseal.envelope import get_encryption_service

            return get_encryption_service()
        if callable(svc) and not hasattr(svc, "encrypt"):
            return svc()
        return svc  # type: ignore[return-value]

    def cell_context(self, table: str, column: str, pk: Any) -> dict[str, str]:
        """The context a cell of this column in row ``pk`` is encrypted under.

        The same as :func:`row_context` with the type's static context; the part that does not
        depend on the row is built once per table and column (this runs for every cell).
        """
        bases = self.__dict__.get("_bases")
        if bases is None:  # a copy made without __init__ (SQLAlchemy adapts types)
            bases = self._bases = {}
        base = bases.get((table, column))
        if base is None:
            base = row_context(table, column, "", dict(self.context))
            del base["pk"]
            if len(bases) < 1024:  # one per column using this type: bounded by the schema
                bases[(table, column)] = base
        ctx = base.copy()
        ctx["pk"] = pk_string(pk)
        return ctx

    def encrypt(self, value: Any, context: Mapping[str, str]) -> EncryptedData:
        """Encrypt a Python value for a cell with the given context."""
        return self.get_service().encrypt(self.encode(value), context)

    def decrypt(self, stored: Any, context: Mapping[str, str]) -> Any:
        """Decrypt a stored value (any envelope form) with the expected cell context.

        Raises:
            ContextMismatchError: the value belongs to another row or column.
            DecryptionError: the value is not authentic.
        """
        plaintext = self.get_service().decrypt(EncryptedData.parse(stored), context)
        return self.decode(plaintext)

    # -- TypeDecorator ---------------------------------------------------------------------------
    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if self.storage == "text":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(LargeBinary())

    def _to_db(self, ed: EncryptedData) -> bytes | str:
        return str(ed) if self.storage == "text" else bytes(ed)

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | str | None:
        try:
            return self._bind(value)
        except TigerSealError as exc:
            # Raised as the tigerseal error it is, not wrapped in SQLAlchemy's StatementError.
            raise _unwrapped(exc) from exc.__cause__

    def _bind(self, value: Any) -> bytes | str | None:
        if value is None:
            return None
        if isinstance(value, Sealed):
            return self._to_db(self.encrypt(value.value, value.context))
        if isinstance(value, EncryptedData):
            # Already a ciphertext (bulk rewrap, copying between databases): stored as is.
            return self._to_db(value)
        if value is PENDING:
            return "" if self.storage == "text" else b""
        raise EncryptionError(
            f"refusing to store a bare {type(value).__name__} in an encrypted column: its value "
            "must be bound to its row. Write it through the ORM (session.add / attribute "
            "assignment), or pass tigerseal_sql.seal(Model.column, value, pk=...) in Core "
            "statements. To search an encrypted column, use a blind index "
            "(tigerseal_sql.BlindIndex), not equality on the ciphertext"
        )

    def process_result_value(self, value: Any, dialect: Dialect) -> EncryptedData | None:
        # Decryption needs the row's primary key, which only the ORM load event knows; Core
        # queries get the EncryptedData and may call decrypt_value().
        if value is None or value == b"" or value == "":
            return None
        return EncryptedData.parse(value)

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}(storage={self.storage!r})"


class EncryptedString(EncryptedType):
    """A ``str`` column stored as a tigerseal envelope (UTF-8 inside)."""

    cache_ok = True  # not inherited: SQLAlchemy reads it from each class

    @property
    def python_type(self) -> type[Any]:
        return str

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise EncryptionError(
                f"EncryptedString holds str values, got {type(value).__name__}; use "
                "EncryptedBytes for bytes or EncryptedJSON for structures"
            )
        return value.encode("utf-8")

    def decode(self, plaintext: bytes) -> str:
        return plaintext.decode("utf-8")


class EncryptedBytes(EncryptedType):
    """A ``bytes`` column stored as a tigerseal envelope."""

    cache_ok = True  # not inherited: SQLAlchemy reads it from each class

    @property
    def python_type(self) -> type[Any]:
        return bytes

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise EncryptionError(f"EncryptedBytes holds bytes values, got {type(value).__name__}")
        return bytes(value)

    def decode(self, plaintext: bytes) -> bytes:
        return plaintext


class EncryptedJSON(EncryptedType):
    """A JSON-serialisable value stored encrypted (canonical JSON inside).

    In-place mutation of a loaded dict or list is not tracked: assign a new value to change it.
    """

    cache_ok = True  # not inherited: SQLAlchemy reads it from each class

    @property
    def python_type(self) -> type[Any]:
        return object

    def encode(self, value: Any) -> bytes:
        try:
            text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise EncryptionError(f"EncryptedJSON value is not JSON-serialisable: {exc}") from None
        return text.encode("utf-8")

    def decode(self, plaintext: bytes) -> Any:
        return json.loads(plaintext)


def _column(target: Any) -> tuple[Any, EncryptedType]:
    column = target
    prop = getattr(target, "property", None)
    if prop is not None and hasattr(prop, "columns"):
        column = prop.columns[0]
    col_type = getattr(column, "type", None)
    if not isinstance(col_type, EncryptedType):
        raise ConfigError(f"{target!r} is not an Encrypted* column")
    return column, col_type


def seal(target: Any, value: Any, *, pk: Any) -> Sealed | None:
    """Bind ``value`` to the cell of column ``target`` in row ``pk`` (for Core statements).

    Example::

        sealed = seal(accounts.c.tiger_id, "123", pk=key)
        conn.execute(insert(accounts).values(id=key, tiger_id=sealed))

    Args:
        target: a ``Column`` or a mapped attribute (``TigerAccount.tiger_id``).
        value: the plaintext (``None`` stays ``NULL``).
        pk: the row's primary key (a tuple for composite keys).
    """
    if value is None:
        return None
    column, col_type = _column(target)
    return Sealed(value, col_type.cell_context(column.table.name, column.name, pk))


def decrypt_value(target: Any, stored: Any, *, pk: Any) -> Any:
    """Decrypt a value read with a Core query from column ``target`` of row ``pk``.

    Raises:
        ContextMismatchError: the value does not belong to that row and column.
    """
    if stored is None:
        return None
    column, col_type = _column(target)
    return col_type.decrypt(stored, col_type.cell_context(column.table.name, column.name, pk))
