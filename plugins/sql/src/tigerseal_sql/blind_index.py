"""Blind index: a keyed HMAC of a plaintext, stored beside its ciphertext for equality search.

An encrypted column cannot be searched (each ciphertext is randomised). A blind index stores
``HMAC-SHA256(k_col, normalize(value))``, truncated to ``bits``, in a plain indexed column, so
``WHERE tiger_id_bidx = :digest`` finds an account without decrypting every row. ``k_col`` is
derived with HKDF from one root key per index and bound to the table and column, so equal
values in two columns do not show as equal.

What it leaks: which rows share a value (that is the point) and, for low-entropy values, a
dictionary attack by whoever holds the root key. Truncating (``bits=32`` ...) makes collisions
deliberate, trading lookup precision for less linkability (CipherSweet's advice); the default
of 128 bits has no practical collisions.

The root key is a random 32-byte secret kept as a tigerseal envelope under your key providers
(:meth:`BlindIndex.generate`), so it is stored encrypted like any other secret and follows KMS
rotation through rewrap. :meth:`BlindIndex.load_or_create` keeps it in a small table.

Example::

    accounts_index = BlindIndex.load_or_create(engine, "tiger_accounts", normalize=str.strip)

    class TigerAccount(Base):
        __tablename__ = "tiger_accounts"
        id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
        tiger_id: Mapped[str] = mapped_column(EncryptedString())
        tiger_id_bidx: Mapped[bytes | None] = accounts_index.column("tiger_id")

    query = select(TigerAccount).where(accounts_index.match(TigerAccount.tiger_id, "12345"))
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Callable
from hashlib import sha256
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import (
    Column,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import mapped_column
from tigerseal._text import escape_control
from tigerseal.envelope import EncryptedData
from tigerseal.errors import ConfigError, TigerSealError

if TYPE_CHECKING:
    from sqlalchemy.orm import MappedColumn
    from sqlalchemy.sql.elements import ColumnElement
    from tigerseal.envelope import EncryptionService
    from tigerseal.keyuse import KeyUse, RewrapCount

__all__ = ["KEYS_TABLE", "BlindIndex", "blind_index_key_uses", "rewrap_blind_index_keys"]

_KEY_SIZE = 32
# Column.info key marking a blind-index column: (BlindIndex, source attribute); read by the ORM
# events (tigerseal_sql.orm), which import it from here.
INFO_KEY = "tigerseal_blind_index"
_INFO = b"tigerseal blind index v1"

#: Where :meth:`BlindIndex.load_or_create` keeps wrapped root keys.
KEYS_TABLE = Table(
    "tigerseal_blind_index_keys",
    MetaData(),
    Column("name", String(200), primary_key=True),
    Column("envelope", Text, nullable=False),
)


def _context(name: str) -> dict[str, str]:
    return {"purpose": "tigerseal-blind-index", "name": name}


class BlindIndex:
    """Computes blind-index digests for one root key.

    Args:
        root_key: 32 random bytes (never a password). Prefer :meth:`from_envelope`.
        name: label of the index (part of the key derivation; appears in errors).
        normalize: applied to ``str`` values before hashing, e.g. ``str.casefold``; the same
            function must be used on writes and lookups.
        bits: digest length kept, a multiple of 8 between 32 and 256.
    """

    def __init__(
        self,
        root_key: bytes,
        *,
        name: str = "default",
        normalize: Callable[[str], str] | None = None,
        bits: int = 128,
    ) -> None:
        if not isinstance(root_key, bytes) or len(root_key) != _KEY_SIZE:
            raise ConfigError(f"a blind-index root key is {_KEY_SIZE} random bytes")
        if bits % 8 or not 32 <= bits <= 256:
            raise ConfigError(f"bits must be a multiple of 8 between 32 and 256, got {bits}")
        self._root = root_key
        self.name = name
        self.normalize = normalize
        self.bits = bits
        self._subkeys: dict[tuple[str, str], bytes] = {}

    def __repr__(self) -> str:
        return f"BlindIndex(name={self.name!r}, bits={self.bits})"

    # -- keys ----------------------------------------------------------------------------------
    @staticmethod
    def generate(service: EncryptionService, name: str = "default") -> str:
        """Create a root key and return it encrypted (``ts1.`` text) for storage in config."""
        return str(service.encrypt(secrets.token_bytes(_KEY_SIZE), _context(name)))

    @classmethod
    def from_envelope(
        cls, service: EncryptionService, envelope: str | bytes, *, name: str = "default", **kw: Any
    ) -> BlindIndex:
        """Decrypt a root key made by :meth:`generate` (same ``name``)."""
        return cls(service.decrypt(envelope, _context(name)), name=name, **kw)

    @classmethod
    def load_or_create(
        cls,
        bind: Engine | Connection,
        name: str,
        *,
        service: EncryptionService | None = None,
        **kw: Any,
    ) -> BlindIndex:
        """Load the root key ``name`` from ``tigerseal_blind_index_keys``, creating it once.

        Safe against concurrent first use: the loser of the insert race reads the winner's key.
        """
        if service is None:
            from tigerseal.envelope import get_encryption_service

            service = get_encryption_service()
        engine = bind.engine
        KEYS_TABLE.create(engine, checkfirst=True)
        query = select(KEYS_TABLE.c.envelope).where(KEYS_TABLE.c.name == name)
        with engine.connect() as conn:
            stored = conn.execute(query).scalar_one_or_none()
        if stored is None:
            envelope = cls.generate(service, name)
            try:
                with engine.begin() as conn:
                    conn.execute(insert(KEYS_TABLE).values(name=name, envelope=envelope))
            except IntegrityError:
                pass  # another process created it first
            with engine.connect() as conn:
                stored = conn.execute(query).scalar_one()
        return cls.from_envelope(service, stored, name=name, **kw)

    # -- digests ---------------------------------------------------------------------------------
    def _subkey(self, table: str, column: str) -> bytes:
        key = self._subkeys.get((table, column))
        if key is None:
            info = _INFO + json.dumps([self.name, table, column]).encode()
            key = HKDF(hashes.SHA256(), _KEY_SIZE, salt=None, info=info).derive(self._root)
            self._subkeys[(table, column)] = key
        return key

    def digest(self, table: str, column: str, value: Any) -> bytes:
        """The index value of ``value`` in ``table.column`` (``bits // 8`` bytes)."""
        if isinstance(value, str):
            data = (self.normalize(value) if self.normalize else value).encode("utf-8")
        elif isinstance(value, bytes | bytearray | memoryview):
            data = bytes(value)
        else:
            data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")
        mac = hmac.new(self._subkey(table, column), data, sha256).digest()
        return mac[: self.bits // 8]

    # -- ORM helpers -------------------------------------------------------------------------------
    def column(self, source: str, *, index: bool = True, **kw: Any) -> MappedColumn[Any]:
        """A mapped column holding this index of the encrypted attribute ``source``.

        Maintained automatically on insert and update by tigerseal-sql's ORM events.
        """
        info = {**kw.pop("info", {}), INFO_KEY: (self, source)}
        return mapped_column(LargeBinary(self.bits // 8), index=index, info=info, **kw)

    def match(self, attribute: Any, value: Any) -> ColumnElement[bool]:
        """``WHERE`` clause finding rows whose encrypted ``attribute`` equals ``value``."""
        from sqlalchemy import inspect

        mapper = inspect(attribute.class_)
        source_col = attribute.property.columns[0]
        for prop in mapper.column_attrs:
            for col in prop.columns:
                spec = col.info.get(INFO_KEY)
                if spec and spec[0] is self and spec[1] in (attribute.key, source_col.name):
                    digest = self.digest(source_col.table.name, source_col.name, value)
                    return getattr(attribute.class_, prop.key) == digest  # type: ignore[no-any-return]
        raise ConfigError(
            f"{attribute.class_.__name__}.{attribute.key} has no blind-index column of "
            f"index {self.name!r}; declare one with BlindIndex.column({attribute.key!r})"
        )


# -- rotation: the keys table follows key-provider rotation ------------------------------------
def _engine(bind: Engine | Connection | str) -> tuple[Engine, bool]:
    """An engine for ``bind`` and whether we created it (and must dispose of it)."""
    if isinstance(bind, str):
        from tigerseal_sql._engine import engine_from_url

        # Checks and rewraps name an existing database: a mistyped SQLite path is an error,
        # not a new empty database that reads as "no keys stored".
        return engine_from_url(bind, must_exist=True), True
    return bind.engine, False


def _where(engine: Engine) -> str:
    from tigerseal_sql._engine import display_url

    return display_url(engine)


def blind_index_key_uses(bind: Engine | Connection | str) -> list[KeyUse]:
    """The key versions the root keys in ``tigerseal_blind_index_keys`` are wrapped under.

    Reads envelope headers only (nothing is decrypted, no key is needed). A database without
    the table has no uses.

    Raises:
        ConfigError: the database or a stored envelope cannot be read (a failed check never
            counts as "no uses").
    """
    from tigerseal.keyuse import KeyUse

    engine, owned = _engine(bind)
    try:
        where = _where(engine)
        try:
            if not inspect(engine).has_table(KEYS_TABLE.name):
                return []
            with engine.connect() as conn:
                rows = conn.execute(
                    select(KEYS_TABLE.c.name, KEYS_TABLE.c.envelope).order_by(KEYS_TABLE.c.name)
                ).all()
        except SQLAlchemyError as exc:
            raise ConfigError(
                f"cannot read {KEYS_TABLE.name} at {where} to check its key versions "
                f"({type(exc).__name__}); check the database URL and that it is reachable"
            ) from None
        found: list[KeyUse] = []
        for name, envelope in rows:
            what = f"blind-index key {name!r} in {KEYS_TABLE.name} at {where}"
            try:
                header = EncryptedData.parse(envelope).header
            except TigerSealError as exc:
                raise ConfigError(
                    f"{escape_control(what, limit=300)} is not a tigerseal envelope ({exc}); "
                    "restore it from a backup"
                ) from None
            remedy = "tigerseal sql rewrap-blind-index DATABASE_URL"
            found += [KeyUse.of(what, w, remedy) for w in header.wrapped_keys]
        return found
    finally:
        if owned:
            engine.dispose()


def rewrap_blind_index_keys(
    bind: Engine | Connection | str, *, service: EncryptionService | None = None
) -> RewrapCount:
    """Move every root key in ``tigerseal_blind_index_keys`` to the newest key versions.

    Only the wrapped data keys change (:meth:`EncryptionService.rewrap`): the root keys, and so
    every stored digest, stay the same. Each row is updated only if it still holds the envelope
    that was read (compare-and-set), so a concurrent writer is never overwritten; run it again
    if it reports rows left.

    Returns:
        How many root keys were rewrapped, already current, or wrapped only by providers not
        configured in ``service`` (left as they are).

    Raises:
        ConfigError: the database cannot be read or written.
        DecryptionError: a stored key is not authentic, or no configured provider can unwrap it.
    """
    if service is None:
        from tigerseal.envelope import get_encryption_service

        service = get_encryption_service()
    from tigerseal.keyuse import RewrapCount

    engine, owned = _engine(bind)
    rewrapped = current = other = 0
    try:
        where = _where(engine)
        try:
            if not inspect(engine).has_table(KEYS_TABLE.name):
                return RewrapCount(0, 0)
            with engine.connect() as conn:
                rows = conn.execute(select(KEYS_TABLE.c.name, KEYS_TABLE.c.envelope)).all()
            for name, envelope in rows:
                wrapped = EncryptedData.parse(envelope).header.wrapped_keys
                if not any(p.owns(w) for p in service.providers for w in wrapped):
                    other += 1
                    continue
                if not service.needs_rewrap(envelope):
                    current += 1
                    continue
                new = str(service.rewrap(envelope))
                with engine.begin() as conn:
                    done = conn.execute(
                        update(KEYS_TABLE)
                        .where(KEYS_TABLE.c.name == name, KEYS_TABLE.c.envelope == envelope)
                        .values(envelope=new)
                    ).rowcount
                if done != 1:
                    raise ConfigError(
                        f"blind-index key {escape_control(repr(name), limit=200)} at {where} "
                        "changed while it was being rewrapped; run the rewrap again"
                    )
                rewrapped += 1
        except SQLAlchemyError as exc:
            raise ConfigError(
                f"cannot rewrap {KEYS_TABLE.name} at {where} ({type(exc).__name__}); check the "
                "database URL and that it is reachable and writable"
            ) from None
        return RewrapCount(rewrapped, current, other)
    finally:
        if owned:
            engine.dispose()
