"""ORM events that bind encrypted columns to their row, installed on every mapper that has one.

:func:`install` registers them (idempotent). Constructing an ``Encrypted*`` column type calls it,
so declaring an encrypted column is enough; importing a module never registers anything.

Insert, in :func:`_before_insert`:

* the primary key is known (set by the application, or produced by a client-side column default
  such as ``default=uuid.uuid4``, which is run early here): each encrypted attribute becomes a
  :class:`~tigerseal_sql.types.Sealed` value and is encrypted in the ``INSERT`` itself;
* the database assigns the key (autoincrement, identity, sequence, server default): the
  ``INSERT`` stores an empty placeholder and :func:`_after_insert` writes the ciphertexts with an
  ``UPDATE`` in the same transaction, once the key is known (two phases, one flush; the
  placeholder never commits).

Update: only changed encrypted attributes are re-encrypted, all of them when the primary key
itself changes. Load and refresh: ciphertexts are decrypted with the loaded row's context. After
every flush the attributes hold plaintext again, without history.

Blind-index columns (:class:`tigerseal_sql.BlindIndex`) are recomputed from the plaintext on the
same events.
"""

from __future__ import annotations

import functools
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, update
from sqlalchemy.orm import Mapper, Session, attributes
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.base import PASSIVE_NO_INITIALIZE
from sqlalchemy.orm.exc import UnmappedColumnError
from tigerseal.envelope import EncryptedData

from tigerseal_sql.blind_index import INFO_KEY
from tigerseal_sql.types import PENDING, EncryptedType, Sealed, pk_string

if TYPE_CHECKING:
    from sqlalchemy import Column
    from sqlalchemy.engine import Connection

    from tigerseal_sql.blind_index import BlindIndex

__all__ = ["INFO_KEY", "EncryptedAttr", "encrypted_attributes", "install"]


@dataclass(frozen=True)
class EncryptedAttr:
    """An encrypted column of a mapped class."""

    key: str  # attribute name on the class
    column: Column[Any]
    type: EncryptedType
    # Read for every cell encrypted or decrypted: resolved once.
    table: str = field(init=False)
    column_name: str = field(init=False)
    # The cell context without "pk" (the type's static context, table, column): the type's
    # context is fixed at construction, so each loaded row copies this and adds its key.
    base_context: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", str(self.column.table.name))
        object.__setattr__(self, "column_name", str(self.column.name))
        base = self.type.cell_context(self.table, self.column_name, "")
        del base["pk"]
        object.__setattr__(self, "base_context", base)


@dataclass
class _MapperPlan:
    attrs: list[EncryptedAttr]
    # (index attribute key, BlindIndex, source attribute)
    indexes: list[tuple[str, BlindIndex, EncryptedAttr]] = field(default_factory=list)
    # attribute keys of the primary-key columns, in mapper.primary_key order
    pk_keys: tuple[str, ...] = ()


_PLANS: weakref.WeakKeyDictionary[Mapper[Any], _MapperPlan] = weakref.WeakKeyDictionary()
# Plaintexts waiting for the second phase of a two-phase insert, per instance state.
_PENDING: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
# Plaintexts to put back into attributes after the statement, per instance state.
_RESTORE: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def encrypted_attributes(mapper: Mapper[Any]) -> list[EncryptedAttr]:
    """The encrypted columns of a mapper (empty if it has none)."""
    plan = _PLANS.get(mapper)
    return list(plan.attrs) if plan else []


def _plan(mapper: Mapper[Any]) -> _MapperPlan | None:
    attrs: list[EncryptedAttr] = []
    index_cols: list[tuple[str, Any]] = []
    for prop in mapper.column_attrs:
        for col in prop.columns:
            if isinstance(getattr(col, "type", None), EncryptedType):
                attrs.append(EncryptedAttr(prop.key, col, col.type))  # type: ignore[arg-type]
            elif INFO_KEY in getattr(col, "info", {}):
                index_cols.append((prop.key, col))
    if not attrs:
        return None
    by_name = {a.column.name: a for a in attrs} | {a.key: a for a in attrs}
    plan = _MapperPlan(attrs)
    try:
        plan.pk_keys = tuple(mapper.get_property_by_column(c).key for c in mapper.primary_key)
    except UnmappedColumnError:  # a primary-key column without a property: the general path
        plan.pk_keys = ()
    for key, col in index_cols:
        bidx, source = col.info[INFO_KEY]
        src = by_name.get(source)
        if src is None:
            from tigerseal.errors import ConfigError

            raise ConfigError(
                f"blind index column {col.name!r} of {mapper.class_.__name__} names source "
                f"{source!r}, which is not an encrypted column of that class"
            )
        plan.indexes.append((key, bidx, src))
    return plan


def _instrument(mapper: Mapper[Any], class_: type[Any]) -> None:
    """Install the events on ``mapper`` if it maps encrypted columns (idempotent)."""
    if mapper in _PLANS:
        return
    plan = _plan(mapper)
    if plan is None:
        return
    _PLANS[mapper] = plan
    event.listen(mapper, "before_insert", _before_insert)
    event.listen(mapper, "after_insert", _after_insert)
    event.listen(mapper, "before_update", _before_update)
    event.listen(mapper, "after_update", _after_update)
    # raw=True: the listeners get the InstanceState the loader holds, not the instance (one
    # weakref dereference and one instance_state() lookup less per loaded row).
    # Mapper events fire for this mapper's own instances (no propagate): the plan is this one.
    event.listen(mapper, "load", functools.partial(_on_load, plan), raw=True)
    event.listen(mapper, "refresh", functools.partial(_on_refresh, plan), raw=True)


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Register tigerseal-sql's ORM events: every mapper configured afterwards is checked.

    Mappers with ``Encrypted*`` columns get the events that encrypt on flush and decrypt on
    load; the others are left alone. Idempotent and thread-safe. The ``Encrypted*`` types call
    this when they are constructed, so a model that declares an encrypted column never needs
    it; call it yourself only to be explicit (e.g. at application start-up).
    """
    global _installed
    if _installed:  # the common case, once per column type constructed: no lock
        return
    with _install_lock:
        if _installed:
            return
        event.listen(Mapper, "mapper_configured", _instrument)
        event.listen(Session, "after_soft_rollback", _after_rollback)
        _installed = True


# -- flush ---------------------------------------------------------------------------------------
def _primary_key(
    mapper: Mapper[Any], target: Any, *, fill_defaults: bool
) -> tuple[Any, ...] | None:
    plan = _PLANS.get(mapper)
    if plan is not None and plan.pk_keys:
        # The common case, a key set on the instance: read it from the instance dict.
        sdict = attributes.instance_dict(target)
        fast = tuple(sdict.get(k) for k in plan.pk_keys)
        if None not in fast:
            return fast
    pk = mapper.primary_key_from_instance(target)
    if all(v is not None for v in pk):
        return tuple(pk)
    if not fill_defaults:
        return None
    # Run client-side scalar or zero-argument callable defaults now instead of during the
    # INSERT, so the key is known before encrypting.
    for col, value in zip(mapper.primary_key, pk, strict=True):
        if value is not None:
            continue
        default = col.default
        if default is None or not (default.is_scalar or default.is_callable):
            return None
        try:
            new = default.arg if default.is_scalar else default.arg(None)
        except TypeError:  # the callable wants an execution context: leave it to the INSERT
            return None
        setattr(target, mapper.get_property_by_column(col).key, new)
    pk = mapper.primary_key_from_instance(target)
    return tuple(pk) if all(v is not None for v in pk) else None


def _encrypt(a: EncryptedAttr, value: Any, pk: Any) -> EncryptedData:
    # Encrypted here rather than in the type's bind processor, so a failure (bad value type,
    # key provider down) surfaces as the tigerseal error, not wrapped in a StatementError.
    return a.type.encrypt(value, a.type.cell_context(a.table, a.column_name, pk))


def _update_indexes(
    plan: _MapperPlan, target: Any, state_dict: dict[str, Any], only: set[str] | None
) -> None:
    for key, bidx, src in plan.indexes:
        if only is not None and src.key not in only:
            continue
        value = state_dict.get(src.key)
        setattr(
            target, key, None if value is None else bidx.digest(src.table, src.column.name, value)
        )


def _before_insert(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
    plan = _PLANS[mapper]
    state = attributes.instance_state(target)
    sdict = state.dict
    _update_indexes(plan, target, sdict, None)
    pk = _primary_key(mapper, target, fill_defaults=True)
    restore: dict[str, Any] = {}
    pending: dict[str, Any] = {}
    for a in plan.attrs:
        value = sdict.get(a.key)
        if isinstance(value, Sealed):  # left over from a flush that failed: bind afresh
            value = value.value
        if value is None or value is PENDING or isinstance(value, EncryptedData):
            continue
        restore[a.key] = value
        # Into the instance dict, not through setattr: the INSERT takes its values from the
        # dict, and an attribute event here would make the session record the object as
        # altered during the flush (and run validators on a ciphertext) for every row.
        if pk is None:
            pending[a.key] = value
            sdict[a.key] = PENDING
        else:
            sdict[a.key] = _encrypt(a, value, pk)
    if restore:
        _RESTORE[state] = restore
    if pending:
        _PENDING[state] = pending


def _after_insert(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
    plan = _PLANS[mapper]
    state = attributes.instance_state(target)
    pending = _PENDING.pop(state, None)
    if pending:
        pk = _primary_key(mapper, target, fill_defaults=False)
        by_key = {a.key: a for a in plan.attrs}
        by_table: dict[Any, dict[str, Any]] = {}
        for key, value in pending.items():
            a = by_key[key]
            ctx = a.type.cell_context(a.table, a.column_name, pk)
            by_table.setdefault(a.column.table, {})[a.column.name] = a.type.encrypt(value, ctx)
        for table, values in by_table.items():
            cols = [c for c in mapper.primary_key if c.table is table] or list(table.primary_key)
            where = [c == v for c, v in zip(cols, pk or (), strict=False)]
            connection.execute(update(table).where(*where).values(values))
    _restore(state, target)


def _restore(state: Any, target: Any) -> None:
    restore = _RESTORE.pop(state, None)
    if restore:
        for key, value in restore.items():
            set_committed_value(target, key, value)


def _before_update(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
    plan = _PLANS[mapper]
    state = attributes.instance_state(target)
    pk_changed = any(
        _changed(target, mapper.get_property_by_column(c).key) for c in mapper.primary_key
    )
    changed = {a.key for a in plan.attrs if pk_changed or _changed(target, a.key)}
    if not changed:
        return
    _update_indexes(plan, target, state.dict, changed)
    pk = _primary_key(mapper, target, fill_defaults=False)
    restore: dict[str, Any] = {}
    for a in plan.attrs:
        if a.key not in changed:
            continue
        if a.key not in state.dict:
            # Expired or deferred: load it (decrypting under the old key) before re-binding.
            getattr(target, a.key)
        value = state.dict.get(a.key)
        if isinstance(value, Sealed):
            value = value.value
        if value is None or isinstance(value, EncryptedData):
            continue
        restore[a.key] = value
        setattr(target, a.key, _encrypt(a, value, pk))
    if restore:
        _RESTORE[state] = restore


def _after_update(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
    _restore(attributes.instance_state(target), target)


def _changed(target: Any, key: str) -> bool:
    # PASSIVE_NO_INITIALIZE: an unloaded attribute was not changed, and must not be loaded here.
    hist = attributes.get_history(target, key, passive=PASSIVE_NO_INITIALIZE)
    return bool(hist.added or hist.deleted)


def _after_rollback(session: Session, previous_transaction: Any) -> None:
    """A failed flush leaves ciphertexts in attributes: put the plaintexts back."""
    for state, values in list(_RESTORE.items()):
        if state.session_id not in (None, session.hash_key):
            continue
        _RESTORE.pop(state, None)
        _PENDING.pop(state, None)
        for key, value in values.items():
            current = state.dict.get(key)
            if current is PENDING or isinstance(current, Sealed | EncryptedData):
                state.dict[key] = value


# -- load ----------------------------------------------------------------------------------------
def _decrypt_loaded(plan: _MapperPlan, state: Any, keys: set[str] | None) -> None:
    # Once per loaded row: plain locals, the cell context built from the attribute's prepared
    # base, the primary key's string computed once for all the row's encrypted columns.
    pks = None
    sdict = state.dict
    for a in plan.attrs:
        if keys is not None and a.key not in keys:
            continue
        value = sdict.get(a.key)
        if value.__class__ is not EncryptedData and not isinstance(value, EncryptedData):
            continue
        if pks is None:
            # The persisted key (identity), not the attribute: it may be changing right now.
            key = state.key
            pks = pk_string(
                key[1] if key is not None else state.mapper.primary_key_from_instance(state.obj())
            )
        # The row's own context, checked by the service against the message's. The binding
        # cannot move into the column's result processor: it never sees the row's key.
        ctx = a.base_context.copy()
        ctx["pk"] = pks
        t = a.type
        svc: Any = t.service  # a service, a factory or None: get_service() sorts it out
        if svc is None or not hasattr(svc, "encrypt"):  # get_service()'s rule, inline
            svc = t.get_service()
        plaintext = t.decode(svc.decrypt(value, ctx))
        if a.key in state.committed_state:
            set_committed_value(state.obj(), a.key, plaintext)
        else:
            # Just loaded: the value is already the committed one (no history to clear), so
            # replacing it in the instance dict is what set_committed_value would do, without
            # the attribute machinery once per row.
            sdict[a.key] = plaintext


def _on_load(plan: _MapperPlan, state: Any, context: Any) -> None:
    _decrypt_loaded(plan, state, None)


def _on_refresh(plan: _MapperPlan, state: Any, context: Any, attrs: Any) -> None:
    _decrypt_loaded(plan, state, set(attrs) if attrs is not None else None)
