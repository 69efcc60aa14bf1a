"""Unit tests (no server): URIs, options, settings precedence, context encoding, policies."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tigerseal.errors import ConfigError, TigerSealError
from tigerseal_vault._context import canonical_context
from tigerseal_vault._options import (
    parse_bool,
    parse_duration,
    parse_vault_uri,
    provider_kwargs_from_uri,
)
from tigerseal_vault._policy import operator_policy, service_policy
from tigerseal_vault._provider import VaultTransitProvider, from_uri

ADDR = "http://127.0.0.1:1"  # nothing listens there; no test here sends a request


@pytest.mark.parametrize(
    ("uri", "mount", "key"),
    [
        ("vault://tiger", "transit", "tiger"),
        ("vault://transit/tiger", "transit", "tiger"),
        ("vault://team/transit/tiger", "team/transit", "tiger"),
        ("vault://transit/keys/tiger", "transit", "tiger"),
        ("vault://transit/tiger-creds.v2_x", "transit", "tiger-creds.v2_x"),
        ("VAULT://transit/tiger", "transit", "tiger"),
    ],
)
def test_uri_forms(uri: str, mount: str, key: str) -> None:
    parsed = parse_vault_uri(uri)
    assert (parsed.mount, parsed.key_name) == (mount, key)
    assert parsed.key_id == f"{mount}/{key}"


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("vault://", "needs a key name"),
        ("vault:transit/x", "not a vault URI"),
        ("aws-kms://alias/x", "expected a URI starting vault://"),
        ("vault://s.token@transit/x", "credentials"),
        ("vault://transit/x#frag", "fragment"),
        ("vault://transit/../x", "not a valid"),
        ("vault://transit/a%2Fb", "not a valid"),
        ("vault://transit/x y", "not a valid"),
        ("vault://transit/x?nope=1", "unknown option 'nope' in the URI"),
        ("vault://transit/x?adr=http://h", "Did you mean 'addr'"),
        ("vault://transit/x?aad=1&aad=0", "given twice"),
        ("vault://transit/x?token=s.abc", "must not be given in a vault URI"),
        ("vault://transit/x?secret_id=abc", "must not be given"),
        ("vault://transit/x?bad", "malformed"),
    ],
)
def test_bad_uris(uri: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace("?", r"\?")):
        parse_vault_uri(uri)


def test_secret_in_uri_not_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        parse_vault_uri("vault://transit/x?token=s.VERYSECRET123")
    assert "VERYSECRET" not in str(info.value)


def test_bool_and_duration() -> None:
    assert all(parse_bool("x", v) for v in ("1", "TRUE", True, "on"))
    assert not any(parse_bool("x", v) for v in ("off", None, "0", False))
    with pytest.raises(ConfigError):
        parse_bool("x", "maybe")
    assert parse_duration("t", "500ms") == 0.5
    assert parse_duration("t", "2m") == 120
    assert parse_duration("t", 3) == 3.0
    for bad in ("0", "-1", "soon", "1d"):
        with pytest.raises(ConfigError):
            parse_duration("t", bad)


def test_settings_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAO_ADDR", "http://bao:8200")
    monkeypatch.setenv("BAO_TOKEN", "bao-token")
    kw = provider_kwargs_from_uri("vault://x", {})
    assert kw["addr"] == "http://bao:8200"
    assert kw["token"] == "bao-token"
    monkeypatch.setenv("VAULT_ADDR", "http://vault:8200")
    monkeypatch.setenv("VAULT_TOKEN", "vault-token")
    monkeypatch.setenv("VAULT_NAMESPACE", "team-a")
    kw = provider_kwargs_from_uri("vault://x", {})
    assert (kw["addr"], kw["token"], kw["namespace"]) == (
        "http://vault:8200",
        "vault-token",
        "team-a",
    )
    monkeypatch.setenv("TIGERSEAL_VAULT_ADDR", "http://ts:8200")
    assert provider_kwargs_from_uri("vault://x", {})["addr"] == "http://ts:8200"
    uri_kw = provider_kwargs_from_uri("vault://x?addr=http://uri:8200&namespace=ns", {})
    assert (uri_kw["addr"], uri_kw["namespace"]) == ("http://uri:8200", "ns")
    # The one precedence rule: URI and code must agree (no silent "code wins").
    same = provider_kwargs_from_uri("vault://x?addr=http://uri:8200", {"addr": "http://uri:8200"})
    assert same["addr"] == "http://uri:8200"
    with pytest.raises(ConfigError, match="'addr' is given both in the URI and in code"):
        provider_kwargs_from_uri("vault://x?addr=http://uri:8200", {"addr": "http://c:1"})


def test_dotenv_is_read_when_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("VAULT_ADDR=http://from-dotenv:8200\nMY_TOKEN=tok-dotenv\n")
    with pytest.raises(ConfigError, match="no Vault token"):  # ./.env is not read implicitly
        provider_kwargs_from_uri("vault://x?token_var=MY_TOKEN", {"addr": "http://a:8200"})
    monkeypatch.setenv("TIGERSEAL_ENV_FILE", str(tmp_path / ".env"))
    kw = provider_kwargs_from_uri("vault://x?token_var=MY_TOKEN", {})
    assert kw["addr"] == "http://from-dotenv:8200"
    assert kw["token"] == "tok-dotenv"


def test_token_var_and_approle_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", ADDR)
    monkeypatch.setenv("APP_TOKEN", "t-1")
    assert provider_kwargs_from_uri("vault://x?token_var=APP_TOKEN", {})["token"] == "t-1"
    monkeypatch.setenv("R", "role")
    monkeypatch.setenv("S", "secret")
    kw = provider_kwargs_from_uri(
        "vault://x?auth=approle&role_id_var=R&secret_id_var=S&approle_mount=apps", {}
    )
    assert (kw["auth"], kw["role_id"], kw["secret_id"], kw["approle_mount"]) == (
        "approle",
        "role",
        "secret",
        "apps",
    )


@pytest.mark.parametrize(
    ("uri", "options", "fragment"),
    [
        ("vault://x", {}, "no Vault token"),
        ("vault://x?token_var=MISSING", {}, "MISSING"),
        ("vault://x?auth=approle", {}, "VAULT_ROLE_ID and VAULT_SECRET_ID"),
        ("vault://x?auth=approle&role_id_var=R", {"secret_id": "s"}, "set R"),
        ("vault://x?auth=ldap", {"token": "t"}, "auth must be"),
        ("vault://x?timeout=never", {"token": "t"}, "timeout"),
        ("vault://x?batch_size=lots", {"token": "t"}, "batch_size"),
        ("vault://x?client_cert=/c.pem", {"token": "t"}, "both client_cert and client_key"),
        ("vault://x", {"token": "t", "colour": "red"}, "unknown keyword option 'colour'"),
    ],
)
def test_missing_or_bad_options(
    monkeypatch: pytest.MonkeyPatch, uri: str, options: dict[str, str], fragment: str
) -> None:
    monkeypatch.setenv("VAULT_ADDR", ADDR)
    with pytest.raises(ConfigError, match=fragment):
        provider_kwargs_from_uri(uri, options)


def test_tls_options(monkeypatch: pytest.MonkeyPatch) -> None:
    kw = provider_kwargs_from_uri(
        "vault://x?cacert=/ca.pem&client_cert=/c.pem&client_key=/k.pem", {"token": "t"}
    )
    assert kw["verify"] == "/ca.pem"
    assert kw["cert"] == ("/c.pem", "/k.pem")
    monkeypatch.setenv("VAULT_SKIP_VERIFY", "true")
    assert provider_kwargs_from_uri("vault://x", {"token": "t"})["verify"] is False
    monkeypatch.delenv("VAULT_SKIP_VERIFY")
    monkeypatch.setenv("VAULT_CAPATH", "/etc/ca")
    assert provider_kwargs_from_uri("vault://x", {"token": "t"})["verify"] == "/etc/ca"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"addr": None}, "no Vault address"),
        ({"addr": "vault:8200"}, "must look like"),
        ({"addr": "http://user:pw@vault:8200"}, "must look like"),
        ({"timeout": 0}, "timeout"),
        ({"batch_size": 0}, "batch_size"),
        ({"key_info_ttl": -1}, "key_info_ttl"),
        ({"context_fields": ["tenant"]}, "only applies to derived keys"),
        ({"derived": True, "context_fields": []}, "distinct"),
        ({"derived": True, "context_fields": ["a", "a"]}, "distinct"),
        ({"token": None}, "no Vault token"),
        ({"auth": "approle"}, "role_id"),
        ({"mount": "a/../b"}, "not a valid mount"),
    ],
)
def test_constructor_validates(kwargs: dict[str, object], fragment: str) -> None:
    args: dict[str, object] = {"addr": ADDR, "token": "t", **kwargs}
    with pytest.raises(ConfigError, match=fragment):
        VaultTransitProvider("k", **args)  # type: ignore[arg-type]


def test_constructor_rejects_bad_key_name() -> None:
    with pytest.raises(ConfigError):
        VaultTransitProvider("a/b", addr=ADDR, token="t")


def test_addr_with_credentials_not_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        VaultTransitProvider("k", addr="http://user:hunter2pass@vault:8200", token="t")
    assert "hunter2pass" not in str(info.value)


def test_binds_context_follows_options() -> None:
    assert VaultTransitProvider("k", addr=ADDR, token="t").binds_context is True
    assert VaultTransitProvider("k", addr=ADDR, token="t", aad=False).binds_context is False
    derived_all = VaultTransitProvider("k", addr=ADDR, token="t", derived=True)
    assert derived_all.binds_context is True
    derived_some = VaultTransitProvider(
        "k", addr=ADDR, token="t", derived=True, context_fields=["tenant"]
    )
    assert derived_some.binds_context is False
    # One declared property (issue 14.3), never an attribute set per instance.
    assert isinstance(VaultTransitProvider.__dict__["binds_context"], property)
    assert "binds_context" not in vars(derived_some)


def test_repr_and_uri_hold_no_token() -> None:
    provider = from_uri("vault://transit/k", addr=ADDR, token="s.super-secret-token")
    for text in (repr(provider), str(provider), provider.uri, repr(provider._auth)):
        assert "super-secret" not in text
    assert provider.uri == "vault://transit/k"
    assert provider.key_id == "transit/k"


def test_unreachable_server_is_unavailable_not_a_hang() -> None:
    from tigerseal.errors import ProviderUnavailable

    provider = VaultTransitProvider("k", addr=ADDR, token="t", timeout=2)
    with pytest.raises(
        ProviderUnavailable, match=r"cannot connect to Vault at http://127\.0\.0\.1:1 "
    ):
        provider.wrap(bytes(32), {})
    status = provider.health_check()
    assert not status.ok
    assert "ProviderUnavailable" in status.detail


def test_bad_dek_rejected_before_any_request() -> None:
    provider = VaultTransitProvider("k", addr=ADDR, token="t")
    with pytest.raises(ValueError, match="32 bytes"):
        provider.wrap(b"short", {})
    with pytest.raises(TypeError):
        provider.wrap("x" * 32, {})  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4),
)
def test_canonical_context_is_injective(a: dict[str, str], b: dict[str, str]) -> None:
    assert (canonical_context(a) == canonical_context(b)) == (a == b)
    assert json.loads(canonical_context(a)) == a


def test_canonical_context_is_stable() -> None:
    assert canonical_context({"b": "2", "a": "1"}) == b'{"a":"1","b":"2"}'
    assert canonical_context({"k": "\u00e9"}) == '{"k":"\u00e9"}'.encode()
    with pytest.raises(TypeError):
        canonical_context({"a": 1})  # type: ignore[dict-item]
    assert base64.b64decode(base64.b64encode(canonical_context({}))) == b"{}"


def test_policies() -> None:
    text = service_policy("transit", "tiger")
    assert 'path "transit/encrypt/tiger" { capabilities = ["update"] }' in text
    assert 'path "transit/keys/tiger" { capabilities = ["read"] }' in text
    assert "create" not in text.split("\n", 1)[1]  # no upsert
    assert "rotate" in operator_policy("transit", "tiger")


def test_errors_are_tigerseal_errors() -> None:
    with pytest.raises(TigerSealError):
        from_uri("vault://x?nope=1")
