"""Every provider, storage, store and sink reads its options by the one rule (issue 14.1).

Per plugin: an unknown option is refused with a suggestion, a repeated query option is refused,
and an option given in the URI and in code with different values is refused (the one
precedence rule), while equal values are accepted. No service is needed: each factory fails (or
succeeds) while parsing, before it connects anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tigerseal.errors import OptionError

KEY = "3c1f0e5a9b7d2468ace0bdf13579bd02468ace13579bdf02468ace13579bdf0a"
MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def _env(uri: str, **kw: Any) -> Any:
    from tigerseal.providers.env import from_uri

    return from_uri(uri, environ={"MK": KEY}, **kw)


def _fake(uri: str, **kw: Any) -> Any:
    from tigerseal.testing.fake import from_uri

    return from_uri(uri, **kw)


def _memory_storage(uri: str, **kw: Any) -> Any:
    from tigerseal.plugins import rate_limit_storage_from_uri

    return rate_limit_storage_from_uri(uri, **kw)


def _memory_revocation(uri: str, **kw: Any) -> Any:
    from tigerseal.plugins import revocation_store_from_uri

    return revocation_store_from_uri(uri, **kw)


def _file_sink(uri: str, **kw: Any) -> Any:
    from tigerseal.plugins import audit_sink_from_uri

    return audit_sink_from_uri(uri, **kw)


def _logging_sink(uri: str, **kw: Any) -> Any:
    from tigerseal.plugins import audit_sink_from_uri

    return audit_sink_from_uri(uri, **kw)


def _aws(uri: str, **kw: Any) -> Any:
    from tigerseal_aws_kms._options import parse_options

    return parse_options(uri, **kw)


def _vault(uri: str, **kw: Any) -> Any:
    from tigerseal_vault._options import provider_kwargs_from_uri

    return provider_kwargs_from_uri(uri, {"token": "t", "addr": "http://127.0.0.1:1", **kw})


def _pkcs11(uri: str, **kw: Any) -> Any:
    from tigerseal_pkcs11 import parse_uri

    return parse_uri(uri, **kw)


def _redis(uri: str, **kw: Any) -> Any:
    from tigerseal_redis._options import parse_uri

    return parse_uri(uri, default_on_outage="local", **kw)


def _sql(uri: str, **kw: Any) -> Any:
    from tigerseal_sql._options import split_audit_url

    return split_audit_url(uri, kw)[1]


Factory = Callable[..., Any]

# factory, base URI (no query), an option with a valid value, a different valid value, a typo
CASES: dict[str, tuple[Factory, str, tuple[str, str, Any], str]] = {
    "env": (_env, "env://MK", ("min_version", "0", 1), "min_versoin"),
    "fake": (_fake, "fake://opts", ("version", "2", 3), "verison"),
    "memory storage": (_memory_storage, "memory://", ("max_keys", "10", 20), "max_key"),
    "memory revocation": (
        _memory_revocation,
        "memory://",
        ("max_entries", "10", 20),
        "max_entres",
    ),
    "file sink": (
        _file_sink,
        "file://./audit.jsonl",
        ("checkpoint_every", "5", 6),
        "checkpoint_evry",
    ),
    "logging sink": (_logging_sink, "logging://app.audit", ("level", "INFO", "ERROR"), "levle"),
    "aws-kms": (_aws, "aws-kms://alias/x", ("max_attempts", "2", 3), "max_atempts"),
    "vault": (_vault, "vault://transit/k", ("timeout", "5s", 6.0), "timout"),
    "pkcs11": (
        _pkcs11,
        f"pkcs11:token=t;object=k?module-path={MODULE}",
        ("mechanism", "aes-gcm", "aes-key-wrap-pad"),
        "mechanizm",
    ),
    "redis": (_redis, "redis://127.0.0.1:1/0", ("grace", "30", 60), "grcae"),
    "sql audit sink": (_sql, "sqlite:///audit.db", ("batch_size", "5", 6), "batch_sise"),
}


def _with(base: str, query: str) -> str:
    return f"{base}{'&' if '?' in base else '?'}{query}"


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # relative audit files land here
    for name in ("ENVIRONMENT", "TIGERSEAL_ENVIRONMENT", "TIGERSEAL_REDIS_ON_OUTAGE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("plugin", sorted(CASES))
def test_unknown_option_is_refused_with_a_suggestion(plugin: str) -> None:
    factory, base, (name, _, _), typo = CASES[plugin]
    with pytest.raises(OptionError, match=f"Did you mean '{name.replace('_', '[_-]')}'"):
        factory(_with(base, f"{typo}=1"))
    with pytest.raises(OptionError, match="unknown keyword option"):
        factory(base, colour="red")


@pytest.mark.parametrize("plugin", sorted(CASES))
def test_repeated_query_option_is_refused(plugin: str) -> None:
    factory, base, (name, value, _), _ = CASES[plugin]
    uri_name = "max-sessions" if plugin == "pkcs11" and name == "max_sessions" else name
    with pytest.raises(OptionError, match="given twice"):
        factory(_with(base, f"{uri_name}={value}&{uri_name}={value}"))


@pytest.mark.parametrize("plugin", sorted(CASES))
def test_uri_and_code_must_agree(plugin: str) -> None:
    factory, base, (name, value, other), _ = CASES[plugin]
    uri = _with(base, f"{name}={value}")
    factory(uri)  # valid alone
    with pytest.raises(OptionError, match=f"'{name}' is given both in the URI and in code"):
        factory(uri, **{name: other})


def test_equal_values_in_both_places_are_no_conflict() -> None:
    assert _fake("fake://agree?version=2", version=2).key_version == 2
    assert _aws("aws-kms://alias/x?max_attempts=2", max_attempts="2").max_attempts == 2
    assert _redis("redis://h?grace=30s", grace=30).grace == 30.0
    assert _vault("vault://transit/k?timeout=500ms", timeout=0.5)["timeout"] == 0.5
