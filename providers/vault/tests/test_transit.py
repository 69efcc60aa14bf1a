"""The vault provider against a real OpenBao server: keys, versions, contexts, batches."""

from __future__ import annotations

import base64
import concurrent.futures
import secrets
from collections.abc import Callable

import pytest
from tigerseal.errors import (
    ConfigError,
    ContextMismatchError,
    DecryptionError,
    EncryptionError,
    KeyNotFound,
    KeyVersionRetired,
    NoMatchingKeyError,
)
from tigerseal.plugins import key_provider_from_uri
from tigerseal.spi import WrappedKey
from tigerseal_vault._context import b64, canonical_context
from tigerseal_vault._provider import VaultTransitProvider

from tests.services.vault import VaultServer

pytestmark = [pytest.mark.integration, pytest.mark.vault]

MakeProvider = Callable[..., VaultTransitProvider]


def dek() -> bytes:
    return secrets.token_bytes(32)


def test_registry_builds_provider_from_env(vault_env: VaultServer) -> None:
    key = vault_env.create_key()
    provider = key_provider_from_uri(f"vault://transit/{key}")
    try:
        assert isinstance(provider, VaultTransitProvider)
        data_key = provider.generate_data_key({"table": "accounts"})
        assert data_key.wrapped.blob.startswith(b"vault:v1:")
        assert data_key.wrapped.key_id == f"transit/{key}"
        assert provider.unwrap(data_key.wrapped, {"table": "accounts"}) == data_key.plaintext
    finally:
        provider.close()


def test_short_uri_uses_default_mount(vault_env: VaultServer) -> None:
    key = vault_env.create_key()
    provider = key_provider_from_uri(f"vault://{key}")
    assert provider.key_id == f"transit/{key}"
    value = dek()
    assert provider.unwrap(provider.wrap(value, {}), {}) == value


def test_other_mount(vault_server: VaultServer, make_provider: MakeProvider) -> None:
    mount = f"team-{secrets.token_hex(3)}/transit"
    vault_server.api("POST", f"sys/mounts/{mount}", {"type": "transit"})
    vault_server.api("POST", f"{mount}/keys/app", {})
    provider = make_provider(f"vault://{mount}/app")
    value = dek()
    wrapped = provider.wrap(value, {"a": "b"})
    assert wrapped.key_id == f"{mount}/app"
    assert provider.unwrap(wrapped, {"a": "b"}) == value


def test_typo_in_key_name_never_creates_a_key(
    vault_server: VaultServer, make_provider: MakeProvider
) -> None:
    # The root token could upsert; the provider must still refuse.
    name = f"typo-{secrets.token_hex(4)}"
    provider = make_provider(name)
    with pytest.raises(KeyNotFound, match=f"tigerseal vault init-key transit/{name}"):
        provider.wrap(dek(), {"a": "b"})
    with pytest.raises(KeyNotFound):
        provider.generate_data_key({})
    with pytest.raises(KeyNotFound):
        provider.rotate()
    fake = WrappedKey("vault", f"transit/{name}", 1, b"vault:v1:" + base64.b64encode(bytes(60)))
    with pytest.raises(KeyNotFound):
        provider.unwrap(fake, {})
    assert name not in vault_server.key_names()


def test_missing_mount(make_provider: MakeProvider) -> None:
    provider = make_provider("vault://nowhere/app")
    with pytest.raises(KeyNotFound, match="secrets enable -path=nowhere transit"):
        provider.wrap(dek(), {})


def test_rotation_rewrap_and_min_decryption_version(
    vault_server: VaultServer, make_provider: MakeProvider
) -> None:
    key = vault_server.create_key()
    provider = make_provider(key)
    contexts = [{}, {"row": "1"}, {"row": "2", "table": "t"}]
    values = [dek() for _ in contexts]
    v1 = [provider.wrap(v, c) for v, c in zip(values, contexts, strict=True)]
    assert {w.key_version for w in v1} == {1}
    assert provider.rotate() == 2
    assert provider.rotate() == 3
    assert provider.key_version == 3
    # Old versions still decrypt until retired.
    assert provider.unwrap_many(list(zip(v1, contexts, strict=True))) == values
    moved = provider.rewrap_many(list(zip(v1, contexts, strict=True)))
    assert [w.key_version for w in moved] == [3, 3, 3]
    assert all(w.blob.startswith(b"vault:v3:") for w in moved)
    # Retire behind the provider's back: Vault refuses, the provider names the version.
    vault_server.set_min_decryption_version(key, 3)
    with pytest.raises(KeyVersionRetired, match=r"version 1 .* min_decryption_version 3"):
        provider.unwrap(v1[1], contexts[1])
    assert provider.min_decryption_version == 3
    # Now known locally: refused without asking Vault.
    before = provider.stats["requests"]
    with pytest.raises(KeyVersionRetired):
        provider.unwrap(v1[0], contexts[0])
    with pytest.raises(KeyVersionRetired):
        provider.rewrap_many(list(zip(v1, contexts, strict=True)))
    assert provider.stats["requests"] == before
    assert provider.unwrap_many(list(zip(moved, contexts, strict=True))) == values


def test_set_min_decryption_version(vault_server: VaultServer, make_provider: MakeProvider) -> None:
    key = vault_server.create_key()
    provider = make_provider(key)
    old = provider.wrap(dek(), {})
    provider.rotate()
    with pytest.raises(ValueError, match="between 1 and 2"):
        provider.retire_below(3)
    provider.retire_below(2)
    assert vault_server.key_info(key)["min_decryption_version"] == 2
    with pytest.raises(KeyVersionRetired, match="version 1"):
        provider.unwrap(old, {})


def test_version_seen_from_another_process(
    vault_server: VaultServer, make_provider: MakeProvider
) -> None:
    key = vault_server.create_key()
    provider = make_provider(key)
    assert provider.key_version == 1
    vault_server.api("POST", f"transit/keys/{key}/rotate")
    wrapped = provider.wrap(dek(), {})
    assert wrapped.key_version == 2
    assert provider.key_version == 2


def test_associated_data_as_openbao_honours_it(
    vault_server: VaultServer, make_provider: MakeProvider
) -> None:
    """Which transit endpoints bind associated_data (documented in docs/providers/vault.md)."""
    key = vault_server.create_key()
    provider = make_provider(key)
    context = {"tenant": "t1", "row": "9"}
    ad = b64(canonical_context(context))
    for wrapped in (provider.wrap(dek(), context), provider.generate_data_key(context).wrapped):
        ct = wrapped.blob.decode()
        # decrypt honours it: without it, or with other bytes, authentication fails.
        assert vault_server.raw("POST", f"transit/decrypt/{key}", {"ciphertext": ct})[0] == 400
        other = b64(canonical_context({"tenant": "t2", "row": "9"}))
        body = {"ciphertext": ct, "associated_data": other}
        assert vault_server.raw("POST", f"transit/decrypt/{key}", body)[0] == 400
        body = {"ciphertext": ct, "associated_data": ad}
        assert vault_server.raw("POST", f"transit/decrypt/{key}", body)[0] == 200
        # rewrap takes no associated_data, so it cannot open such a ciphertext at all ...
        status, _ = vault_server.raw("POST", f"transit/rewrap/{key}", body)
        assert status == 400
    # ... which is why the provider rewraps these by decrypt + encrypt (and the rest in Vault).
    bound = provider.wrap(dek(), context)
    vault_server.api("POST", f"transit/keys/{key}/rotate")
    before = provider.stats["requests"]
    assert provider.rewrap(bound, context).key_version == 2
    assert provider.stats["requests"] - before == 2  # batch decrypt + batch encrypt
    unbound = provider.wrap(dek(), {})
    before = provider.stats["requests"]
    assert provider.rewrap(unbound, {}).key_version == 2
    assert provider.stats["requests"] - before == 1  # server-side rewrap


def test_derived_key_per_tenant(vault_server: VaultServer, make_provider: MakeProvider) -> None:
    key = vault_server.create_key(derived=True)
    provider = make_provider(key, derived=True, context_fields=("tenant",))
    assert provider.binds_context is False  # only the tenant is bound inside Vault
    value = dek()
    wrapped = provider.wrap(value, {"tenant": "acme", "row": "1"})
    # Same tenant, other row: Vault derives the same key (the envelope still checks the row).
    assert provider.unwrap(wrapped, {"tenant": "acme", "row": "2"}) == value
    with pytest.raises(DecryptionError):
        provider.unwrap(wrapped, {"tenant": "globex", "row": "1"})
    with pytest.raises(EncryptionError, match="has no 'tenant'"):
        provider.wrap(value, {"row": "1"})
    with pytest.raises(ContextMismatchError):
        provider.unwrap(wrapped, {"row": "1"})
    # The derivation context is the canonical JSON of the chosen fields, so an operator can
    # reproduce it by hand.
    body = {"ciphertext": wrapped.blob.decode(), "context": b64(b'{"tenant":"acme"}')}
    resp = vault_server.api("POST", f"transit/decrypt/{key}", body)
    assert base64.b64decode(resp["data"]["plaintext"]) == value
    # Derived keys rewrap server side, even with a context.
    vault_server.api("POST", f"transit/keys/{key}/rotate")
    before = provider.stats["requests"]
    moved = provider.rewrap(wrapped, {"tenant": "acme", "row": "1"})
    assert provider.stats["requests"] - before == 1
    assert moved.key_version == 2
    assert provider.unwrap(moved, {"tenant": "acme"}) == value


def test_derived_mismatch_is_a_config_error(
    vault_server: VaultServer, make_provider: MakeProvider
) -> None:
    derived_key = vault_server.create_key(derived=True)
    with pytest.raises(ConfigError, match="add derived=1"):
        make_provider(derived_key).wrap(dek(), {})
    plain_key = vault_server.create_key()
    with pytest.raises(ConfigError, match="not a derived key"):
        make_provider(plain_key, derived=True).wrap(dek(), {})


def test_non_aead_key_needs_aad_off(vault_server: VaultServer, make_provider: MakeProvider) -> None:
    key = vault_server.create_key(type="rsa-2048")
    with pytest.raises(ConfigError, match="aad=0"):
        make_provider(key).wrap(dek(), {"a": "b"})
    provider = make_provider(key, aad=False)
    value = dek()
    assert provider.unwrap(provider.wrap(value, {"a": "b"}), {"a": "b"}) == value


def test_batches_cross_chunk_boundaries(
    vault_server: VaultServer, make_provider: MakeProvider
) -> None:
    key = vault_server.create_key()
    provider = make_provider(key)
    n = 1000
    values = [dek() for _ in range(n)]
    contexts = [{"i": str(i)} if i % 3 else {} for i in range(n)]
    wrapped = provider._wrap_many(list(zip(values, contexts, strict=True)))
    items = list(zip(wrapped, contexts, strict=True))
    before = provider.stats["requests"]
    assert provider.unwrap_many(items) == values
    requests = provider.stats["requests"] - before
    assert requests == -(-n // 225)  # 900 JSON strings per request, 4 per item
    provider.rotate()
    moved = provider.rewrap_many(items)
    assert [w.key_version for w in moved] == [2] * n
    assert provider.unwrap_many(list(zip(moved, contexts, strict=True))) == values
    # One bad item fails the batch with the opaque error, whatever its position.
    bad = list(items)
    w, c = bad[517]
    blob = bytearray(w.blob)
    blob[20] = ord("A") if blob[20] != ord("A") else ord("B")
    bad[517] = (WrappedKey(w.provider, w.key_id, w.key_version, bytes(blob)), c)
    with pytest.raises(DecryptionError):
        provider.unwrap_many(bad)
    with pytest.raises(DecryptionError):
        provider.rewrap_many(bad)


def test_explicit_batch_size(vault_server: VaultServer, make_provider: MakeProvider) -> None:
    provider = make_provider(vault_server.create_key(), batch_size=7)
    values = [dek() for _ in range(20)]
    items = [(provider.wrap(v, {}), {}) for v in values]
    before = provider.stats["requests"]
    assert provider.unwrap_many(items) == values
    assert provider.stats["requests"] - before == 3


def test_foreign_wrapped_key(vault_server: VaultServer, make_provider: MakeProvider) -> None:
    a = make_provider(vault_server.create_key())
    b = make_provider(vault_server.create_key())
    wrapped = a.wrap(dek(), {})
    with pytest.raises(NoMatchingKeyError, match=a.key_id):
        b.unwrap(wrapped, {})
    with pytest.raises(NoMatchingKeyError):
        b.rewrap_many([(wrapped, {})])


def test_blob_with_leading_zero_version_refused(
    vault_server: VaultServer, make_provider: MakeProvider
) -> None:
    provider = make_provider(vault_server.create_key())
    wrapped = provider.wrap(dek(), {})
    padded = wrapped.blob.replace(b"vault:v1:", b"vault:v01:")
    with pytest.raises(DecryptionError):
        provider.unwrap(WrappedKey("vault", provider.key_id, 1, padded), {})


def test_eight_threads_with_batches_and_rotation(
    vault_server: VaultServer, make_provider: MakeProvider
) -> None:
    provider = make_provider(vault_server.create_key())

    def work(t: int) -> bool:
        for i in range(6):
            context = {"t": str(t), "i": str(i)}
            data_key = provider.generate_data_key(context)
            items = [(data_key.wrapped, context), (provider.wrap(data_key.plaintext, {}), {})]
            assert provider.unwrap_many(items) == [data_key.plaintext] * 2
            moved = provider.rewrap_many(items)
            assert (
                provider.unwrap_many(list(zip(moved, [context, {}], strict=True)))
                == [data_key.plaintext] * 2
            )
            if t == 0 and i == 2:
                provider.rotate()
        return True

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(8)))
    assert provider.key_version == 2


def test_namespace(
    monkeypatch: pytest.MonkeyPatch, vault_env: VaultServer, make_provider: MakeProvider
) -> None:
    ns = f"team{secrets.token_hex(3)}"
    vault_env.api("POST", f"sys/namespaces/{ns}", {})
    vault_env.api("POST", "sys/mounts/transit", {"type": "transit"}, namespace=ns)
    vault_env.api("POST", "transit/keys/app", {}, namespace=ns)
    monkeypatch.setenv("VAULT_NAMESPACE", ns)
    provider = key_provider_from_uri("vault://transit/app")
    value = dek()
    wrapped = provider.wrap(value, {"a": "b"})
    assert provider.unwrap(wrapped, {"a": "b"}) == value
    # The same URI outside the namespace names another (here: missing) key.
    with pytest.raises(KeyNotFound):
        make_provider("app", namespace="").wrap(value, {})


def test_foreign_wrapped_key_error_escapes_header_text(
    vault_server: VaultServer, make_provider: MakeProvider
) -> None:
    # Provider names and key ids come from a message's unauthenticated key section.
    p = make_provider(vault_server.create_key())
    hostile = WrappedKey("evil\x1b[2J", "kid\r\nERROR forged\x07", 1, b"vault:v1:AAAA")
    with pytest.raises(NoMatchingKeyError) as e:
        p.unwrap(hostile, {})
    for ch in ("\n", "\r", "\x1b", "\x07"):
        assert ch not in str(e.value)
