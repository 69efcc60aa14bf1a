"""RFC 7512 ``pkcs11:`` URIs: parsing, validation and the PIN source.

A key is named like this::

    pkcs11:token=tigerseal;object=tiger-kek?module-path=/usr/lib/softhsm/libsofthsm2.so
          &pin-source=file:/run/secrets/hsm-pin

Path attributes (``;``-separated) select the token and the key; query attributes
(``&``-separated) say how to reach it. Values are percent-decoded; ``id`` is raw bytes.

* token selection: ``token`` (label), ``serial``, ``manufacturer``, ``model``, ``slot-id``;
* key: ``object`` (label, required), ``id`` (optional), ``type`` (``secret-key`` only);
* module: ``module-path`` (absolute path) or ``module-name`` (looked up in the usual
  directories);
* PIN: ``pin-source=env:VAR`` or ``pin-source=file:/path`` (default: ``env:TIGERSEAL_PKCS11_PIN``).
  ``pin-value`` is refused: a PIN in clear text inside a URI ends up in config files, logs and
  process listings.
* tigerseal extensions: ``mechanism`` (``auto``, ``aes-gcm``, ``aes-key-wrap-pad``),
  ``locking`` (``global`` or ``os``), ``max-sessions``, ``min-decryption-version``.

Key versions are separate objects labelled ``<object>.v<N>`` (``CKA_ID`` = ``<id>.v<N>`` when
``id`` is given, else the label's bytes), so ``object`` names the key without a version suffix.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from tigerseal._text import escape_control
from tigerseal.errors import ConfigError, OptionError
from tigerseal.spi.options import build_options, did_you_mean, option, option_names, parse_int
from tigerseal.spi.options import parse_uri as parse_uri_grammar

__all__ = [
    "DEFAULT_PIN_ENV",
    "MECHANISMS",
    "MODULE_DIRS",
    "PinSource",
    "Pkcs11Options",
    "Pkcs11Uri",
    "parse_uri",
]

#: The environment variable read when the URI names no pin-source.
DEFAULT_PIN_ENV = "TIGERSEAL_PKCS11_PIN"

#: Accepted values of the ``mechanism`` query attribute.
MECHANISMS = ("auto", "aes-gcm", "aes-key-wrap-pad")
_LOCKING = ("global", "os")

#: Directories searched for ``module-name`` (RFC 7512 leaves the search path to the consumer).
MODULE_DIRS: tuple[str, ...] = (
    "/usr/lib/softhsm",
    "/usr/lib/x86_64-linux-gnu/softhsm",
    "/usr/lib/aarch64-linux-gnu/softhsm",
    "/usr/lib/x86_64-linux-gnu/pkcs11",
    "/usr/lib/aarch64-linux-gnu/pkcs11",
    "/usr/lib64/pkcs11",
    "/usr/lib/pkcs11",
    "/usr/local/lib/softhsm",
    "/usr/local/lib/pkcs11",
    "/opt/homebrew/lib/softhsm",
)

_PATH_ATTRS = frozenset(
    {"token", "serial", "manufacturer", "model", "slot-id", "object", "id", "type"}
)
# Standard RFC 7512 attributes we do not match on: refusing them beats silently ignoring them.
_UNSUPPORTED_PATH = frozenset(
    {
        "library-manufacturer",
        "library-description",
        "library-version",
        "slot-description",
        "slot-manufacturer",
    }
)
PLUGIN = "pkcs11"
_PIN_VALUE_REFUSED = (
    "pin-value is refused: a PIN in clear text inside a URI leaks into config files, logs and "
    f"process listings. Use pin-source=env:VAR (default env:{DEFAULT_PIN_ENV}) or "
    "pin-source=file:/path instead"
)
_VERSION_SUFFIX = re.compile(r"\.v\d+$")
_EXAMPLE = (
    "pkcs11:token=tigerseal;object=tiger-kek?module-path=/usr/lib/softhsm/libsofthsm2.so"
    "&pin-source=env:TIGERSEAL_PKCS11_PIN"
)


@dataclass(frozen=True, slots=True)
class PinSource:
    """Where the user PIN comes from: ``env`` (a variable name) or ``file`` (a path).

    Holds no PIN; :meth:`read` fetches it when the token is logged in to.
    """

    kind: str
    where: str

    def describe(self) -> str:
        """Human-readable source, for error messages (never the PIN)."""
        if self.kind == "env":
            return f"environment variable {self.where}"
        return f"file {self.where}"

    def uri_value(self) -> str:
        return f"{self.kind}:{self.where}"

    def read(self) -> str:
        """Read the PIN.

        Raises:
            ConfigError: the variable is unset or empty, or the file is missing or empty.
        """
        if self.kind == "env":
            pin = os.environ.get(self.where)
            if not pin:
                raise ConfigError(
                    f"the PKCS#11 user PIN is not set: set the environment variable "
                    f"{self.where}, or name another source with pin-source=env:VAR or "
                    "pin-source=file:/path in the pkcs11: URI"
                )
            return pin
        try:
            text = Path(self.where).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"cannot read the PKCS#11 PIN file {self.where} ({type(exc).__name__}); "
                "check the path in pin-source=file:... and that this user may read it"
            ) from None
        pin = text.rstrip("\r\n")
        if not pin:
            raise ConfigError(f"the PKCS#11 PIN file {self.where} is empty; write the PIN to it")
        return pin


@dataclass(frozen=True, slots=True)
class Pkcs11Uri:
    """A parsed ``pkcs11:`` key URI. Holds no secret.

    Attributes:
        object: base label of the key (versions are ``<object>.v<N>``).
        token: token label, if given. At least one token attribute or ``slot_id`` is needed
            unless the module has exactly one token.
        serial, manufacturer, model: other token selectors.
        slot_id: a slot number.
        id: base ``CKA_ID`` bytes, if given.
        module_path: absolute path of the PKCS#11 module (resolved from ``module-name`` too).
        pin_source: where the PIN comes from.
        mechanism: ``auto``, ``aes-gcm`` or ``aes-key-wrap-pad``.
        locking: ``global`` (one process-wide lock per module) or ``os`` (the module's own).
        max_sessions: sessions kept open per token.
        min_decryption_version: versions below this are refused (0: none).
    """

    object: str
    module_path: str
    pin_source: PinSource = field(default_factory=lambda: PinSource("env", DEFAULT_PIN_ENV))
    token: str | None = None
    serial: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    slot_id: int | None = None
    id: bytes | None = None
    mechanism: str = "auto"
    locking: str = "global"
    max_sessions: int = 4
    min_decryption_version: int = 0

    @property
    def key_id(self) -> str:
        """Stable, secret-free identifier recorded in envelopes: token selector and object."""
        parts = []
        for name, value in (
            ("token", self.token),
            ("serial", self.serial),
            ("manufacturer", self.manufacturer),
            ("model", self.model),
            ("slot-id", None if self.slot_id is None else str(self.slot_id)),
        ):
            if value is not None:
                parts.append(f"{name}={_q(value)}")
        parts.append(f"object={_q(self.object)}")
        if self.id is not None:
            parts.append("id=" + "".join(f"%{b:02X}" for b in self.id))
        return ";".join(parts)

    def to_uri(self) -> str:
        """The URI again, without secrets (the PIN source is a name or a path)."""
        query = [
            f"module-path={_q(self.module_path, '/')}",
            f"pin-source={_q(self.pin_source.uri_value(), '/:')}",
        ]
        if self.mechanism != "auto":
            query.append(f"mechanism={self.mechanism}")
        if self.locking != "global":
            query.append(f"locking={self.locking}")
        if self.min_decryption_version:
            query.append(f"min-decryption-version={self.min_decryption_version}")
        return f"pkcs11:{self.key_id}?{'&'.join(query)}"

    def label(self, version: int) -> str:
        """``CKA_LABEL`` of a key version."""
        return f"{self.object}.v{version}"

    def object_id(self, version: int) -> bytes:
        """``CKA_ID`` of a key version."""
        if self.id is not None:
            return self.id + f".v{version}".encode()
        return self.label(version).encode()


def _q(value: str, safe: str = "") -> str:
    return quote(value, safe=safe)


def _resolve_module(name: str) -> str:
    candidates = [name] if name.endswith(".so") else [f"{name}.so", name]
    for directory in MODULE_DIRS:
        for candidate in candidates:
            path = Path(directory) / candidate
            if path.exists():
                return str(path)
    raise ConfigError(
        f"PKCS#11 module-name={name!r} was not found in {', '.join(MODULE_DIRS)}; "
        "give its full path with module-path=/path/to/module.so"
    )


def _parse_pin_source(value: str) -> PinSource:
    if value.startswith("env:"):
        var = value[4:]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
            raise ConfigError(
                f"pin-source=env:{var} is not a valid environment variable name; "
                "use pin-source=env:NAME"
            )
        return PinSource("env", var)
    if value.startswith("file:"):
        path = value[5:]
        if path.startswith("//"):
            # file:///abs/path (empty authority) or file://localhost/abs/path
            authority, _, rest = path[2:].partition("/")
            if authority not in ("", "localhost"):
                raise ConfigError(f"pin-source {value!r} names a remote host; use a local file")
            path = "/" + rest
        if not path:
            raise ConfigError("pin-source=file: needs a path, e.g. pin-source=file:/run/hsm-pin")
        return PinSource("file", path)
    if value.startswith("|"):
        raise ConfigError(
            "pin-source=|command is not supported (tigerseal does not run programs to get a "
            "PIN); use pin-source=env:VAR or pin-source=file:/path"
        )
    if value.startswith("/"):
        return PinSource("file", value)
    raise ConfigError(
        "pin-source must be env:VAR or file:/path (got an unsupported form); "
        "example: pin-source=file:/run/secrets/hsm-pin"
    )


def _pin_source_option(name: str, value: object) -> PinSource:
    if isinstance(value, PinSource):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be env:VAR, file:/path or a PinSource")
    return _parse_pin_source(_utf8("pin-source", value))


def _utf8(name: str, value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{name} in the pkcs11: URI is not valid UTF-8") from None
    return value


@dataclass(frozen=True, slots=True)
class Pkcs11Options:
    """The query attributes of a ``pkcs11:`` URI, or the same as keywords (``module_path``...).

    Parsed by :mod:`tigerseal.spi.options`: an attribute given in the URI and as a keyword must
    have the same value in both places.
    """

    module_path: str | None = option(None, uri_name="module-path", help="absolute module path")
    module_name: str | None = option(None, uri_name="module-name", help="module looked up")
    pin_source: PinSource | None = option(
        None, uri_name="pin-source", parse=_pin_source_option, help="env:VAR or file:/path"
    )
    mechanism: Literal["auto", "aes-gcm", "aes-key-wrap-pad"] = option("auto", help="wrap")
    locking: Literal["global", "os"] = option("global", help="global (safe default) or os")
    max_sessions: int = option(4, uri_name="max-sessions", ge=1, help="sessions per token")
    min_decryption_version: int = option(
        0, uri_name="min-decryption-version", ge=0, help="refuse versions below this"
    )


def parse_uri(uri: str, **overrides: object) -> Pkcs11Uri:
    """Parse and validate a ``pkcs11:`` key URI (RFC 7512, read by :mod:`tigerseal.spi.options`).

    Args:
        uri: the URI.
        **overrides: the query attributes as keywords (``mechanism``, ``locking``,
            ``max_sessions``, ``min_decryption_version``, ``module_path``, ``pin_source``);
            one given in the URI too must have the same value there.

    Raises:
        ConfigError: the URI is malformed, names an unsupported attribute, carries a PIN in
            clear (``pin-value``), or lacks ``object`` or the module.
    """
    parsed = parse_uri_grammar(
        uri, plugin=PLUGIN, schemes=("pkcs11",), form="rfc7512", example=_EXAMPLE
    )
    path = dict(parsed.path_attributes)
    if "pin-value" in path or "pin-value" in parsed.options:
        raise ConfigError(_PIN_VALUE_REFUSED)
    query_names = option_names(Pkcs11Options)
    for name in path:
        if name in _UNSUPPORTED_PATH:
            raise ConfigError(
                f"the pkcs11: path attribute {name!r} is not supported by tigerseal; select the "
                "token with token=, serial=, manufacturer=, model= or slot-id="
            )
        if name not in _PATH_ATTRS:
            if name in query_names:
                raise ConfigError(f"{name!r} belongs in the query part of the URI (after '?')")
            raise OptionError(
                f"unknown pkcs11: path attribute {escape_control(name, limit=40)!r}."
                f"{did_you_mean(name, _PATH_ATTRS)} Known: {', '.join(sorted(_PATH_ATTRS))}",
                plugin=PLUGIN,
                option=name,
            )
    for name, _ in parsed.query:
        if name in _PATH_ATTRS:
            raise ConfigError(f"{name!r} belongs in the path part of the URI (before '?')")
    opts = build_options(Pkcs11Options, plugin=PLUGIN, uri=parsed.query, code=overrides)

    def text(name: str) -> str | None:
        return _utf8(name, path[name]) if name in path else None

    obj = text("object")
    if not obj:
        raise ConfigError(f"the pkcs11: URI must name the key with object=<label>; e.g. {_EXAMPLE}")
    if _VERSION_SUFFIX.search(obj):
        base = _VERSION_SUFFIX.sub("", obj)
        raise ConfigError(
            f"object={obj!r} carries a version suffix; name the key without it (object={base}): "
            "tigerseal finds every version <object>.v<N> itself"
        )
    key_type = text("type")
    if key_type is not None and key_type != "secret-key":
        raise ConfigError(f"type={key_type!r}: a tigerseal KEK is a secret-key object")
    slot_text = text("slot-id")
    slot_id = None if slot_text is None else parse_int("slot-id", slot_text, plugin=PLUGIN)
    if slot_id is not None and slot_id < 0:
        raise ConfigError("slot-id in the pkcs11: URI must be at least 0")
    # id is raw bytes: the grammar kept undecodable bytes as surrogates (surrogateescape).
    key_id_bytes = path["id"].encode("utf-8", "surrogateescape") if "id" in path else None
    if key_id_bytes is not None and not key_id_bytes:
        raise ConfigError("id= in the pkcs11: URI is empty; remove it or give the key's CKA_ID")

    module_path = opts.module_path
    if module_path is None and opts.module_name:
        module_path = _resolve_module(opts.module_name)
    if not module_path:
        module_path = os.environ.get("TIGERSEAL_PKCS11_MODULE") or None
    if not module_path:
        raise ConfigError(
            "the pkcs11: URI needs the PKCS#11 module: add module-path=/path/to/module.so "
            "(SoftHSM2: /usr/lib/softhsm/libsofthsm2.so) or set TIGERSEAL_PKCS11_MODULE"
        )
    if not os.path.isabs(module_path):
        raise ConfigError(f"module-path={module_path!r} must be an absolute path")
    return Pkcs11Uri(
        object=obj,
        module_path=module_path,
        pin_source=opts.pin_source or PinSource("env", DEFAULT_PIN_ENV),
        token=text("token"),
        serial=text("serial"),
        manufacturer=text("manufacturer"),
        model=text("model"),
        slot_id=slot_id,
        id=key_id_bytes,
        mechanism=opts.mechanism,
        locking=opts.locking,
        max_sessions=opts.max_sessions,
        min_decryption_version=opts.min_decryption_version,
    )
