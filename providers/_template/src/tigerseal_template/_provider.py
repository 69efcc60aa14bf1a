"""``TemplateKeyProvider``: the core interface, implemented with local AES-256-GCM.

Replace the three ``AESGCM`` calls by your backend's wrap/unwrap (or encrypt/decrypt) API.
What must stay (the contract suite checks each):

* the wrapped key is bound to the key id, the version and the encryption context, so another
  key, version or context fails with :class:`~tigerseal.errors.DecryptionError`;
* ``unwrap`` refuses wrapped keys of another scheme or key id with ``DecryptionError``;
* every backend exception goes through ``_errors.translate``; nothing secret in messages,
  ``repr`` or ``uri``;
* instances are safe to share between threads (this one holds no mutable state).

Optional capabilities are declared by subclassing their ABC as well
(``class MyProvider(KeyProvider, Rotatable, Retirable, BatchWrap, HealthDetail)``) and
implementing their methods; the contract suite detects and tests each.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tigerseal.errors import ConfigError, DecryptionError
from tigerseal.spi import DEK_SIZE, Context, KeyProvider, WrappedKey
from tigerseal.spi.errors import translated
from tigerseal.spi.options import build_options, parse_uri

from tigerseal_template._errors import translate
from tigerseal_template._options import TemplateOptions

__all__ = ["TemplateKeyProvider", "from_uri"]

_NONCE = 12
_TAG = 16


class TemplateKeyProvider(KeyProvider):
    """TEMPLATE: a KEK read from an environment variable, AES-256-GCM wraps.

    Args:
        options: the parsed options (see :func:`from_uri`).
        environ: where to read the variable (default ``os.environ``).

    Raises:
        ConfigError: the variable is unset or not 64 hex digits.
    """

    scheme: ClassVar[str] = "template"

    def __init__(self, options: TemplateOptions, *, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        raw = env.get(options.variable, "")
        try:
            kek = bytes.fromhex(raw)
        except ValueError:
            kek = b""
        if len(kek) != 32:
            # Never echo the value: it is (or was meant to be) a key.
            raise ConfigError(
                f"template://{options.variable}: set {options.variable} to a 256-bit key in "
                "hex (64 digits), e.g. the output of `tigerseal keygen --print`"
            )
        self._options = options
        self._aead = AESGCM(kek)

    # -- identity -----------------------------------------------------------------------------
    @property
    def key_id(self) -> str:
        return self._options.variable

    @property
    def key_version(self) -> int:
        return self._options.version

    @property
    def uri(self) -> str:
        return f"template://{self._options.variable}?version={self._options.version}"

    # -- the core interface -------------------------------------------------------------------
    def wrap(self, dek: bytes, context: Context) -> WrappedKey:
        if len(dek) != DEK_SIZE:
            raise ValueError(f"a data key is {DEK_SIZE} bytes, got {len(dek)}")
        nonce = secrets.token_bytes(_NONCE)
        with translated(translate, operation="wrap", key_id=self.key_id):
            sealed = self._aead.encrypt(nonce, dek, self._aad(self.key_version, context))
        return WrappedKey(self.scheme, self.key_id, self.key_version, nonce + sealed)

    def unwrap(self, wrapped: WrappedKey, context: Context) -> bytes:
        if not self.owns(wrapped):
            raise DecryptionError(
                f"template key {self.key_id} cannot unwrap a key of "
                f"{wrapped.provider}:{wrapped.key_id}; configure that provider too"
            )
        blob = wrapped.blob
        if len(blob) != _NONCE + DEK_SIZE + _TAG:
            raise DecryptionError(f"unwrap with template key {self.key_id}: malformed blob")
        with translated(translate, operation="unwrap", key_id=self.key_id):
            return self._aead.decrypt(
                blob[:_NONCE], blob[_NONCE:], self._aad(wrapped.key_version, context)
            )

    def _aad(self, version: int, context: Context) -> bytes:
        # Key id, version and context, in an encoding where no two contexts collide
        # ({"a": "b=c"} vs {"a=b": "c"}): JSON of the sorted pairs.
        return json.dumps(
            [self.scheme, self.key_id, version, sorted(context.items())],
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()


def from_uri(uri: str, **options: Any) -> TemplateKeyProvider:
    """Build a provider from ``template://VARIABLE?version=N`` (the registered factory).

    Keyword options are the same as the query's (``version``); given in both places they must
    agree.

    Raises:
        ConfigError: a bad URI or option, or the variable is unset or not a hex KEK.
    """
    parsed = parse_uri(
        uri, plugin="template://", schemes=("template",), example="template://MY_KEK?version=1"
    )
    variable = parsed.location.strip("/")
    if not variable:
        raise ConfigError("template:// names no variable: write template://MY_KEK")
    opts = build_options(
        TemplateOptions,
        plugin="template://",
        uri=parsed.query,
        code=options,
        extra={"variable": variable},
    )
    return TemplateKeyProvider(opts)
