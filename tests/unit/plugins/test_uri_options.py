"""The one URI grammar and typed options of tigerseal.spi.options (issue 14 item 1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tigerseal.errors import ConfigError, OptionError
from tigerseal.spi.options import (
    Duration,
    build_options,
    option,
    parse_bool,
    parse_duration,
    parse_uri,
    redact_uri,
)


@dataclass(frozen=True, slots=True)
class Sample:
    flag: bool = False
    count: int = option(3, ge=1, le=100)
    ratio: float = 0.5
    timeout: Duration = option(10.0, gt=0)
    mode: Literal["fail_closed", "fail_open"] = "fail_closed"
    name: str | None = None
    items: frozenset[str] = frozenset()
    module_path: str | None = option(None, uri_name="module-path")
    token: str | None = option(None, uri=False, secret=True)
    client: Any = option(None, uri=False)


def build(uri: str, **code: Any) -> Sample:
    parsed = parse_uri(uri, plugin="sample", schemes=("sample",))
    return build_options(Sample, plugin="sample", uri=parsed.query, code=code)


# -- the grammar ------------------------------------------------------------------------------
def test_parts_of_a_uri() -> None:
    parsed = parse_uri(
        "Sample://user:p%40ss@host:1/a%20b?name=x+y&count=2", plugin="s", schemes=("sample",)
    )
    assert parsed.scheme == "sample"
    assert parsed.authority == "user:p%40ss@host:1"
    assert parsed.host == "host:1"
    assert parsed.username == "user"
    assert parsed.password == "p@ss"
    assert parsed.path == "/a%20b"
    assert parsed.location == "user:p@ss@host:1/a b"
    assert parsed.query == (("name", "x y"), ("count", "2"))
    assert "p%40ss" not in repr(parsed)
    assert "***" in parsed.redacted()


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("other://x", "expected a URI starting sample://"),
        ("sample://x#frag", "no fragment"),
        ("sample://x?count=1&count=2", "given twice"),
        ("sample://x?count", "write name=value"),
        ("sample://x?=1", "write name=value"),
    ],
)
def test_grammar_errors(uri: str, fragment: str) -> None:
    with pytest.raises(OptionError, match=fragment):
        parse_uri(uri, plugin="sample", schemes=("sample",))


def test_rfc7512_form() -> None:
    parsed = parse_uri(
        "pkcs11:token=a%20b;OBJECT=k;id=%01%FF?module-path=/m.so&pin-source=env:PIN+X",
        plugin="pkcs11",
        schemes=("pkcs11",),
        form="rfc7512",
    )
    attrs = dict(parsed.path_attributes)
    assert attrs["token"] == "a b"
    assert attrs["object"] == "k"  # names are case-insensitive
    assert attrs["id"].encode("utf-8", "surrogateescape") == b"\x01\xff"
    assert dict(parsed.query)["pin-source"] == "env:PIN+X"  # "+" is literal in RFC 7512
    with pytest.raises(OptionError, match="no '//'"):
        parse_uri("pkcs11://x", plugin="pkcs11", schemes=("pkcs11",), form="rfc7512")
    with pytest.raises(OptionError, match="twice"):
        parse_uri("pkcs11:object=a;object=b", plugin="p", schemes=("pkcs11",), form="rfc7512")


# -- typed options ----------------------------------------------------------------------------
def test_every_type_parses_from_the_uri() -> None:
    opts = build(
        "sample://x?flag=YES&count=7&ratio=0.25&timeout=500ms&mode=fail-open&name=n"
        "&items=a,%20b,,c&module-path=/lib/m.so"
    )
    assert opts == Sample(
        flag=True,
        count=7,
        ratio=0.25,
        timeout=0.5,
        mode="fail_open",
        name="n",
        items=frozenset({"a", "b", "c"}),
        module_path="/lib/m.so",
    )


def test_code_gives_native_values() -> None:
    sentinel = object()
    opts = build("sample://x", flag=1, count=7.0, timeout=2, items=["a"], client=sentinel)
    assert (opts.flag, opts.count, opts.timeout, opts.items) == (True, 7, 2.0, frozenset("a"))
    assert opts.client is sentinel


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("sample://x?flag=maybe", "flag must be 1 or 0"),
        ("sample://x?flag=", "flag must be 1 or 0"),  # empty is ambiguous
        ("sample://x?count=1.5", "count must be a whole number"),
        ("sample://x?count=0", "count must be at least 1"),
        ("sample://x?count=101", "count must be at most 100"),
        ("sample://x?ratio=nan", "ratio must be a number"),
        ("sample://x?timeout=soon", "timeout must be a duration"),
        ("sample://x?timeout=0", "timeout must be greater than 0"),
        ("sample://x?mode=sometimes", "mode must be one of fail_closed, fail_open"),
        ("sample://x?name=%FF", "not valid UTF-8"),
    ],
)
def test_bad_values_name_the_option(uri: str, fragment: str) -> None:
    with pytest.raises(OptionError, match=fragment) as info:
        build(uri)
    assert info.value.plugin == "sample"
    assert info.value.option is not None


def test_unknown_options_suggest_the_closest_name() -> None:
    with pytest.raises(
        OptionError, match=r"unknown option 'timout' in the URI\. Did you mean 'timeout'"
    ):
        build("sample://x?timout=1")
    with pytest.raises(OptionError, match="Did you mean 'module-path'"):
        build("sample://x?module_path=/m.so")
    with pytest.raises(OptionError, match=r"unknown keyword option 'conut'\. Did you mean 'count'"):
        build("sample://x", conut=1)
    with pytest.raises(OptionError, match="cannot be given in a URI"):
        build("sample://x?client=1")


def test_precedence_uri_and_code_must_agree() -> None:
    # The same value in both places (after parsing) is fine...
    assert build("sample://x?flag=1&timeout=2s", flag=True, timeout=2.0).flag is True
    # ...a different one is an error naming the option, never the values.
    with pytest.raises(OptionError, match="'count' is given both in the URI and in code") as info:
        build("sample://x?count=5", count=6)
    assert "5" not in str(info.value).replace("'count'", "")
    # None in code means "not given".
    assert build("sample://x?count=5", count=None).count == 5


def test_secret_values_are_never_shown() -> None:
    @dataclass(frozen=True)
    class WithSecret:
        pin: int | None = option(None, secret=True)

    with pytest.raises(OptionError) as info:
        build_options(WithSecret, plugin="s", code={"pin": "hunter2"})
    assert "hunter2" not in str(info.value)


def test_refused_in_uri_says_why() -> None:
    with pytest.raises(OptionError, match="set VAULT_TOKEN"):
        build_options(
            Sample,
            plugin="s",
            uri=[("Token", "s.x")],
            refused_in_uri={"token": "set VAULT_TOKEN instead"},
        )


def test_passthrough_collects_unknown_uri_options() -> None:
    extra: list[tuple[str, str]] = []
    opts = build_options(
        Sample, plugin="s", uri=[("count", "2"), ("socket_timeout", "1")], passthrough=extra
    )
    assert opts.count == 2
    assert extra == [("socket_timeout", "1")]


def test_option_error_is_a_config_error() -> None:
    assert issubclass(OptionError, ConfigError)


def test_helpers() -> None:
    assert parse_bool("x", "On") is True
    assert parse_bool("x", 0) is False
    assert parse_duration("t", "2m") == 120.0
    assert parse_duration("t", "1h") == 3600.0
    assert redact_uri("redis://u:pw@h/0?password=x&db=1") == "redis://u:***@h/0?password=***&db=1"


# -- properties -------------------------------------------------------------------------------
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20)
_VALUES = st.fixed_dictionaries(
    {},
    optional={
        "flag": st.booleans(),
        "count": st.integers(1, 100),
        "ratio": st.floats(-1e6, 1e6, allow_nan=False),
        "timeout": st.integers(1, 10_000).map(float),
        "mode": st.sampled_from(["fail_closed", "fail_open"]),
        "name": _TEXT.filter(lambda t: t.strip() == t),
        "module_path": _TEXT,
    },
)


def _encode(values: dict[str, Any]) -> str:
    names = {"module_path": "module-path"}
    parts = []
    for key, value in values.items():
        text = ("1" if value else "0") if isinstance(value, bool) else str(value)
        parts.append(f"{quote(names.get(key, key), safe='')}={quote(text, safe='')}")
    return "sample://host/p?" + "&".join(parts)


@given(_VALUES, st.booleans())
def test_uri_and_code_build_the_same_options(values: dict[str, Any], both: bool) -> None:
    from_uri = build(_encode(values))
    from_code = build("sample://host/p", **values)
    assert from_uri == from_code
    if both:  # giving every option in both places, with equal values, is no conflict
        assert build(_encode(values), **values) == from_code


@given(st.text(max_size=60))
def test_any_text_parses_or_raises_a_config_error(text: str) -> None:
    for candidate in (text, "sample://" + text, "sample:" + text, "pkcs11:" + text):
        try:
            parse_uri(candidate, plugin="s", schemes=("sample", "pkcs11"))
            parse_uri(candidate, plugin="s", schemes=("pkcs11",), form="rfc7512")
        except ConfigError:
            pass


@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=2, max_size=6))
def test_a_repeated_query_name_is_always_refused(names: list[str]) -> None:
    query = "&".join(f"{n}=1" for n in names)
    if len(set(names)) < len(names):
        with pytest.raises(OptionError, match="twice"):
            parse_uri(f"sample://x?{query}", plugin="s", schemes=("sample",))
    else:
        parsed = parse_uri(f"sample://x?{query}", plugin="s", schemes=("sample",))
        assert [n for n, _ in parsed.query] == names


@given(_TEXT, _TEXT)
def test_redaction_never_shows_the_password(user: str, password: str) -> None:
    uri = f"redis://{quote(user, safe='')}:{quote(password, safe='')}@host:6379/0"
    shown = redact_uri(uri)
    assert ":***@host" in shown
    if len(password) > 3 and password not in user and password not in "redis://host:6379/0":
        assert quote(password, safe="") not in shown
