"""Red-team review of the one URI grammar (issue 14.1): inputs a deployment can get wrong.

Each test names a defect found in the landed parser or a plugin using it; every such input
must end in a ``ConfigError`` that says what to write, never a bare ``ValueError`` /
``OverflowError`` from the standard library, and never show a secret.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tigerseal._redact import redact_uri
from tigerseal.audit._filesink import path_from_uri as audit_path_from_uri
from tigerseal.errors import ConfigError, OptionError
from tigerseal.providers.file import path_from_uri as keyring_path_from_uri
from tigerseal.spi.options import parse_duration, parse_int, parse_uri


def test_an_integer_of_thousands_of_digits_is_an_option_error() -> None:
    # int() refuses strings over sys.get_int_max_str_digits() with a ValueError.
    with pytest.raises(OptionError, match="count must be a whole number"):
        parse_int("count", "9" * 5000)


def test_a_huge_integer_duration_is_an_option_error() -> None:
    # float(10**400) raises OverflowError.
    with pytest.raises(OptionError, match="timeout must be a duration"):
        parse_duration("timeout", 10**400)


@pytest.mark.parametrize("text", ["\u0661\u0662", "\uff11\uff10", "\u0967"])
def test_numbers_are_ascii_digits_only(text: str) -> None:
    # Arabic-Indic, full-width and Devanagari digits look like (or nothing like) 12/10/1.
    with pytest.raises(OptionError):
        parse_int("count", text)
    with pytest.raises(OptionError):
        parse_duration("timeout", text + "s")


@pytest.mark.parametrize("uri", ["file:///tmp/key%00ring.json", "file:///tmp/a%00"])
def test_a_nul_byte_in_a_file_path_is_a_config_error(uri: str) -> None:
    with pytest.raises(ConfigError, match="NUL"):
        keyring_path_from_uri(uri)
    with pytest.raises(ConfigError, match="NUL"):
        audit_path_from_uri(uri)


def test_a_file_path_keeps_bytes_that_are_not_utf8() -> None:
    # %ff decoded with errors="replace" named another file (U+FFFD) than the one written.
    expected = Path(b"/tmp/k\xffy".decode("utf-8", "surrogateescape"))
    assert keyring_path_from_uri("file:///tmp/k%ffy") == expected
    assert audit_path_from_uri("file:///tmp/k%ffy") == str(expected)


def test_a_pkcs11_pin_value_in_the_path_is_redacted() -> None:
    shown = redact_uri("pkcs11:token=t;object=o;pin-value=123456?module-path=/m.so")
    assert "123456" not in shown
    assert "object=o" in shown
    assert "module-path=/m.so" in shown
    shown = redact_uri("pkcs11:token=t;PIN-VALUE=123456")
    assert "123456" not in shown


@pytest.mark.parametrize(
    ("uri", "schemes", "form", "secret"),
    [
        # A password holding an unescaped '&': its tail reads as a malformed item.
        ("redis://h/0?password=ab&Cd3fSecretTail", ("redis",), "rfc3986", "Cd3fSecretTail"),
        ("pkcs11:token=t;pin-value=12;3456789", ("pkcs11",), "rfc7512", "3456789"),
        # A token pasted without its name.
        ("vault://transit/k?hvs.CAESIJqN8r2xK4wTzYb7Lq", ("vault",), "rfc3986", "CAESIJqN8r2x"),
    ],
)
def test_a_malformed_item_that_may_be_a_secret_is_not_shown(
    uri: str, schemes: tuple[str, ...], form: str, secret: str
) -> None:
    with pytest.raises(OptionError, match="malformed") as caught:
        parse_uri(uri, plugin="p", schemes=schemes, form=form)  # type: ignore[arg-type]
    assert secret.lower() not in str(caught.value).lower()


def test_a_plain_malformed_item_is_still_shown() -> None:
    with pytest.raises(OptionError, match="'verbose'"):
        parse_uri("vault://transit/k?verbose", plugin="vault", schemes=("vault",))


def test_an_empty_boolean_is_refused_even_when_the_option_is_optional(tmp_path: Path) -> None:
    # docs/plugins/options.md: "an empty value is refused as ambiguous". An Optional bool
    # (the file sink's checkpoints) read '' as "not given": ?checkpoints= kept MACs on silently.
    from tigerseal.plugins import audit_sink_from_uri

    with pytest.raises(OptionError, match="checkpoints must be 1 or 0"):
        audit_sink_from_uri(f"file://{tmp_path}/audit.jsonl?checkpoints=")
