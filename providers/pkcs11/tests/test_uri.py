"""RFC 7512 URI parsing and PIN sources (no HSM needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tigerseal.errors import ConfigError
from tigerseal.plugins import uri_scheme
from tigerseal_pkcs11._options import DEFAULT_PIN_ENV, PinSource, parse_uri

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
BASE = f"pkcs11:token=tigerseal;object=kek?module-path={MODULE}"


def test_scheme_without_slashes() -> None:
    assert uri_scheme(BASE) == "pkcs11"
    assert uri_scheme("PKCS11:object=x") == "pkcs11"


def test_minimal_uri() -> None:
    uri = parse_uri(BASE)
    assert uri.object == "kek"
    assert uri.token == "tigerseal"
    assert uri.module_path == MODULE
    assert uri.pin_source == PinSource("env", DEFAULT_PIN_ENV)
    assert uri.mechanism == "auto"
    assert uri.locking == "global"
    assert uri.key_id == "token=tigerseal;object=kek"
    assert uri.label(3) == "kek.v3"
    assert uri.object_id(3) == b"kek.v3"


def test_round_trip_through_to_uri() -> None:
    text = (
        "pkcs11:token=My%20Token;serial=abc;object=tiger%3Bkek;id=%01%02"
        f"?module-path={MODULE}&pin-source=file:/run/pin&mechanism=aes-key-wrap-pad"
        "&locking=os&min-decryption-version=2"
    )
    uri = parse_uri(text)
    assert uri.token == "My Token"
    assert uri.serial == "abc"
    assert uri.object == "tiger;kek"
    assert uri.id == b"\x01\x02"
    assert uri.object_id(2) == b"\x01\x02.v2"
    assert uri.pin_source == PinSource("file", "/run/pin")
    assert uri.min_decryption_version == 2
    again = parse_uri(uri.to_uri())
    assert again == uri


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("env:HSM_PIN", PinSource("env", "HSM_PIN")),
        ("file:/etc/pin", PinSource("file", "/etc/pin")),
        ("file:///etc/pin", PinSource("file", "/etc/pin")),
        ("file://localhost/etc/pin", PinSource("file", "/etc/pin")),
        ("/etc/pin", PinSource("file", "/etc/pin")),
    ],
)
def test_pin_sources(value: str, expected: PinSource) -> None:
    assert parse_uri(f"{BASE}&pin-source={value}").pin_source == expected


@pytest.mark.parametrize("where", ["query", "path"])
def test_pin_value_is_refused(where: str) -> None:
    text = (
        f"{BASE}&pin-value=123456"
        if where == "query"
        else f"pkcs11:token=t;object=k;pin-value=123456?module-path={MODULE}"
    )
    with pytest.raises(ConfigError, match="pin-source") as info:
        parse_uri(text)
    assert "123456" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("pkcs11://token=t;object=k", "no '//'"),
        ("vault://x", "expected a URI starting pkcs11:"),
        (f"pkcs11:token=t?module-path={MODULE}", "object="),
        (f"pkcs11:token=t;object=kek.v2?module-path={MODULE}", "version suffix"),
        (f"pkcs11:token=t;objekt=k?module-path={MODULE}", "unknown pkcs11: path attribute"),
        (f"pkcs11:token=t;object=k?module-path={MODULE}&colour=red", "unknown option 'colour'"),
        (f"{BASE}&max_sessions=2", "Did you mean 'max-sessions'"),
        (f"{BASE}&mechanism=aes-gcm&mechanism=aes-gcm", "twice"),
        (f"pkcs11:token=t;object=k;module-path={MODULE}", "query part"),
        (f"pkcs11:object=k?module-path={MODULE}&token=t", "path part"),
        (f"pkcs11:token=t;token=u;object=k?module-path={MODULE}", "twice"),
        (f"pkcs11:token=t;object=k;type=private?module-path={MODULE}", "secret-key"),
        (f"pkcs11:token=t;object=k;slot-description=x?module-path={MODULE}", "not supported"),
        (f"pkcs11:token=t;object=k;slot-id=x?module-path={MODULE}", "whole number"),
        (f"pkcs11:token=t;object=k;id=?module-path={MODULE}", "empty"),
        (f"pkcs11:token=t;object=k;junk?module-path={MODULE}", "name=value"),
        ("pkcs11:token=t;object=k?module-path=relative/lib.so", "absolute"),
        (f"{BASE}&mechanism=des", "mechanism"),
        (f"{BASE}&locking=none", "locking"),
        (f"{BASE}&max-sessions=0", "at least 1"),
        (f"{BASE}&pin-source=%7C/bin/get-pin", "not supported"),
        (f"{BASE}&pin-source=env:1BAD", "environment variable name"),
        (f"{BASE}&pin-source=file://example.com/pin", "remote"),
        (f"{BASE}&pin-source=ldap:x", "env:VAR or file"),
        (f"{BASE}#frag", "fragment"),
    ],
)
def test_bad_uris(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_uri(text)


def test_module_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIGERSEAL_PKCS11_MODULE", raising=False)
    with pytest.raises(ConfigError, match="module-path"):
        parse_uri("pkcs11:token=t;object=k")
    monkeypatch.setenv("TIGERSEAL_PKCS11_MODULE", MODULE)
    assert parse_uri("pkcs11:token=t;object=k").module_path == MODULE


def test_module_name_lookup_failure() -> None:
    with pytest.raises(ConfigError, match="module-name='no-such-module'"):
        parse_uri("pkcs11:object=k?module-name=no-such-module")


def test_keyword_options_and_the_query_must_agree() -> None:
    uri = parse_uri(f"{BASE}&mechanism=aes-gcm", mechanism="aes-gcm", max_sessions=2)
    assert uri.mechanism == "aes-gcm"
    assert uri.max_sessions == 2
    # The one precedence rule of tigerseal.spi.options (was: the keyword won silently).
    with pytest.raises(ConfigError, match="'mechanism' is given both in the URI and in code"):
        parse_uri(f"{BASE}&mechanism=aes-gcm", mechanism="aes-key-wrap-pad")
    with pytest.raises(ConfigError, match="unknown keyword option 'colour'"):
        parse_uri(BASE, colour="red")


def test_env_pin_source(monkeypatch: pytest.MonkeyPatch) -> None:
    source = PinSource("env", "PIN_FOR_TEST")
    monkeypatch.delenv("PIN_FOR_TEST", raising=False)
    with pytest.raises(ConfigError, match="PIN_FOR_TEST"):
        source.read()
    monkeypatch.setenv("PIN_FOR_TEST", "s3cret-pin")
    assert source.read() == "s3cret-pin"


def test_file_pin_source(tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    source = PinSource("file", str(pin_file))
    with pytest.raises(ConfigError, match="cannot read") as info:
        source.read()
    assert str(pin_file) in str(info.value)
    pin_file.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        source.read()
    pin_file.write_text("s3cret-pin\r\n")
    assert source.read() == "s3cret-pin"
    assert "s3cret" not in repr(source)
