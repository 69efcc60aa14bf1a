"""The ``vault://`` key provider: data keys wrapped by a Vault / OpenBao transit key.

Operations and the transit endpoints they use (``<mount>`` defaults to ``transit``):

=====================  ==========================================  =============================
operation              endpoint                                    context sent as
=====================  ==========================================  =============================
generate_data_key      ``POST <mount>/datakey/plaintext/<key>``     associated_data / context
wrap                   ``POST <mount>/encrypt/<key>``               associated_data / context
unwrap, unwrap_many    ``POST <mount>/decrypt/<key>`` (batch)       associated_data / context
rewrap, rewrap_many    ``POST <mount>/rewrap/<key>`` (batch)        context only (see below)
rotate                 ``POST <mount>/keys/<key>/rotate``           --
(first use, every      ``GET <mount>/keys/<key>``                   --
key_info_ttl)
=====================  ==========================================  =============================

Context binding. The envelope binds its context itself (it is part of the authenticated
header). In addition the provider binds it inside Vault:

* AEAD keys (aes256-gcm96, ...): the canonical context is sent as ``associated_data``, which
  OpenBao 2.7 honours on ``datakey``, ``encrypt`` and ``decrypt``. Its ``rewrap`` endpoint
  takes no ``associated_data`` and cannot open such a ciphertext, so a blob wrapped under a
  non-empty context is rewrapped by ``decrypt`` + ``encrypt`` (batched; the data key passes
  through this process, as it did when the message was written). Blobs with an empty context
  carry no associated data and are rewrapped server side. ``aad=0`` turns this off.
* Derived keys (``derived=1``): the canonical form of the chosen ``context_fields`` (default:
  the whole context) is the key-derivation ``context``; rewrap is then server side too.

The wrapped blob is Vault's ciphertext string (``vault:v<N>:<base64>``) as ASCII; ``N`` is the
key version recorded in the envelope.

Key existence. Transit's ``encrypt`` creates a missing key on the fly ("upsert"). The provider
reads the key (``GET <mount>/keys/<key>``) before its first wrap, so a typo in a URI raises
:class:`~tigerseal.errors.KeyNotFound` instead of minting a key; the least-privilege policy
(``update`` without ``create`` on ``encrypt/<key>``) closes the gap for a key deleted later.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from tigerseal._text import escape_control
from tigerseal.errors import (
    AccessDenied,
    ConfigError,
    ContextMismatchError,
    DecryptionError,
    EncryptionError,
    KeyNotFound,
    KeyProviderError,
    KeyVersionRetired,
    NoMatchingKeyError,
)
from tigerseal.spi import (
    DEK_SIZE,
    BatchWrap,
    Context,
    DataKey,
    KeyProvider,
    Retirable,
    Rotatable,
    WrappedKey,
)
from tigerseal.spi._capabilities import renamed_method

from tigerseal_vault._auth import Authenticator, AuthMethod
from tigerseal_vault._context import b64, canonical_context, select_fields
from tigerseal_vault._options import DEFAULT_MOUNT, provider_kwargs_from_uri
from tigerseal_vault._transport import Transport, VaultResponse

if TYPE_CHECKING:
    import hvac  # type: ignore[import-untyped]

__all__ = ["AEAD_KEY_TYPES", "KeyInfo", "VaultTransitProvider", "from_uri"]

#: Transit key types whose encrypt/decrypt take associated_data.
AEAD_KEY_TYPES = frozenset(
    {"aes128-gcm96", "aes256-gcm96", "chacha20-poly1305", "xchacha20-poly1305"}
)

# vault:v<N>:<base64>. No leading zero in N: Vault would read "v01" as version 1, and a blob
# that still decrypts after a byte changed must not exist.
_BLOB = re.compile(rb"vault:v([1-9][0-9]{0,8}):([A-Za-z0-9+/]+={0,2})")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_MOUNT = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
#: OpenBao refuses request bodies with more than 1,000 JSON strings (listener
#: max_request_json_strings); each batch item costs two strings (name, value) per field.
_JSON_STRING_BUDGET = 900
#: A locally cached min_decryption_version older than this is re-read before refusing.
_RECHECK_RETIRED_AFTER = 5.0


#: A batch item checked locally: (key version, ciphertext string, context fields to send).
_Prepared = tuple[int, str, dict[str, str]]


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What the provider knows about its transit key (from ``GET <mount>/keys/<key>``)."""

    name: str
    type: str
    latest_version: int
    min_decryption_version: int
    min_encryption_version: int
    derived: bool
    fetched_at: float


class VaultTransitProvider(KeyProvider, Rotatable, Retirable, BatchWrap):
    """Wraps data keys with a Vault / OpenBao transit key.

    Build it from a URI with :func:`from_uri` (``vault://transit/tiger?auth=approle``), or
    directly.

    Args:
        key_name: the transit key.
        addr: the server (``https://vault.internal:8200``).
        mount: where transit is mounted (default ``transit``; nested mounts allowed).
        namespace: Vault Enterprise / OpenBao namespace.
        auth: ``token`` or ``approle``.
        token: the token for ``auth="token"``.
        role_id: AppRole role_id for ``auth="approle"``.
        secret_id: AppRole secret_id for ``auth="approle"``.
        approle_mount: where AppRole is mounted.
        derived: the key was created with ``derived=true``; the context derives the key.
        context_fields: the context fields that derive the key (default: all of them).
        aad: send the context as ``associated_data`` (AEAD keys, not derived).
        timeout: seconds per request; outages never block longer than about twice this.
        verify: TLS verification (``True``, ``False`` or a CA bundle / directory path).
        cert: ``(client_cert, client_key)`` for TLS client authentication.
        batch_size: items per batch request (default: what fits OpenBao's JSON limits).
        key_info_ttl: seconds the key's versions and settings are cached.
        client: an hvac client to use instead of building one per thread. It is shared by
            all threads behind a lock; without ``token``/``auth`` its own token is used.
        clock: monotonic clock (tests).

    Raises:
        ConfigError: an option is invalid (checked here, before any request).
    """

    scheme: ClassVar[str] = "vault"

    def __init__(
        self,
        key_name: str,
        *,
        addr: str | None = None,
        mount: str = DEFAULT_MOUNT,
        namespace: str | None = None,
        auth: str = "token",
        token: str | None = None,
        role_id: str | None = None,
        secret_id: str | None = None,
        approle_mount: str = "approle",
        derived: bool = False,
        context_fields: Sequence[str] | None = None,
        aad: bool = True,
        timeout: float = 10.0,
        verify: bool | str = True,
        cert: tuple[str, str] | None = None,
        batch_size: int | None = None,
        key_info_ttl: float = 300.0,
        client: hvac.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(key_name, str) or not _NAME.match(key_name):
            raise ConfigError(
                f"{key_name!r} is not a valid transit key name (letters, digits, '_', '-', '.')"
            )
        mount = mount.strip("/")
        if not _MOUNT.match(mount) or ".." in mount.split("/"):
            raise ConfigError(f"{mount!r} is not a valid mount path")
        if addr is None and client is not None:
            addr = str(client.adapter.base_uri)
        if not addr:
            raise ConfigError(
                f"no Vault address for vault://{mount}/{key_name}: set VAULT_ADDR (or "
                "BAO_ADDR), or add ?addr=https://vault.example:8200 to the URI"
            )
        parts = urlsplit(addr)
        if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
            raise ConfigError(
                f"the Vault address {addr.split('@')[-1]!r} must look like "
                "https://host:8200 (no credentials in it)"
            )
        if not timeout or timeout <= 0:
            raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if batch_size is not None and batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if key_info_ttl <= 0:
            raise ConfigError(f"key_info_ttl must be positive, got {key_info_ttl}")
        fields = tuple(context_fields) if context_fields is not None else None
        if fields is not None:
            if not derived:
                raise ConfigError(
                    "context_fields only applies to derived keys: add derived=1 (and create "
                    "the key with derived=true), or drop context_fields"
                )
            if not fields or len(set(fields)) != len(fields) or not all(fields):
                raise ConfigError("context_fields must list distinct, non-empty field names")
        method: AuthMethod
        if auth == "approle":
            if not role_id or not secret_id:
                raise ConfigError("auth=approle needs a role_id and a secret_id")
            method = "approle"
        elif auth == "token":
            if token:
                method = "token"
            elif client is not None:
                method = "client"
            else:
                raise ConfigError(
                    f"no Vault token for vault://{mount}/{key_name}: set VAULT_TOKEN (or "
                    "BAO_TOKEN), or use auth=approle"
                )
        else:
            raise ConfigError(f"auth must be 'token' or 'approle', got {auth!r}")

        self.key_name = key_name
        self.mount = mount
        self.addr = addr.rstrip("/")
        self.namespace = namespace or None
        self.derived = bool(derived)
        self.context_fields = fields
        self.aad = bool(aad) and not self.derived
        self.batch_size = batch_size
        self.key_info_ttl = float(key_info_ttl)
        self._clock = clock
        self._transport = Transport(
            addr=self.addr,
            namespace=self.namespace,
            verify=verify,
            cert=cert,
            timeout=float(timeout),
            client=client,
        )
        self._auth = Authenticator(
            self._transport,
            method=method,
            token=token,
            role_id=role_id,
            secret_id=secret_id,
            approle_mount=approle_mount,
            clock=clock,
        )
        self._info_lock = threading.Lock()
        self._key_info: KeyInfo | None = None

    # -- identity ----------------------------------------------------------------------------
    @property
    def key_id(self) -> str:
        return f"{self.mount}/{self.key_name}"

    @property
    def binds_context(self) -> bool:
        """Whether Vault itself rejects another context.

        Derived keys bind the context (all of it, unless ``context_fields`` selects part);
        other keys only with ``aad`` (associated_data).
        """
        return (self.context_fields is None) if self.derived else self.aad

    @property
    def key_version(self) -> int:
        return self.key_info().latest_version

    @property
    def min_decryption_version(self) -> int:
        return self.key_info().min_decryption_version

    @property
    def stats(self) -> dict[str, int]:
        """HTTP requests sent to Vault, AppRole logins and token renewals so far."""
        return {
            "requests": self._transport.requests,
            "logins": self._auth.logins,
            "renewals": self._auth.renewals,
        }

    def __repr__(self) -> str:
        info = self._key_info
        version = f"v{info.latest_version}" if info is not None else "v?"
        extra = " derived" if self.derived else ""
        return f"<VaultTransitProvider {self.uri} at {self.addr}{extra} {version}>"

    # -- key information ---------------------------------------------------------------------
    def key_info(self, *, refresh: bool = False) -> KeyInfo:
        """The key's versions and settings, read on first use and every ``key_info_ttl``.

        Raises:
            KeyNotFound: the key (or the transit mount) does not exist.
            ConfigError: the key does not match the options (derived, key type).
        """
        info = self._key_info
        if not refresh and info is not None and self._fresh(info):
            return info
        with self._info_lock:
            info = self._key_info
            if not refresh and info is not None and self._fresh(info):
                return info
            info = self._fetch_key_info()
            self._key_info = info
            return info

    def _fresh(self, info: KeyInfo) -> bool:
        return self._clock() - info.fetched_at < self.key_info_ttl

    def _fetch_key_info(self) -> KeyInfo:
        path = f"{self.mount}/keys/{self.key_name}"
        resp = self._call("read the transit key", "GET", path, capability="read")
        if resp.status == 404 or (resp.ok and not resp.data):
            raise self._not_found(resp)
        if not resp.ok:
            raise KeyProviderError(
                f"reading {path} on {self.addr} failed (HTTP {resp.status}: "
                f"{resp.error_text}); check the key and mount names"
            )
        data = resp.data
        info = KeyInfo(
            name=str(data.get("name", self.key_name)),
            type=str(data.get("type", "")),
            latest_version=int(data.get("latest_version") or 0),
            min_decryption_version=int(data.get("min_decryption_version") or 0),
            min_encryption_version=int(data.get("min_encryption_version") or 0),
            derived=bool(data.get("derived")),
            fetched_at=self._clock(),
        )
        if info.derived and not self.derived:
            raise ConfigError(
                f"the transit key {self.key_id} is a derived key: add derived=1 to the URI "
                "(and context_fields=... to derive it from some context fields only)"
            )
        if self.derived and not info.derived:
            raise ConfigError(
                f"the transit key {self.key_id} is not a derived key but the URI says "
                "derived=1: drop derived=1, or create a derived key "
                f"(`tigerseal vault init-key {self.key_id} --derived`)"
            )
        if not (data.get("supports_encryption", True) and data.get("supports_decryption", True)):
            raise ConfigError(
                f"the transit key {self.key_id} ({info.type}) cannot encrypt and decrypt: "
                "use an aes256-gcm96 key"
            )
        if self.aad and info.type not in AEAD_KEY_TYPES:
            raise ConfigError(
                f"the transit key {self.key_id} is of type {info.type}, which takes no "
                "associated_data: use an aes256-gcm96 key, or set aad=0 to rely on the "
                "envelope's own context binding"
            )
        return info

    def _not_found(self, resp: VaultResponse) -> KeyNotFound:
        self._key_info = None
        if "no handler for route" in resp.error_text:
            return KeyNotFound(
                f"there is no transit mount at {self.mount!r} on {self.addr}: enable it with "
                f"`bao secrets enable -path={self.mount} transit` (or `vault secrets enable "
                "...`), or fix the mount in the URI"
            )
        return KeyNotFound(
            f"the transit key {self.key_id} does not exist on {self.addr}: create it with "
            f"`tigerseal vault init-key {self.key_id}`, or fix the key name in the URI"
        )

    def _saw_version(self, version: int) -> None:
        """Vault answered with a newer version (another process rotated): remember it."""
        info = self._key_info
        if info is not None and version > info.latest_version:
            with self._info_lock:
                current = self._key_info
                if current is not None and version > current.latest_version:
                    self._key_info = replace(current, latest_version=version)

    # -- requests ----------------------------------------------------------------------------
    def _call(
        self,
        operation: str,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        capability: str = "update",
        idempotent: bool = True,
    ) -> VaultResponse:
        token, generation = self._auth.current()
        resp = self._transport.call(method, path, token=token, body=body, idempotent=idempotent)
        if resp.status == 403:
            # An expired AppRole token and a policy denial both read "permission denied":
            # log in again once; if the fresh token is refused too, it is the policy.
            if self._auth.after_forbidden(generation):
                token, generation = self._auth.current()
                resp = self._transport.call(
                    method, path, token=token, body=body, idempotent=idempotent
                )
            if resp.status == 403:
                raise self._denied(operation, path, capability)
        return resp

    def _denied(self, operation: str, path: str, capability: str) -> AccessDenied:
        try:
            token_ok = self._auth.token_is_valid()
        except KeyProviderError:
            token_ok = False
        if token_ok:
            return AccessDenied(
                f"Vault at {self.addr} denied the request to {operation} ({capability} on "
                f'{path}): the token\'s policy needs path "{path}" {{ capabilities = '
                f'["{capability}"] }}; see docs/providers/vault.md for the least-privilege '
                "policy"
            )
        if self._auth.method == "token":
            return AccessDenied(
                f"Vault at {self.addr} refused the token (to {operation}): it has expired, was "
                "revoked, or belongs to another server. Set a fresh VAULT_TOKEN / BAO_TOKEN "
                "(renew tokens before their max TTL), or use AppRole (auth=approle) so "
                "tigerseal logs in again by itself"
            )
        return AccessDenied(
            f"Vault at {self.addr} refused the token (to {operation}) even after a fresh "
            "login: check the AppRole role's token_policies and token_bound_cidrs"
        )

    def _failure(
        self, operation: str, resp: VaultResponse | str, *, decrypting: bool, version: int = 0
    ) -> Exception:
        """Turn a refused request (or one failed batch item) into the right error."""
        text = resp if isinstance(resp, str) else resp.error_text
        status = 400 if isinstance(resp, str) else resp.status
        lower = text.lower()
        if status == 404 or "encryption key not found" in lower:
            return self._not_found(resp if isinstance(resp, VaultResponse) else VaultResponse(404))
        if "too old" in lower or "disallowed by policy" in lower:
            info = self.key_info(refresh=True)
            return self._retired(version, info.min_decryption_version)
        if "missing 'context'" in lower or "context for key derivation" in lower:
            return ConfigError(
                f"the transit key {self.key_id} is a derived key: add derived=1 to the URI"
            )
        if "non-aead" in lower:
            return ConfigError(
                f"the transit key {self.key_id} takes no associated_data: use an aes256-gcm96 "
                "key, or set aad=0"
            )
        if decrypting:
            # One opaque error: which check failed inside Vault is nobody's business.
            return DecryptionError(
                f"Vault could not {operation} with {self.key_id}: the wrapped key is corrupt, "
                "or was wrapped under another key or context"
            )
        return KeyProviderError(
            f"Vault at {self.addr} refused to {operation} with {self.key_id} "
            f"(HTTP {status}: {text or 'no detail'})"
        )

    def _retired(self, version: int, minimum: int) -> KeyVersionRetired:
        return KeyVersionRetired(
            f"this data key was wrapped with version {version} of the transit key "
            f"{self.key_id}, below its min_decryption_version {minimum}: rewrap stored data "
            "before retiring versions, or lower it again (`bao write "
            f"{self.mount}/keys/{self.key_name}/config min_decryption_version={version}`)"
        )

    # -- blobs and contexts ------------------------------------------------------------------
    def _blob(self, wrapped: WrappedKey) -> tuple[int, str]:
        """The version and ciphertext string of a wrapped key this provider owns."""
        if not self.owns(wrapped):
            raise NoMatchingKeyError(
                # From the message's unauthenticated key section: escaped.
                f"this data key was wrapped by {escape_control(wrapped.provider)}:"
                f"{escape_control(wrapped.key_id, limit=200)}, not by "
                f"{self.uri}; configure that key to decrypt it"
            )
        match = _BLOB.fullmatch(bytes(wrapped.blob))
        if match is None:
            raise DecryptionError("the wrapped data key is not a Vault transit ciphertext")
        version = int(match.group(1))
        encoded = match.group(2)
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise DecryptionError("the wrapped data key is malformed") from None
        # Vault's decoder ignores stray bits in the last character; demand the canonical form
        # so that no altered blob decrypts.
        if base64.b64encode(raw) != encoded or version != wrapped.key_version:
            raise DecryptionError("the wrapped data key is malformed")
        return version, match.group(0).decode("ascii")

    def _check_not_retired(self, version: int) -> None:
        info = self.key_info()
        if version >= info.min_decryption_version:
            return
        if self._clock() - info.fetched_at > _RECHECK_RETIRED_AFTER:
            info = self.key_info(refresh=True)  # an admin may have lowered it again
            if version >= info.min_decryption_version:
                return
        raise self._retired(version, info.min_decryption_version)

    def _binding(self, context: Context, *, unwrapping: bool) -> dict[str, str]:
        """The request fields that bind ``context`` inside Vault."""
        if self.derived:
            try:
                chosen = (
                    select_fields(context, self.context_fields)
                    if self.context_fields is not None
                    else context
                )
            except KeyError as exc:
                need = ", ".join(self.context_fields or ())
                msg = (
                    f"the derived transit key {self.key_id} is derived from the context fields "
                    f"({need}); the encryption context has no {exc.args[0]!r}"
                )
                if unwrapping:
                    raise ContextMismatchError(msg) from None
                raise EncryptionError(msg + ": add it to the context") from None
            return {"context": b64(canonical_context(chosen))}
        if self.aad and context:
            return {"associated_data": b64(canonical_context(context))}
        return {}

    def _rewraps_locally(self, context: Context) -> bool:
        # OpenBao's rewrap takes no associated_data and so cannot open these blobs.
        return self.aad and bool(context)

    def _chunk(self, with_binding: bool) -> int:
        if self.batch_size is not None:
            return self.batch_size
        return _JSON_STRING_BUDGET // (2 * (2 if with_binding else 1))

    @staticmethod
    def _dek_b64(dek: bytes) -> str:
        if not isinstance(dek, bytes | bytearray | memoryview):
            raise TypeError("a data key must be bytes")
        if len(dek) != DEK_SIZE:
            raise ValueError(f"a data key must be {DEK_SIZE} bytes, got {len(dek)}")
        return b64(bytes(dek))

    def _wrapped(self, operation: str, data: Mapping[str, Any]) -> WrappedKey:
        ciphertext = data.get("ciphertext")
        match = _BLOB.fullmatch(ciphertext.encode("ascii")) if isinstance(ciphertext, str) else None
        if match is None:
            raise KeyProviderError(
                f"Vault at {self.addr} answered the request to {operation} without a transit "
                "ciphertext; is this a transit mount?"
            )
        version = int(match.group(1))
        self._saw_version(version)
        return WrappedKey(self.scheme, self.key_id, version, match.group(0))

    def _plaintext(self, operation: str, data: Mapping[str, Any]) -> bytes:
        try:
            dek = base64.b64decode(str(data.get("plaintext", "")), validate=True)
        except (binascii.Error, ValueError):
            dek = b""
        if len(dek) != DEK_SIZE:
            raise DecryptionError(f"Vault could not {operation}: no 32-byte data key came back")
        return dek

    # -- KeyProvider -------------------------------------------------------------------------
    def generate_data_key(self, context: Context) -> DataKey:
        """One ``datakey/plaintext`` call returns the new DEK and its wrapped form."""
        binding = self._binding(context, unwrapping=False)
        self.key_info()
        op = "generate a data key"
        resp = self._call(
            op,
            "POST",
            f"{self.mount}/datakey/plaintext/{self.key_name}",
            {"bits": DEK_SIZE * 8, **binding},
        )
        if not resp.ok:
            raise self._failure(op, resp, decrypting=False)
        try:
            dek = self._plaintext(op, resp.data)
        except DecryptionError:
            raise KeyProviderError(f"Vault did not return a 32-byte data key for {op}") from None
        return DataKey(dek, self._wrapped(op, resp.data))

    def wrap(self, dek: bytes, context: Context) -> WrappedKey:
        """Encrypt ``dek`` with ``encrypt`` (after making sure the key exists: no upsert)."""
        plaintext = self._dek_b64(dek)
        binding = self._binding(context, unwrapping=False)
        self.key_info()
        op = "wrap a data key"
        resp = self._call(
            op,
            "POST",
            f"{self.mount}/encrypt/{self.key_name}",
            {"plaintext": plaintext, **binding},
        )
        if not resp.ok:
            raise self._failure(op, resp, decrypting=False)
        return self._wrapped(op, resp.data)

    def unwrap(self, wrapped: WrappedKey, context: Context) -> bytes:
        version, ciphertext = self._blob(wrapped)
        self._check_not_retired(version)
        binding = self._binding(context, unwrapping=True)
        op = "unwrap the data key"
        resp = self._call(
            op,
            "POST",
            f"{self.mount}/decrypt/{self.key_name}",
            {"ciphertext": ciphertext, **binding},
        )
        if not resp.ok:
            raise self._failure(op, resp, decrypting=True, version=version)
        return self._plaintext(op, resp.data)

    def rewrap(self, wrapped: WrappedKey, context: Context) -> WrappedKey:
        """Move a wrapped key to the newest version; server side unless bound by associated data."""
        return self.rewrap_many([(wrapped, context)])[0]

    def unwrap_many(self, items: Sequence[tuple[WrappedKey, Context]]) -> list[bytes]:
        """Unwrap with batch ``decrypt`` requests; raise the first item's failure in order."""
        prepared = self._prepare(items)
        op = "unwrap data keys"
        out: list[bytes] = []
        for results, chunk in self._batches(op, "decrypt", prepared):
            for result, (version, _, _) in zip(results, chunk, strict=True):
                if result.get("error"):
                    raise self._failure(op, str(result["error"]), decrypting=True, version=version)
                out.append(self._plaintext(op, result))
        return out

    def rewrap_many(self, items: Sequence[tuple[WrappedKey, Context]]) -> list[WrappedKey]:
        """Rewrap with batch requests: ``rewrap`` server side, else ``decrypt`` + ``encrypt``."""
        prepared = self._prepare(items)
        out: list[WrappedKey | None] = [None] * len(items)
        server = [i for i, (_, c) in enumerate(items) if not self._rewraps_locally(c)]
        local = [i for i, (_, c) in enumerate(items) if self._rewraps_locally(c)]
        if server:
            op = "rewrap data keys"
            chosen = [prepared[i] for i in server]
            done = 0
            for results, chunk in self._batches(op, "rewrap", chosen):
                for result, (version, _, _) in zip(results, chunk, strict=True):
                    if result.get("error"):
                        raise self._failure(
                            op, str(result["error"]), decrypting=True, version=version
                        )
                    out[server[done]] = self._wrapped(op, result)
                    done += 1
        if local:
            deks = self.unwrap_many([items[i] for i in local])
            fresh = self._wrap_many([(d, items[i][1]) for d, i in zip(deks, local, strict=True)])
            for i, w in zip(local, fresh, strict=True):
                out[i] = w
        return [w for w in out if w is not None]

    def _prepare(self, items: Sequence[tuple[WrappedKey, Context]]) -> list[_Prepared]:
        """Check every item locally first, so a bad one fails before any request."""
        prepared = []
        for wrapped, context in items:
            version, ciphertext = self._blob(wrapped)
            self._check_not_retired(version)
            prepared.append((version, ciphertext, self._binding(context, unwrapping=True)))
        return prepared

    def _batches(
        self, operation: str, endpoint: str, prepared: Sequence[_Prepared]
    ) -> Iterator[tuple[list[dict[str, Any]], Sequence[_Prepared]]]:
        """Yield ``(batch_results, chunk)`` per batch request."""
        size = self._chunk(any(binding for _, _, binding in prepared))
        path = f"{self.mount}/{endpoint}/{self.key_name}"
        for start in range(0, len(prepared), size):
            chunk = prepared[start : start + size]
            body = {"batch_input": [{"ciphertext": ct, **binding} for _, ct, binding in chunk]}
            resp = self._call(operation, "POST", path, body)
            # A batch with failed items answers HTTP 400 and still lists every item's result.
            results = resp.data.get("batch_results")
            if not isinstance(results, list) or len(results) != len(chunk):
                raise self._failure(operation, resp, decrypting=True)
            yield results, chunk

    def _wrap_many(self, pairs: Sequence[tuple[bytes, Context]]) -> list[WrappedKey]:
        self.key_info()
        items = [
            {"plaintext": self._dek_b64(dek), **self._binding(ctx, unwrapping=False)}
            for dek, ctx in pairs
        ]
        op = "wrap data keys"
        size = self._chunk(any(len(item) > 1 for item in items))
        out: list[WrappedKey] = []
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            resp = self._call(
                op, "POST", f"{self.mount}/encrypt/{self.key_name}", {"batch_input": chunk}
            )
            results = resp.data.get("batch_results")
            if not isinstance(results, list) or len(results) != len(chunk):
                raise self._failure(op, resp, decrypting=False)
            for result in results:
                if result.get("error"):
                    raise self._failure(op, str(result["error"]), decrypting=False)
                out.append(self._wrapped(op, result))
        return out

    # -- rotation ----------------------------------------------------------------------------
    def rotate(self) -> int:
        """Create a new key version (``keys/<key>/rotate``); return it."""
        self.key_info()
        op = "rotate the transit key"
        resp = self._call(
            op, "POST", f"{self.mount}/keys/{self.key_name}/rotate", {}, idempotent=False
        )
        if not resp.ok:
            raise self._failure(op, resp, decrypting=False)
        return self.key_info(refresh=True).latest_version

    def retire_below(self, min_version: int) -> None:
        """Retire versions below ``min_version`` (``keys/<key>/config``). Rewrap stored data first.

        Raises:
            ConfigError: ``min_version`` is not between 1 and the latest version (a
                ``ValueError`` too).
        """
        version = min_version
        latest = self.key_info(refresh=True).latest_version
        if not isinstance(version, int) or not 1 <= version <= latest:
            raise ConfigError(
                f"min_decryption_version must be between 1 and {latest}, got {version!r}"
            )
        op = "set min_decryption_version"
        resp = self._call(
            op,
            "POST",
            f"{self.mount}/keys/{self.key_name}/config",
            {"min_decryption_version": version},
        )
        if not resp.ok:
            raise self._failure(op, resp, decrypting=False)
        self.key_info(refresh=True)

    set_min_decryption_version = renamed_method("set_min_decryption_version", "retire_below")

    def _probe(self) -> str:
        dk = self.generate_data_key({"tigerseal-health-check": "1"})
        if self.unwrap(dk.wrapped, {"tigerseal-health-check": "1"}) != dk.plaintext:
            raise KeyProviderError(f"Vault key {self.key_id} returned another data key")
        return "datakey + decrypt round trip ok"

    def close(self) -> None:
        self._transport.close()


def from_uri(uri: str, **options: Any) -> VaultTransitProvider:
    """Build a provider from ``vault://[mount/]key-name?options`` (the registered factory).

    Args:
        uri: the key URI; see :data:`tigerseal_vault._options.QUERY_OPTIONS` for options.
        **options: the same options in code (they win over the URI), plus ``token``,
            ``role_id``, ``secret_id`` and ``client`` (an hvac client), which never belong
            in a URI.

    Raises:
        ConfigError: bad URI or options, or no address / credentials configured.
    """
    return VaultTransitProvider(**provider_kwargs_from_uri(uri, options))
