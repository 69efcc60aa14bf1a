"""One URI grammar and one way to turn options into a typed, validated object.

Every provider, storage, store and sink is configured by a URI plus keyword options given in
code. This module is the only place that parses them (the model is limits'
``parse_storage_uri``): a plugin declares its options as a frozen dataclass and calls
:func:`parse_uri` then :func:`build_options`.

Grammar (RFC 3986, with the rules below applied the same way for every plugin)::

    uri       = scheme ":" [ "//" authority ] path [ "?" query ]
    query     = pair *( "&" pair )        ; empty pairs ("&&") are skipped
    pair      = name "=" value            ; percent-encoded; "+" is a space (HTML form rules)

and, as a grammar of the same parser (``form="rfc7512"``), RFC 7512 ``pkcs11:`` URIs::

    pkcs11-uri = "pkcs11:" path-attrs [ "?" query-attrs ]
    path-attrs = attr *( ";" attr )       ; token=...;object=...
    query-attrs = attr *( "&" attr )      ; module-path=...&pin-source=...
    attr       = name "=" value           ; percent-encoded, "+" is a literal plus

Rules, the same for every plugin:

* **No fragment.** ``#`` starts nothing in a configuration URI; write ``%23`` for a literal one.
* **A query option given twice is an error**, never "the first wins" or "the last wins".
* **Unknown options are errors**, with a "did you mean ..." suggestion (:mod:`difflib`).
* **One precedence rule: an option given both in the URI and in code must agree.** If the two
  values differ (after parsing: ``1`` and ``True`` agree) it is an error that names the option.
  Why not "code wins" or "URI wins": the URI usually comes from the deployment (an environment
  variable) and the keyword from the application; when they disagree one of them is silently
  ignored, and the one ignored may be the safety setting (``insecure_skip_verify=0``,
  ``on_outage=fail_closed``). Refusing the conflict costs one edit; either silent rule costs an
  outage or a hole. Where a plugin documents an environment variable fallback (``VAULT_ADDR``,
  ``TIGERSEAL_REDIS_ON_OUTAGE``), it applies only when neither the URI nor code gives the
  option; the dataclass default applies last.
* **One parsing of each type**: booleans are ``1/true/yes/on`` or ``0/false/no/off`` (any case;
  an empty value is refused as ambiguous); integers are whole numbers; durations are seconds
  (``2.5``) or a number with a unit (``500ms``, ``30s``, ``5m``, ``1h``); enums
  (``Literal[...]``) match exactly, or ignoring case and ``-``/``_``; lists are
  comma-separated.
* **Errors** are :class:`tigerseal.errors.OptionError` (a :class:`~tigerseal.errors.ConfigError`)
  that name the plugin and the option and never show the value of a secret option, nor a
  password in a URI (:meth:`ParsedURI.redacted`).

Declaring options::

    @dataclass(frozen=True, slots=True)
    class MyOptions:
        timeout: Duration = option(10.0, gt=0, help="seconds per request")
        verify: bool = True
        region: str | None = None
        client: Any = option(None, uri=False)  # keyword only: a URI cannot carry an object

    uri = parse_uri(text, plugin="my-kms", schemes=("my-kms",))
    opts = build_options(MyOptions, plugin="my-kms", uri=uri.query, code=kwargs)
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints
from urllib.parse import unquote, unquote_plus

from tigerseal._text import escape_control
from tigerseal.errors import OptionError

__all__ = [
    "FALSE_WORDS",
    "TRUE_WORDS",
    "Duration",
    "ParsedURI",
    "build_options",
    "decode_path",
    "did_you_mean",
    "given_options",
    "option",
    "option_names",
    "parse_bool",
    "parse_duration",
    "parse_int",
    "parse_uri",
    "redact_uri",
]

T = TypeVar("T")

#: Spellings of true and false (compared after ``strip().lower()``); the settings read the
#: same words (:func:`tigerseal.config.parse_bool`), as pydantic does.
TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "on"})
FALSE_WORDS = frozenset({"0", "false", "f", "no", "n", "off"})


class _DurationMarker:
    """Marks a ``float`` field as a duration in seconds (accepts ``500ms``, ``5m``...)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Duration"


_DURATION_MARK = _DurationMarker()
#: Seconds, written ``10``, ``2.5``, ``500ms``, ``30s``, ``5m`` or ``1h``.
Duration = Annotated[float, _DURATION_MARK]

# ASCII digits only: str.isdigit-style \d would read Arabic-Indic or full-width digits too.
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*\Z", re.ASCII)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_INT = re.compile(r"\s*[+-]?\d+\s*\Z", re.ASCII)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*\Z")


def redact_uri(uri: str) -> str:
    """:func:`tigerseal._redact.redact_uri` (password and secret-named query values hidden).

    Imported on first use: only error messages and reprs need it, not start-up.
    """
    from tigerseal._redact import redact_uri as redact

    return redact(uri)


# -- URIs -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ParsedURI:
    """A configuration URI split by the one grammar (see the module docstring).

    Attributes:
        scheme: the scheme, lower-cased.
        authority: the raw text between ``//`` and the path (``None`` when there is no ``//``).
        path: the raw (still percent-encoded) path.
        query: the decoded ``(name, value)`` pairs of the query, in order, no name twice.
        path_attributes: RFC 7512 form only: the decoded ``;``-separated path attributes.
        raw: the URI as given (may hold a password: shown only through :meth:`redacted`).
    """

    scheme: str
    authority: str | None
    path: str
    query: tuple[tuple[str, str], ...] = ()
    path_attributes: tuple[tuple[str, str], ...] = ()
    raw: str = field(default="", repr=False, compare=False)

    @property
    def host(self) -> str:
        """The authority without its ``user:password@`` part (``""`` when there is none)."""
        return (self.authority or "").rpartition("@")[2]

    @property
    def username(self) -> str | None:
        """The decoded user name of ``user:password@``, if any."""
        userinfo = self._userinfo()
        if userinfo is None:
            return None
        return unquote(userinfo.partition(":")[0]) or None

    @property
    def password(self) -> str | None:
        """The decoded password of ``user:password@``, if any (never put it in a message)."""
        userinfo = self._userinfo()
        if userinfo is None or ":" not in userinfo:
            return None
        return unquote(userinfo.partition(":")[2])

    def _userinfo(self) -> str | None:
        if not self.authority or "@" not in self.authority:
            return None
        return self.authority.rpartition("@")[0]

    @property
    def location(self) -> str:
        """Authority and path, percent-decoded: what ``env://VAR`` or ``file://p`` names."""
        return unquote((self.authority or "") + self.path, errors="surrogateescape")

    @property
    def options(self) -> dict[str, str]:
        """The query as a dict (names are unique, so nothing is lost)."""
        return dict(self.query)

    def redacted(self) -> str:
        """The URI for messages: password and secret-named query values replaced by ``***``."""
        return redact_uri(self.raw)

    def __repr__(self) -> str:
        return f"ParsedURI({self.redacted()!r})"


def decode_path(text: str, *, plugin: str) -> str:
    """The file path a URI's (percent-encoded) path names.

    Bytes that are not UTF-8 (``%ff``) are kept as the same bytes on disk (surrogateescape,
    as :func:`os.fsdecode`), not replaced by U+FFFD, which would name another file.

    Raises:
        OptionError: the path holds a NUL byte (``%00``), which no file name can contain.
    """
    path = unquote(text, errors="surrogateescape")
    if "\x00" in path:
        raise _fail(plugin, "a file path cannot contain a NUL byte (%00); check the URI's path")
    return path


def _fail(plugin: str, message: str, option_name: str | None = None) -> OptionError:
    return OptionError(f"{plugin}: {message}", plugin=plugin, option=option_name)


def _decode(text: str, *, plus: bool) -> str:
    # surrogateescape keeps bytes that are not UTF-8 (RFC 7512 ``id``); text options refuse them.
    if plus:
        return unquote_plus(text, errors="surrogateescape")
    return unquote(text, errors="surrogateescape")


def _pairs(
    text: str, sep: str, *, plugin: str, where: str, plus: bool, lower: bool, example: str
) -> tuple[tuple[str, str], ...]:
    found: dict[str, str] = {}
    for item in text.split(sep):
        if not item:
            continue
        raw_name, eq, raw_value = item.partition("=")
        name = _decode(raw_name, plus=plus).strip()
        if lower:
            name = name.lower()
        if not eq or not name:
            raise _fail(
                plugin,
                f"malformed {where} item {_malformed(name or item, found)}: write "
                f"name=value{example}",
                None if _may_be_secret(name or item, found) else name or None,
            )
        if name in found:
            raise _fail(
                plugin,
                f"option {escape_control(name, limit=40)!r} is given twice in the {where}; "
                "keep one",
                name,
            )
        found[name] = _decode(raw_value, plus=plus)
    return tuple(found.items())


def _may_be_secret(item: str, before: Mapping[str, str]) -> bool:
    # After a secret-named option, a malformed item is most likely the tail of its value (a
    # password holding an unescaped '&' or ';'); a long random item may be a pasted token.
    from tigerseal._redact import KEEP, looks_random, name_rule

    return looks_random(item) or any(name_rule(n) != KEEP for n in before)


def _malformed(item: str, before: Mapping[str, str]) -> str:
    if _may_be_secret(item, before):
        return "(not shown: it may be part of a secret; percent-encode '&' ';' '=' in values)"
    return repr(escape_control(item, limit=40))


def parse_uri(
    uri: str,
    *,
    plugin: str,
    schemes: Iterable[str],
    form: Literal["rfc3986", "rfc7512"] = "rfc3986",
    example: str = "",
) -> ParsedURI:
    """Split ``uri`` by the one grammar (see the module docstring).

    Args:
        uri: the configuration URI.
        plugin: the plugin's name, for messages (``"vault"``, ``"redis storage"``).
        schemes: the schemes this plugin accepts (compared ignoring case).
        form: ``"rfc7512"`` for ``pkcs11:`` URIs: no ``//``, ``;``-separated path attributes,
            attribute names lower-cased and ``+`` kept literally.
        example: a correct URI, quoted in errors.

    Raises:
        OptionError: not a string, wrong scheme, a fragment, a malformed or repeated option.
    """
    hint = f"; e.g. {example}" if example else ""
    accepted = tuple(s.lower() for s in schemes)
    if not isinstance(uri, str):
        raise _fail(plugin, f"a URI must be a str, not {type(uri).__name__}")
    scheme, colon, rest = uri.partition(":")
    if not colon or not _SCHEME.match(scheme) or scheme.lower() not in accepted:
        want = " or ".join(f"{s}:" if form == "rfc7512" else f"{s}://" for s in accepted)
        raise _fail(plugin, f"expected a URI starting {want}, got {redact_uri(uri)[:80]!r}{hint}")
    if "#" in rest:
        raise _fail(
            plugin, f"a {scheme.lower()}: URI has no fragment ('#'); percent-encode it as %23"
        )
    body, _, query_text = rest.partition("?")
    if form == "rfc7512":
        if body.startswith("//"):
            raise _fail(
                plugin,
                f"{scheme.lower()}: URIs have no '//' (RFC 7512): write "
                f"{scheme.lower()}:token=...;object=...{hint}",
            )
        path_attributes = _pairs(
            body, ";", plugin=plugin, where="path", plus=False, lower=True, example=hint
        )
        query = _pairs(
            query_text, "&", plugin=plugin, where="query", plus=False, lower=True, example=hint
        )
        return ParsedURI(scheme.lower(), None, body, query, path_attributes, uri)
    authority: str | None = None
    path = body
    if body.startswith("//"):
        authority, slash, tail = body[2:].partition("/")
        path = slash + tail
    query = _pairs(
        query_text, "&", plugin=plugin, where="query", plus=True, lower=False, example=hint
    )
    return ParsedURI(scheme.lower(), authority, path, query, (), uri)


# -- values ---------------------------------------------------------------------------------
def _shown(value: object, secret: bool) -> str:
    if secret:
        return "(value hidden)"
    text = value if isinstance(value, str) else repr(value)
    return repr(escape_control(text, limit=60))


def parse_bool(name: str, value: object, *, plugin: str = "option", secret: bool = False) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case), or a ``bool`` / ``0`` / ``1``.

    Raises:
        OptionError: anything else, the empty string included (ambiguous).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
    raise _fail(plugin, f"{name} must be 1 or 0 (true/false), got {_shown(value, secret)}", name)


def parse_int(name: str, value: object, *, plugin: str = "option", secret: bool = False) -> int:
    """A whole number from an ``int``, an integral ``float`` or decimal digits.

    Raises:
        OptionError: a bool, a fraction or anything else.
    """
    if isinstance(value, bool):
        pass
    elif isinstance(value, int):
        return value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and _INT.match(value)
    ):
        try:
            return int(value)
        except ValueError:  # more digits than sys.get_int_max_str_digits() allows
            pass
    raise _fail(plugin, f"{name} must be a whole number, got {_shown(value, secret)}", name)


def _parse_float(name: str, value: object, plugin: str, secret: bool) -> float:
    number: float | None = None
    if isinstance(value, bool):
        pass
    elif isinstance(value, int | float | str):
        try:
            number = float(value)
        except (ValueError, OverflowError):  # not a number, or an int beyond the float range
            number = None
    if number is None or not math.isfinite(number):
        raise _fail(plugin, f"{name} must be a number, got {_shown(value, secret)}", name)
    return number


def parse_duration(
    name: str, value: object, *, plugin: str = "option", secret: bool = False
) -> float:
    """Seconds from a number or ``10``, ``2.5``, ``500ms``, ``30s``, ``5m``, ``1h``.

    Raises:
        OptionError: not a duration, or negative.
    """
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an int beyond the float range
            seconds = None
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match is not None:
            seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        raise _fail(
            plugin,
            f"{name} must be a duration such as 10, 2.5s, 500ms or 1m; got {_shown(value, secret)}",
            name,
        )
    return seconds


def _parse_choice(
    name: str, value: object, choices: tuple[Any, ...], plugin: str, secret: bool
) -> Any:
    if value in choices:
        return value
    if isinstance(value, str):

        def norm(text: str) -> str:
            return text.strip().lower().replace("-", "_")

        matches = [c for c in choices if isinstance(c, str) and norm(c) == norm(value)]
        if len(matches) == 1:
            return matches[0]
    listed = ", ".join(str(c) for c in choices)
    raise _fail(plugin, f"{name} must be one of {listed}; got {_shown(value, secret)}", name)


def _parse_text(name: str, value: object, plugin: str, secret: bool, allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise _fail(plugin, f"{name} must be a string, not {type(value).__name__}", name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(
            plugin, f"{name} is not valid UTF-8 (check its percent-encoding)", name
        ) from None
    if not value and not allow_empty:
        raise _fail(plugin, f"{name} must not be empty; remove it or give a value", name)
    return value


def _parse_list(name: str, value: object, plugin: str, secret: bool) -> list[str]:
    if isinstance(value, str):
        items: Iterable[Any] = value.split(",")
    elif isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
        items = value
    else:
        raise _fail(plugin, f"{name} must be a comma-separated string or a list of strings", name)
    out = []
    for item in items:
        text = _parse_text(name, item, plugin, secret, allow_empty=True).strip()
        if text:
            out.append(text)
    return out


# -- options models ---------------------------------------------------------------------------
_META = "tigerseal.option"


@dataclass(frozen=True, slots=True)
class _Meta:
    uri_name: str | None
    uri: bool
    code: bool
    secret: bool
    ge: float | None
    gt: float | None
    le: float | None
    allow_empty: bool
    parse: Callable[[str, Any], Any] | None
    help: str


def option(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
    uri_name: str | None = None,
    uri: bool = True,
    code: bool = True,
    secret: bool = False,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    allow_empty: bool = False,
    parse: Callable[[str, Any], Any] | None = None,
    help: str = "",
) -> Any:
    """A dataclass field that is an option, with how it may be given.

    Args:
        default: the value when neither the URI nor code gives it.
        default_factory: as :func:`dataclasses.field`.
        uri_name: its name in a URI when it differs from the field name (``module-path``).
        uri: whether a URI may give it (``False``: keyword only, e.g. a client object).
        code: whether code may give it as a keyword.
        secret: never show its value in errors; refused in a URI unless ``uri`` is true.
        ge: lower bound (inclusive) of a number or duration.
        gt: lower bound (exclusive).
        le: upper bound (inclusive).
        allow_empty: accept ``""`` for a string.
        parse: ``parse(name, value) -> value`` replacing the type's parsing (raise
            :class:`~tigerseal.errors.ConfigError` on bad values).
        help: one line, shown by errors that list the options.
    """
    meta = _Meta(uri_name, uri, code, secret, ge, gt, le, allow_empty, parse, help)
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata={_META: meta})
    return field(default=default, metadata={_META: meta})


_DEFAULT_META = _Meta(None, True, True, False, None, None, None, False, None, "")


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    uri_name: str
    hint: Any
    meta: _Meta


_FIELDS_CACHE: dict[type, tuple[_Field, ...]] = {}


def _fields(model: type) -> tuple[_Field, ...]:
    cached = _FIELDS_CACHE.get(model)
    if cached is not None:
        return cached
    if not dataclasses.is_dataclass(model):
        raise TypeError(f"{model!r} is not a dataclass: declare options with @dataclass")
    hints = get_type_hints(model, include_extras=True)
    out = []
    for f in dataclasses.fields(model):
        if not f.init:
            continue
        meta = f.metadata.get(_META, _DEFAULT_META)
        out.append(_Field(f.name, meta.uri_name or f.name, hints[f.name], meta))
    result = tuple(out)
    _FIELDS_CACHE[model] = result
    return result


def option_names(model: type, *, source: Literal["uri", "code"] = "uri") -> tuple[str, ...]:
    """The option names ``model`` accepts in a URI (or as keywords), sorted."""
    if source == "uri":
        return tuple(sorted(f.uri_name for f in _fields(model) if f.meta.uri))
    return tuple(sorted(f.name for f in _fields(model) if f.meta.code))


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the closest known name, or ``""``."""
    names = list(known)
    variants = {name, name.replace("-", "_"), name.replace("_", "-"), name.lower()}
    for variant in variants:
        if variant in names and variant != name:
            return f" Did you mean {variant!r}?"
    import difflib  # only on the error path: not worth its import at start-up

    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _convert(f: _Field, value: Any, plugin: str) -> Any:
    meta, name = f.meta, f.name
    if meta.parse is not None:
        return meta.parse(name, value)
    hint = f.hint
    kind: Any = None
    origin = get_origin(hint)
    if origin is Annotated:
        args = get_args(hint)
        hint, extras = args[0], args[1:]
        if _DURATION_MARK in extras:
            kind = "duration"
        origin = get_origin(hint)
    optional = False
    if origin in (Union, types.UnionType):
        args = tuple(a for a in get_args(hint) if a is not type(None))
        optional = len(args) < len(get_args(hint))
        if len(args) == 1:
            hint = args[0]
            origin = get_origin(hint)
            if origin is Annotated:
                inner = get_args(hint)
                hint = inner[0]
                if _DURATION_MARK in inner[1:]:
                    kind = "duration"
                origin = get_origin(hint)
    # An empty optional value means "not given", except for a boolean: '' could mean either
    # (documented as refused), and a silent default may be the unsafe one.
    if optional and value == "" and not meta.allow_empty and hint is not bool:
        return None
    secret = meta.secret
    result: Any
    if kind == "duration":
        result = parse_duration(name, value, plugin=plugin, secret=secret)
    elif hint is bool:
        return parse_bool(name, value, plugin=plugin, secret=secret)
    elif hint is int:
        result = parse_int(name, value, plugin=plugin, secret=secret)
    elif hint is float:
        result = _parse_float(name, value, plugin, secret)
    elif hint is str:
        return _parse_text(name, value, plugin, secret, meta.allow_empty)
    elif origin is Literal:
        return _parse_choice(name, value, get_args(hint), plugin, secret)
    elif origin in (frozenset, set):
        return frozenset(_parse_list(name, value, plugin, secret))
    elif origin is tuple:
        return tuple(_parse_list(name, value, plugin, secret))
    else:
        return value  # Any or an object type: given in code, passed as is
    _bounds(name, result, meta, plugin)
    return result


def _bounds(name: str, number: float, meta: _Meta, plugin: str) -> None:
    if meta.gt is not None and not number > meta.gt:
        raise _fail(plugin, f"{name} must be greater than {meta.gt:g}, got {number:g}", name)
    if meta.ge is not None and not number >= meta.ge:
        raise _fail(plugin, f"{name} must be at least {meta.ge:g}, got {number:g}", name)
    if meta.le is not None and not number <= meta.le:
        raise _fail(plugin, f"{name} must be at most {meta.le:g}, got {number:g}", name)


def build_options(
    model: type[T],
    *,
    plugin: str,
    uri: Iterable[tuple[str, str]] | Mapping[str, str] = (),
    code: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    passthrough: list[tuple[str, str]] | None = None,
    refused_in_uri: Mapping[str, str] | None = None,
) -> T:
    """Build ``model`` (a dataclass of options) from URI query pairs and keyword options.

    Args:
        model: the plugin's options dataclass; fields declared with :func:`option` or plain.
        plugin: the plugin's name, for messages.
        uri: the URI's options (``ParsedURI.query``), as given (strings).
        code: keyword options given in code (native values or strings).
        extra: values the plugin computed itself (the key named by the URI's path, an
            environment fallback), parsed like the others; they fill only fields neither the
            URI nor code gave (``None``: nothing to fill).
        passthrough: when given, unknown URI options are appended to it instead of refused
            (a driver's own query parameters: redis-py, SQLAlchemy), except near-misses of
            this model's names (difflib ratio >= 0.8), refused as typos.
        refused_in_uri: names refused in a URI with the reason (a secret: ``token``).

    Raises:
        OptionError: an unknown option, a name given twice, a bad value, or an option given in
            both places with different values (the one precedence rule).
        ConfigError: whatever the model's ``__post_init__`` raises (cross-option checks).
    """
    fields = _fields(model)
    by_uri = {f.uri_name: f for f in fields if f.meta.uri}
    by_code = {f.name: f for f in fields if f.meta.code}
    pairs = list(uri.items()) if isinstance(uri, Mapping) else list(uri)
    from_uri: dict[str, Any] = {}
    for name, raw in pairs:
        if refused_in_uri and name.lower() in refused_in_uri:
            raise _fail(plugin, refused_in_uri[name.lower()], name)
        f = by_uri.get(name)
        if f is None:
            if passthrough is not None:
                # A near-miss of one of ours is a typo, not a driver parameter: sent on, it
                # would be ignored or fail far from here.
                import difflib

                # Compared ignoring case and '-'/'_' too: ON_OUTAGE is ours, not the driver's.
                folded = {_fold(n): n for n in by_uri}
                close = [folded[c] for c in difflib.get_close_matches(_fold(name), folded, 1, 0.8)]
                if close:
                    raise _fail(
                        plugin,
                        f"unknown option {escape_control(name, limit=40)!r} in the URI. Did you "
                        f"mean {close[0]!r}? (It is too close to that option to pass it on to "
                        "the driver.)",
                        name,
                    )
                passthrough.append((name, raw))
                continue
            hidden = next((g for g in fields if g.uri_name == name), None)
            shown = escape_control(name, limit=40)
            if hidden is not None:
                raise _fail(
                    plugin,
                    f"option {shown!r} cannot be given in a URI; pass it as a keyword in code",
                    name,
                )
            raise _fail(plugin, f"unknown option {shown!r} in the URI.{_known(name, by_uri)}", name)
        if f.name in from_uri:
            raise _fail(plugin, f"option {name!r} is given twice in the URI; keep one", name)
        from_uri[f.name] = _convert(f, raw, plugin)
    values = dict(from_uri)
    for name, raw in (code or {}).items():
        f = by_code.get(name)
        if f is None:
            shown = escape_control(name, limit=40)
            raise _fail(plugin, f"unknown keyword option {shown!r}.{_known(name, by_code)}", name)
        if raw is None:
            continue  # None means "not given": the URI, the fallback or the default applies
        value = _convert(f, raw, plugin)
        if name in from_uri and not _same(from_uri[name], value):
            raise _fail(
                plugin,
                f"option {f.uri_name!r} is given both in the URI and in code with different "
                "values; give it in one place (an option given in both places must agree)",
                f.uri_name,
            )
        values[name] = value
    by_name = {f.name: f for f in fields}
    for name, value in (extra or {}).items():
        if name not in values and value is not None:
            values[name] = _convert(by_name[name], value, plugin)
    return model(**values)


def _fold(name: str) -> str:
    return name.lower().replace("-", "_")


def given_options(options: Any) -> dict[str, Any]:
    """The fields of an options object that are not ``None``, as keyword arguments.

    For handing options to a constructor whose own defaults apply to what was not given.
    """
    return {
        f.name: getattr(options, f.name)
        for f in dataclasses.fields(options)
        if getattr(options, f.name) is not None
    }


def _known(name: str, known: Mapping[str, Any]) -> str:
    if not known:
        return " This plugin takes no options."
    return f"{did_you_mean(name, known)} Known: {', '.join(sorted(known))}."


def _same(a: Any, b: Any) -> bool:
    # Both sides went through the same field's parsing, so equal values have equal types.
    try:
        return bool(a == b)
    except Exception:  # an object that cannot compare: not the same
        return False
