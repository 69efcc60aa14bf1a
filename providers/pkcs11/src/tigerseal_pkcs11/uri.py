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
from urllib.parse import quote, unquote, unquote_to_bytes

from tigerseal.errors import ConfigError

__all__ = [
    "DEFAULT_PIN_ENV",
    "MECHANISMS",
    "MODULE_DIRS",
    "PinSource",
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
_QUERY_ATTRS = frozenset(
    {
        "module-path",
        "module-name",
        "pin-source",
        "mechanism",
        "locking",
        "max-sessions",
        "min-decryption-version",
    }
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


def _split(component: str, sep: str, where: str) -> dict[str, str]:
    found: dict[str, str] = {}
    if not component:
        return found
    for item in component.split(sep):
        if not item:
            continue
        name, eq, value = item.partition("=")
        name = name.strip().lower()
        if not eq or not name:
            raise ConfigError(
                f"malformed {where} attribute {unquote(name) or item!r} in pkcs11: URI: expected "
                f"name=value; example: {_EXAMPLE}"
            )
        if name in found:
            raise ConfigError(f"the pkcs11: URI gives {name!r} twice; keep one")
        found[name] = value
    return found


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


def _int(name: str, value: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} in the pkcs11: URI must be an integer") from None
    if number < minimum:
        raise ConfigError(f"{name} in the pkcs11: URI must be at least {minimum}")
    return number


def parse_uri(uri: str, **overrides: object) -> Pkcs11Uri:
    """Parse and validate a ``pkcs11:`` key URI.

    Args:
        uri: the URI.
        **overrides: values that take precedence over the query (``mechanism``, ``locking``,
            ``max_sessions``, ``min_decryption_version``, ``module_path``, ``pin_source``).

    Raises:
        ConfigError: the URI is malformed, names an unsupported attribute, carries a PIN in
            clear (``pin-value``), or lacks ``object`` or the module.
    """
    if not isinstance(uri, str):
        raise TypeError("a pkcs11: URI must be a str")
    scheme, sep, rest = uri.partition(":")
    if not sep or scheme.lower() != "pkcs11":
        raise ConfigError(f"not a pkcs11: URI; example: {_EXAMPLE}")
    if rest.startswith("//"):
        raise ConfigError(
            "pkcs11: URIs have no '//' (RFC 7512): write pkcs11:token=...;object=... "
            f"example: {_EXAMPLE}"
        )
    if "#" in rest:
        raise ConfigError("a pkcs11: URI has no fragment ('#'); percent-encode it as %23")
    path_part, _, query_part = rest.partition("?")
    path = _split(path_part, ";", "path")
    query = _split(query_part, "&", "query")

    if "pin-value" in query or "pin-value" in path:
        raise ConfigError(
            "pin-value is refused: a PIN in clear text inside a URI leaks into config files, "
            "logs and process listings. Use pin-source=env:VAR (default "
            f"env:{DEFAULT_PIN_ENV}) or pin-source=file:/path instead"
        )
    for name in path:
        if name in _UNSUPPORTED_PATH:
            raise ConfigError(
                f"the pkcs11: path attribute {name!r} is not supported by tigerseal; select the "
                "token with token=, serial=, manufacturer=, model= or slot-id="
            )
        if name not in _PATH_ATTRS:
            if name in _QUERY_ATTRS:
                raise ConfigError(f"{name!r} belongs in the query part of the URI (after '?')")
            raise ConfigError(
                f"unknown pkcs11: path attribute {name!r}; known: {', '.join(sorted(_PATH_ATTRS))}"
            )
    for name in query:
        if name not in _QUERY_ATTRS:
            if name in _PATH_ATTRS:
                raise ConfigError(f"{name!r} belongs in the path part of the URI (before '?')")
            raise ConfigError(
                f"unknown pkcs11: query attribute {name!r}; known: "
                f"{', '.join(sorted(_QUERY_ATTRS))}"
            )

    def text(name: str, part: dict[str, str]) -> str | None:
        if name not in part:
            return None
        try:
            return unquote(part[name], errors="strict")
        except UnicodeDecodeError:
            raise ConfigError(f"{name} in the pkcs11: URI is not valid UTF-8") from None

    obj = text("object", path)
    if not obj:
        raise ConfigError(f"the pkcs11: URI must name the key with object=<label>; e.g. {_EXAMPLE}")
    if _VERSION_SUFFIX.search(obj):
        base = _VERSION_SUFFIX.sub("", obj)
        raise ConfigError(
            f"object={obj!r} carries a version suffix; name the key without it (object={base}): "
            "tigerseal finds every version <object>.v<N> itself"
        )
    key_type = text("type", path)
    if key_type is not None and key_type != "secret-key":
        raise ConfigError(f"type={key_type!r}: a tigerseal KEK is a secret-key object")
    slot_text = text("slot-id", path)
    slot_id = None if slot_text is None else _int("slot-id", slot_text, 0)
    key_id_bytes = unquote_to_bytes(path["id"]) if "id" in path else None
    if key_id_bytes is not None and not key_id_bytes:
        raise ConfigError("id= in the pkcs11: URI is empty; remove it or give the key's CKA_ID")

    module_path = overrides.pop("module_path", None) or text("module-path", query)
    module_name = text("module-name", query)
    if module_path is None and module_name:
        module_path = _resolve_module(module_name)
    if not module_path:
        module_path = os.environ.get("TIGERSEAL_PKCS11_MODULE") or None
    if not module_path:
        raise ConfigError(
            "the pkcs11: URI needs the PKCS#11 module: add module-path=/path/to/module.so "
            "(SoftHSM2: /usr/lib/softhsm/libsofthsm2.so) or set TIGERSEAL_PKCS11_MODULE"
        )
    module_path = str(module_path)
    if not os.path.isabs(module_path):
        raise ConfigError(f"module-path={module_path!r} must be an absolute path")

    pin_override = overrides.pop("pin_source", None)
    pin_text = text("pin-source", query)
    if isinstance(pin_override, PinSource):
        pin_source = pin_override
    elif isinstance(pin_override, str):
        pin_source = _parse_pin_source(pin_override)
    elif pin_text is not None:
        pin_source = _parse_pin_source(pin_text)
    else:
        pin_source = PinSource("env", DEFAULT_PIN_ENV)

    mechanism = str(overrides.pop("mechanism", None) or text("mechanism", query) or "auto")
    if mechanism not in MECHANISMS:
        raise ConfigError(f"mechanism={mechanism!r}; choose one of {', '.join(MECHANISMS)}")
    locking = str(overrides.pop("locking", None) or text("locking", query) or "global")
    if locking not in _LOCKING:
        raise ConfigError(f"locking={locking!r}; choose global (safe default) or os")
    sessions_raw = overrides.pop("max_sessions", None)
    sessions_text = text("max-sessions", query)
    if sessions_raw is None:
        max_sessions = 4 if sessions_text is None else _int("max-sessions", sessions_text, 1)
    else:
        max_sessions = _int("max-sessions", str(sessions_raw), 1)
    mdv_raw = overrides.pop("min_decryption_version", None)
    mdv_text = text("min-decryption-version", query)
    if mdv_raw is None:
        mdv = 0 if mdv_text is None else _int("min-decryption-version", mdv_text, 0)
    else:
        mdv = _int("min-decryption-version", str(mdv_raw), 0)
    if overrides:
        raise ConfigError(
            f"unknown pkcs11 provider option(s): {', '.join(sorted(overrides))}; known: "
            "mechanism, locking, max_sessions, min_decryption_version, module_path, pin_source"
        )
    return Pkcs11Uri(
        object=obj,
        module_path=module_path,
        pin_source=pin_source,
        token=text("token", path),
        serial=text("serial", path),
        manufacturer=text("manufacturer", path),
        model=text("model", path),
        slot_id=slot_id,
        id=key_id_bytes,
        mechanism=mechanism,
        locking=locking,
        max_sessions=max_sessions,
        min_decryption_version=mdv,
    )
