"""Encrypted model fields bound to their model, column and primary key, and blind indexes.

::

    class Customer(models.Model):
        id = models.UUIDField(primary_key=True, default=uuid.uuid4)
        email = EncryptedTextField()
        email_bidx = BlindIndexField(source="email", index="customers", normalize=str.casefold)

    Customer.objects.create(email="Ada@example.com")
    Customer.objects.get(email="ada@example.com")      # through the blind index

Each value is a tigerseal envelope (``ts1.`` text in a ``text`` column) encrypted with the
context ``{"model": "<app_label>.<model>", "column": <db column>, "pk": <primary key>}``: a
ciphertext copied into another row or another column does not decrypt
(:class:`~tigerseal.errors.ContextMismatchError`). Renaming the model, its app label or the
column therefore needs a re-encryption (load and save every row with the old name, then rename).

Values decrypt on first attribute access, with the primary key the row was loaded with; a row
saved unchanged keeps its ciphertext. A row whose primary key is assigned by the database
(``AutoField``) is inserted with an empty placeholder and encrypted by an ``UPDATE`` right after
the insert (inside ``save()``; wrap it in ``transaction.atomic()`` — or use ``ATOMIC_REQUESTS``
— to make the pair all-or-nothing). ``bulk_create`` needs primary keys set beforehand.

Queries: ciphertext cannot be compared in SQL. ``field=value`` and ``field__in=[...]`` go
through a :class:`BlindIndexField` of the field when there is one (a keyed HMAC stored beside
it, from tigerseal-sql's :class:`~tigerseal_sql.BlindIndex`); ``field__isnull`` works; every
other lookup (``__contains``, ``__startswith``, ``__gt``, transforms) is refused with a
:class:`~django.core.exceptions.FieldError`. ``QuerySet.update(field=...)`` is refused too (it
cannot bind values to rows): assign to instances and ``save()``. ``values()`` /
``values_list()`` return :class:`StoredCiphertext` objects: decrypt through model instances.
``dumpdata`` writes the plaintext (what the model holds); ``loaddata`` encrypts each row.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import FieldError
from django.db import models
from django.db.models.expressions import Col
from django.db.models.lookups import IsNull, Lookup
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, post_save, pre_save
from tigerseal.errors import ConfigError, DecryptionError, EncryptionError

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler

__all__ = [
    "BlindIndexField",
    "EncryptedTextField",
    "StoredCiphertext",
    "generate_blind_index_key",
]

_LOADED = "_tigerseal_loaded"  # instance attribute: attname -> (StoredCiphertext, plaintext)
_PENDING = "_tigerseal_pending"  # instance attribute: attnames to encrypt after the INSERT
_IN_SAVE = "_tigerseal_in_save"
_RAW_RESTORE = "_tigerseal_raw_restore"  # attname -> plaintext, during a raw (loaddata) save


class StoredCiphertext:
    """A stored envelope as read from the database, not decrypted yet.

    ``context`` is the encryption context of the row it was loaded from (set when the model
    instance is built); it is ``None`` for ``values()`` results, which have no row to bind to.
    """

    __slots__ = ("context", "text")

    def __init__(self, text: str, context: dict[str, str] | None = None) -> None:
        self.text = text
        self.context = context

    def __repr__(self) -> str:
        return "<StoredCiphertext>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoredCiphertext) and other.text == self.text

    __hash__ = None  # type: ignore[assignment]


class _Ciphertext(str):
    """Envelope text made by this module, passed to the database as it is."""

    __slots__ = ()


def pk_string(pk: Any) -> str:
    """The primary key as bound into the context (a composite key as a JSON list)."""
    if isinstance(pk, tuple | list):
        return json.dumps([pk_string(p) for p in pk], separators=(",", ":"))
    if isinstance(pk, bytes | bytearray | memoryview):
        return bytes(pk).hex()
    if isinstance(pk, uuid.UUID):
        return str(pk)
    return str(pk)


def _encryption() -> Any:
    from tigerseal_django.conf import get_services

    return get_services().encryption


class _EncryptedAttribute(DeferredAttribute):
    """Decrypts on first access, with the context of the row the value was loaded from."""

    field: EncryptedTextField

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, StoredCiphertext):
            plaintext = self.field.decrypt_stored(value, instance)
            instance.__dict__[self.field.attname] = plaintext
            instance.__dict__.setdefault(_LOADED, {})[self.field.attname] = (value, plaintext)
            value = plaintext
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        # A data descriptor, so reads come through __get__ even with the value in __dict__.
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(models.Field):
    """Text encrypted with tigerseal, bound to ``app_label.model``, the column and the pk."""

    descriptor_class = _EncryptedAttribute
    description = "Text encrypted with tigerseal (bound to model, column and primary key)"
    empty_strings_allowed = True

    def get_internal_type(self) -> str:
        return "TextField"

    # -- context ---------------------------------------------------------------------------
    def context_for(self, instance: models.Model, pk: Any = None) -> dict[str, str]:
        """The encryption context of this field in ``instance``'s row."""
        if pk is None:
            pk = instance.pk
        if pk is None:
            raise EncryptionError(
                f"{self.model._meta.label}.{self.name}: the row has no primary key yet, so "
                "its encrypted value cannot be bound to it; save() the instance (the value is "
                "encrypted right after the insert) or give the primary key a default "
                "(UUIDField(primary_key=True, default=uuid.uuid4)) for bulk_create"
            )
        return {
            "model": self.model._meta.label_lower,
            "column": self.column,
            "pk": pk_string(pk),
        }

    def encrypt(self, plaintext: str, context: dict[str, str]) -> _Ciphertext:
        if not isinstance(plaintext, str):
            raise EncryptionError(
                f"{self.model._meta.label}.{self.name} holds text; got {type(plaintext).__name__}"
            )
        return _Ciphertext(str(_encryption().encrypt(plaintext, context)))

    def decrypt_stored(self, stored: StoredCiphertext, instance: models.Model) -> str:
        """Decrypt a loaded value with the context of the row it was loaded from."""
        if stored.text == "":
            raise DecryptionError(
                f"{self.model._meta.label}.{self.name} of pk {pk_string(instance.pk)!r} holds "
                "the placeholder of an insert whose encryption step did not complete; set the "
                "value again and save()"
            )
        context = stored.context or self.context_for(instance)
        result: str = _encryption().decrypt_to_string(stored.text, context)
        return result

    # -- model wiring ------------------------------------------------------------------------
    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return StoredCiphertext(value)

    def to_python(self, value: Any) -> Any:
        return value

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = model_instance.__dict__.get(self.attname)
        if value is None:
            return None
        pk = model_instance.pk
        if isinstance(value, StoredCiphertext):
            # Never accessed since loading: keep the ciphertext if it still belongs here.
            if pk is not None and value.context == self.context_for(model_instance):
                return _Ciphertext(value.text)
            value = self.decrypt_stored(value, model_instance)
            model_instance.__dict__[self.attname] = value
        else:
            loaded = model_instance.__dict__.get(_LOADED, {}).get(self.attname)
            if (
                loaded is not None
                and loaded[1] == value
                and pk is not None
                and loaded[0].context == self.context_for(model_instance)
            ):
                return _Ciphertext(loaded[0].text)
        if pk is None:
            if not model_instance.__dict__.get(_IN_SAVE):
                self.context_for(model_instance)  # raises: bulk_create without primary keys
            # Encrypted by _encrypt_pending once the INSERT has given the row its key.
            model_instance.__dict__.setdefault(_PENDING, set()).add(self.attname)
            return _Ciphertext("")
        return self.encrypt(value, self.context_for(model_instance))

    def get_prep_value(self, value: Any) -> Any:
        if value is None or isinstance(value, _Ciphertext):
            return value if value is None else str(value)
        if isinstance(value, StoredCiphertext):
            raise EncryptionError(
                f"{self.model._meta.label}.{self.name}: a value read with values() cannot be "
                "written back (it is bound to its own row); load model instances instead"
            )
        raise EncryptionError(
            f"{self.model._meta.label}.{self.name} is encrypted per row: QuerySet.update() and "
            "raw values cannot bind it to a row; assign it on model instances and save() them"
        )

    def value_to_string(self, obj: models.Model) -> str:
        value = self.value_from_object(obj)
        return "" if value is None else str(value)

    # -- lookups ---------------------------------------------------------------------------
    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return IsNull
        if lookup_name in ("exact", "in"):
            if self.blind_index_field() is None:
                raise FieldError(
                    f"{self.model._meta.label}.{self.name} is encrypted with a random nonce per "
                    f"value, so SQL cannot compare it (__{lookup_name}); add "
                    f"BlindIndexField(source={self.name!r}, index=...) to the model for "
                    "equality lookups"
                )
            return BlindIndexExact if lookup_name == "exact" else BlindIndexIn
        raise FieldError(self._refusal(lookup_name))

    def get_transform(self, lookup_name: str) -> Any:
        raise FieldError(self._refusal(lookup_name))

    def _refusal(self, lookup_name: str) -> str:
        return (
            f"{self.model._meta.label}.{self.name} is encrypted: the database holds only "
            f"ciphertext, so __{lookup_name} cannot work; only exact / __in (through a "
            "BlindIndexField) and __isnull lookups are supported"
        )

    def blind_index_field(self) -> BlindIndexField | None:
        """The model's :class:`BlindIndexField` over this field, if any."""
        for field in self.model._meta.concrete_fields:
            if isinstance(field, BlindIndexField) and field.source == self.name:
                return field
        return None


_FIELDS: dict[type[models.Model], tuple[EncryptedTextField, ...]] = {}


def _encrypted_fields(cls: type[models.Model]) -> tuple[EncryptedTextField, ...]:
    """The encrypted fields of a model, its parents' included (cached per class)."""
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = tuple(
            f for f in cls._meta.concrete_fields if isinstance(f, EncryptedTextField)
        )
    return found


# Receivers for every model, not per sender: a subclass (multi-table inheritance, proxies)
# sends signals under its own class, with its parent's encrypted fields.
def _bind_loaded(sender: type[models.Model], instance: models.Model, **_: Any) -> None:
    """Remember the row context of every loaded ciphertext (the pk may change before access)."""
    fields = _encrypted_fields(sender)
    if not fields:
        return
    state = instance.__dict__
    for field in fields:
        value = state.get(field.attname)
        if (
            isinstance(value, StoredCiphertext)
            and value.context is None
            and instance.pk is not None
        ):
            value.context = field.context_for(instance)


def _mark_saving(
    sender: type[models.Model], instance: models.Model, raw: bool = False, **_: Any
) -> None:
    fields = _encrypted_fields(sender)
    if not fields:
        return
    state = instance.__dict__
    state[_IN_SAVE] = True
    if raw:
        # loaddata saves "raw": field.pre_save() is skipped and the attribute goes to the
        # database as it is. Fixtures hold plaintext (dumpdata writes what the model holds),
        # and their rows carry their primary key: encrypt for that row now, and put the
        # plaintext back after the save.
        restore = state.setdefault(_RAW_RESTORE, {})
        for field in fields:
            value = state.get(field.attname)
            if isinstance(value, str) and not isinstance(value, _Ciphertext):
                restore[field.attname] = value
                state[field.attname] = field.encrypt(value, field.context_for(instance))


def _encrypt_pending(
    sender: type[models.Model], instance: models.Model, using: str, **_: Any
) -> None:
    """After an INSERT that gave the row its primary key: encrypt and store the values."""
    state = instance.__dict__
    state.pop(_IN_SAVE, None)
    state.update(state.pop(_RAW_RESTORE, {}))
    pending = state.pop(_PENDING, None)
    if not pending:
        return
    values: dict[str, Any] = {}
    for field in _encrypted_fields(sender):
        if field.attname in pending:
            values[field.attname] = field.encrypt(
                getattr(instance, field.attname), field.context_for(instance)
            )
    sender._base_manager.using(using).filter(pk=instance.pk).update(**values)


post_init.connect(_bind_loaded, dispatch_uid="tigerseal_django.fields.post_init")
pre_save.connect(_mark_saving, dispatch_uid="tigerseal_django.fields.pre_save")
post_save.connect(_encrypt_pending, dispatch_uid="tigerseal_django.fields.post_save")


# -- blind index --------------------------------------------------------------------------------
class BlindIndexField(models.BinaryField):
    """A keyed HMAC of an :class:`EncryptedTextField`'s plaintext, for equality lookups.

    Args:
        source: name of the encrypted field in the same model.
        index: the blind-index key: a name of ``settings.TIGERSEAL["BLIND_INDEX_KEYS"]`` (whose
            value is the envelope made by :func:`generate_blind_index_key`), a
            :class:`tigerseal_sql.BlindIndex`, or a callable returning one.
        normalize: applied to the value before hashing, on writes and lookups alike (e.g.
            ``str.casefold``); ignored when ``index`` is a BlindIndex object (it has its own).
        bits: digest length (a multiple of 8 between 32 and 256).
    """

    description = "Blind index (keyed HMAC) of an encrypted field"

    def __init__(
        self,
        *args: Any,
        source: str,
        index: Any = "default",
        normalize: Callable[[str], str] | None = None,
        bits: int = 128,
        **kwargs: Any,
    ) -> None:
        self.source = source
        self.index = index
        self.normalize = normalize
        self.bits = bits
        kwargs.setdefault("null", True)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("db_index", True)
        kwargs.setdefault("max_length", bits // 8)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        if isinstance(self.index, str):
            kwargs["index"] = self.index
        kwargs["bits"] = self.bits
        for key, default in (("null", True), ("editable", False), ("db_index", True)):
            if kwargs.get(key, not default) == default:
                kwargs.pop(key, None)
        if kwargs.get("max_length") == self.bits // 8:
            kwargs.pop("max_length", None)
        return name, path, args, kwargs

    def source_field(self) -> EncryptedTextField:
        field = self.model._meta.get_field(self.source)
        if not isinstance(field, EncryptedTextField):
            raise ConfigError(
                f"{self.model._meta.label}.{self.name}: source={self.source!r} is not an "
                "EncryptedTextField of the same model"
            )
        return field

    def blind_index(self) -> Any:
        """The :class:`tigerseal_sql.BlindIndex` computing this field's digests."""
        index = self.index
        if isinstance(index, str):
            from tigerseal_django.conf import get_blind_index

            return get_blind_index(index, normalize=self.normalize, bits=self.bits)
        if callable(index) and not hasattr(index, "digest"):
            return index()
        return index

    def digest(self, value: Any) -> bytes:
        """The digest of plaintext ``value`` in this model's source column."""
        source = self.source_field()
        digest: bytes = self.blind_index().digest(self.model._meta.db_table, source.column, value)
        return digest

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        source = self.source_field()
        if isinstance(model_instance.__dict__.get(source.attname), StoredCiphertext):
            # The encrypted value was not touched since loading: its digest is still right.
            return getattr(model_instance, self.attname)
        value = getattr(model_instance, source.attname)
        digest = None if value is None else self.digest(value)
        setattr(model_instance, self.attname, digest)
        return digest


def _blind_index_params(lookup: Lookup, connection: BaseDatabaseWrapper) -> tuple[Col, Any]:
    lhs = lookup.lhs
    if not isinstance(lhs, Col) or not isinstance(lhs.target, EncryptedTextField):
        raise FieldError("blind-index lookups apply to an encrypted field of a model")
    bidx = lhs.target.blind_index_field()
    assert bidx is not None  # get_lookup checked
    return Col(lhs.alias, bidx), bidx


def _plain(value: Any, lookup_name: str) -> Any:
    if hasattr(value, "resolve_expression"):
        raise FieldError(
            f"an encrypted field's __{lookup_name} lookup takes plain values, not expressions "
            "(the database cannot compare ciphertext with another column)"
        )
    return value


class BlindIndexExact(Lookup):
    """``encrypted_field=value`` compiled to ``<blind index column> = digest(value)``."""

    lookup_name = "exact"
    prepare_rhs = False

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> Any:
        col, bidx = _blind_index_params(self, connection)
        sql, params = compiler.compile(col)
        digest = bidx.digest(_plain(self.rhs, "exact"))
        return f"{sql} = %s", [*params, bidx.get_db_prep_value(digest, connection)]


class BlindIndexIn(Lookup):
    """``encrypted_field__in=[...]`` compiled to ``<blind index column> IN (digests)``."""

    lookup_name = "in"
    prepare_rhs = False

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> Any:
        col, bidx = _blind_index_params(self, connection)
        sql, params = compiler.compile(col)
        values = _plain(self.rhs, "in")
        if isinstance(values, str | bytes) or not isinstance(values, Iterable):
            raise FieldError("__in takes a list of values")
        digests = [
            bidx.get_db_prep_value(bidx.digest(v), connection) for v in values if v is not None
        ]
        if not digests:
            from django.core.exceptions import EmptyResultSet

            raise EmptyResultSet
        marks = ", ".join(["%s"] * len(digests))
        return f"{sql} IN ({marks})", [*params, *digests]


def generate_blind_index_key(name: str = "default") -> str:
    """A new blind-index root key, as an envelope to put in ``TIGERSEAL["BLIND_INDEX_KEYS"]``.

    The key is random and encrypted under the configured key providers (the value is safe to
    keep in settings or an environment variable; without the providers it is useless).
    """
    from tigerseal_sql import BlindIndex

    return BlindIndex.generate(_encryption(), name)
