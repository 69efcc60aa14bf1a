"""Every configuration URI the docs show parses, or fails with an error that says what to write.

The URIs are taken from README.md and docs/**/*.md (fenced blocks and inline code), so an
example that the one grammar of :mod:`tigerseal.spi.options` stopped accepting, or that ends in
a bare ``ValueError``, fails here (issue 14: no behaviour regresses). Only the parsing stage of
each plugin runs: nothing connects, creates a file or loads a PKCS#11 module.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from tigerseal.errors import ConfigError, OptionError, TigerSealError

ROOT = Path(__file__).resolve().parents[3]
# scheme://... or pkcs11:..., up to a character that ends a URI in prose or code.
_URI = re.compile(
    r"(?<![\w+.-])((?:env|file|fake|aws-kms|vault|memory|redis|rediss|redis\+sentinel|"
    r"logging|postgresql(?:\+\w+)?|sqlite(?:\+\w+)?)://[^\s`'\"<>()\[\]{},|\\]*"
    r"|pkcs11:[^\s`'\"<>()\[\]{},|\\]+)"
)
# Placeholders and elisions in prose ("vault://...", "<key>", "NAME") are not URIs to parse.
_PLACEHOLDER = re.compile(r"\.\.\.|…|<|>|\bN\b|\$|\*")


def documented_uris(root: Path = ROOT) -> list[tuple[str, str]]:
    """(where, uri) for each distinct URI in README.md and docs/**/*.md."""
    found: dict[str, str] = {}
    files = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    for path in files:
        if not path.is_file():
            continue
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in _URI.finditer(line):
                uri = match.group(1).rstrip(".:;")
                if _PLACEHOLDER.search(uri):
                    continue
                found.setdefault(uri, f"{path.relative_to(root)}:{line_no}")
    return sorted((where, uri) for uri, where in found.items())


def _parse_only(uri: str) -> Any:
    """Run the option parsing of the plugin ``uri`` names, without side effects."""
    scheme = uri.partition(":")[0].lower()
    if scheme == "env":
        from tigerseal.providers import env

        return env.from_uri(uri)  # reads a variable; a missing one is a ConfigError
    if scheme == "file":
        from tigerseal.audit._filesink import FileSinkOptions, _parse
        from tigerseal.audit._filesink import path_from_uri as audit_path
        from tigerseal.providers.file import path_from_uri as keyring_path
        from tigerseal.spi.options import build_options

        try:
            return keyring_path(uri)  # a keyring takes no options...
        except OptionError:
            # ... an audit file sink does (file://./audit.jsonl?checkpoints=off)
            parsed = _parse(uri)
            return audit_path(uri), build_options(
                FileSinkOptions, plugin="file audit sink", uri=parsed.query
            )
    if scheme == "fake":
        from tigerseal.testing import fake

        return fake.from_uri(uri)
    if scheme == "aws-kms":
        from tigerseal_aws_kms._options import parse_options

        return parse_options(uri)
    if scheme == "vault":
        from tigerseal_vault._options import parse_vault_uri

        return parse_vault_uri(uri)
    if scheme == "pkcs11":
        from tigerseal_pkcs11._options import parse_uri

        return parse_uri(uri)
    if scheme.startswith("redis"):
        from tigerseal_redis._options import parse_uri as redis_uri

        return redis_uri(uri, default_on_outage="local")
    if scheme.startswith(("postgresql", "sqlite")):
        from tigerseal_sql._options import split_audit_url

        return split_audit_url(uri, {})
    if scheme == "memory":
        from tigerseal.ratelimit._memory import MemoryStorageOptions
        from tigerseal.spi.options import build_options, parse_uri
        from tigerseal.tokens._revocation import MemoryRevocationOptions

        parsed = parse_uri(uri, plugin="memory", schemes=("memory",))
        names = {n for n, _ in parsed.query}
        model: type = MemoryStorageOptions if "max_keys" in names else MemoryRevocationOptions
        if names - {"max_keys", "max_entries"}:
            model = MemoryStorageOptions
        return build_options(model, plugin="memory", uri=parsed.query)
    if scheme == "logging":
        from tigerseal.audit._logsink import from_uri as logging_sink

        return logging_sink(uri)
    raise AssertionError(f"no parser for {scheme}")


# Documented on purpose as refused: the page shows them to say they are errors.
_REFUSED_ON_PURPOSE = re.compile(r"aad=1&aad=0|pin-value=|token=s\.|#|[?&]timout=|module_path=")


@pytest.mark.parametrize(("where", "uri"), documented_uris())
def test_a_documented_uri_parses_or_says_what_to_write(
    where: str, uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIGERSEAL_PKCS11_MODULE", "/nonexistent/libsofthsm2.so")
    try:
        _parse_only(uri)
    except OptionError as exc:
        # A grammar or option error on a documented example: the example or the parser is
        # wrong, unless the docs show it as an error.
        if not _REFUSED_ON_PURPOSE.search(uri):
            pytest.fail(f"{where}: documented URI {uri!r} refused: {exc}")
    except ConfigError:
        pass  # a missing variable, file or module: the parsing itself went through
    except TigerSealError as exc:
        pytest.fail(f"{where}: {uri!r} raised {type(exc).__name__}: {exc}")
    # Anything else (ValueError, KeyError...) propagates and fails the test.


def test_the_extraction_finds_the_examples_of_every_plugin() -> None:
    schemes = {uri.partition(":")[0] for _, uri in documented_uris()}
    assert {"env", "file", "aws-kms", "vault", "pkcs11", "redis", "memory"} <= schemes
