"""The data-key cache follows rotation and retirement at once (issue 11 item 11).

Before: the encryption cache kept wrapping under the old version for ``max_age`` after
``rotate()``, and the decryption cache returned plaintext for a retired version.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tigerseal.config import reset_settings
from tigerseal.envelope import CachePolicy, EncryptionService
from tigerseal.envelope._cache import DataKeyCache
from tigerseal.errors import KeyVersionRetired
from tigerseal.providers.env import EnvKeyProvider
from tigerseal.providers.file import FileKeyProvider, create_keyring
from tigerseal.spi import KeyProvider
from tigerseal.testing.fake import FakeKeyProvider, reset_fake_keys

POLICY = CachePolicy(max_age=3600, decrypt_ttl=3600)


@pytest.fixture(autouse=True)
def development(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def fake() -> Iterator[FakeKeyProvider]:
    name = "cache-rotation-" + secrets.token_hex(4)
    yield FakeKeyProvider(name)
    reset_fake_keys(name)


@pytest.fixture
def keyring(tmp_path: Path) -> FileKeyProvider:
    return create_keyring(tmp_path / "ring" / "keyring.json")


def _rotate(p: KeyProvider) -> None:
    p.rotate()


def _retire(p: KeyProvider, version: int) -> None:
    assert isinstance(p, FileKeyProvider | FakeKeyProvider)
    p.retire_below(version)


@pytest.mark.parametrize("kind", ["fake", "file"])
def test_rotate_and_retire_take_effect_at_once(
    kind: str, fake: FakeKeyProvider, keyring: FileKeyProvider
) -> None:
    provider: KeyProvider = fake if kind == "fake" else keyring
    svc = EncryptionService(provider, cache=POLICY)
    old = svc.encrypt(b"before rotation")
    assert svc.decrypt(old) == b"before rotation"  # cached for decryption too
    assert svc.encrypt(b"x").header.wrapped_keys[0].key_version == 1
    _rotate(provider)
    new = svc.encrypt(b"after rotation")
    assert new.header.wrapped_keys[0].key_version == 2  # not the cached v1 data key
    svc.rewrap(old)  # what an operator does before retiring; the old message stays stored
    _retire(provider, 2)
    with pytest.raises(KeyVersionRetired):
        svc.decrypt(old)  # the decrypt cache must not answer for a retired version
    assert svc.decrypt(new) == b"after rotation"
    assert svc.decrypt(svc.rewrap(new)) == b"after rotation"


def test_keyring_rotated_and_retired_by_another_process(keyring: FileKeyProvider) -> None:
    keyring.reload_interval = 0  # notice the other process's change at the next call
    svc = EncryptionService(keyring, cache=POLICY)
    old = svc.encrypt(b"old")
    assert svc.decrypt(old) == b"old"
    other = FileKeyProvider(keyring.path)  # stands for another process on the same file
    assert other.rotate() == 2
    assert svc.encrypt(b"new").header.wrapped_keys[0].key_version == 2
    other.retire_below(2)
    with pytest.raises(KeyVersionRetired):
        svc.decrypt(old)


def test_env_rotation_with_a_shared_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new env:// configuration (rotated, old version retired) is followed by a shared cache."""
    first, second = secrets.token_hex(32), secrets.token_hex(32)
    cache = DataKeyCache(POLICY)
    before = EncryptionService(EnvKeyProvider("CR", environ={"CR": first}), cache=cache)
    old = before.encrypt(b"old")
    assert before.decrypt(old) == b"old"
    rotated_env = {"CR": second, "CR_VERSION": "2", "CR_V1": first, "CR_MIN_VERSION": "2"}
    after = EncryptionService(EnvKeyProvider("CR", environ=rotated_env), cache=cache)
    assert after.encrypt(b"new").header.wrapped_keys[0].key_version == 2
    with pytest.raises(KeyVersionRetired):
        after.decrypt(old)


def test_cached_decryption_key_is_bound_to_the_version(fake: FakeKeyProvider) -> None:
    """A cache entry made for one version never answers for a header naming another one."""
    import dataclasses

    cache = DataKeyCache(POLICY)
    w = fake.wrap(b"k" * 32, {})
    cache.put_unwrapped(w, b"ctx", b"k" * 32)
    relabelled = dataclasses.replace(w, key_version=w.key_version + 1)
    assert cache.get_unwrapped(relabelled, b"ctx", fake) is None
    assert cache.get_unwrapped(w, b"ctx", fake) == b"k" * 32


def test_cache_still_saves_calls_without_rotation(fake: FakeKeyProvider) -> None:
    svc = EncryptionService(fake, cache=POLICY)
    messages = [svc.encrypt(b"m") for _ in range(20)]
    for m in messages:
        svc.decrypt(m)
    assert svc.metrics["generate"] == 1
    assert svc.metrics["unwrap"] == 0


OPS = st.lists(st.sampled_from(["encrypt", "decrypt", "rotate", "retire"]), max_size=25)


@settings(max_examples=40, deadline=None)
@given(ops=OPS)
def test_cache_never_outlives_a_version_change(ops: list[str]) -> None:
    """Whatever the order of operations, the cache answers exactly as the provider would."""
    name = "cache-prop-" + secrets.token_hex(4)
    provider = FakeKeyProvider(name)
    svc = EncryptionService(provider, cache=POLICY)
    stored = [svc.encrypt(b"0")]
    try:
        for op in ops:
            if op == "encrypt":
                ed = svc.encrypt(b"m")
                assert ed.header.wrapped_keys[0].key_version == provider.key_version
                stored.append(ed)
            elif op == "decrypt":
                for ed in stored:
                    if ed.header.wrapped_keys[0].key_version < provider.min_decryption_version:
                        with pytest.raises(KeyVersionRetired):
                            svc.decrypt(ed)
                    else:
                        svc.decrypt(ed)
            elif op == "rotate":
                provider.rotate()
            else:
                provider.retire_below(provider.key_version)
    finally:
        reset_fake_keys(name)


def test_shared_cache_never_crosses_providers_with_the_same_key_id() -> None:
    """Two tenants' env:// keys share a variable name (the key id) and one cache: neither may
    read the other's messages through it, nor encrypt under the other's key."""
    from tigerseal.errors import DecryptionError

    cache = DataKeyCache(POLICY)
    ctx = {"table": "notes"}
    key_a, key_b = secrets.token_hex(32), secrets.token_hex(32)
    tenant_a = EncryptionService(EnvKeyProvider("MK", environ={"MK": key_a}), cache=cache)
    tenant_b = EncryptionService(EnvKeyProvider("MK", environ={"MK": key_b}), cache=cache)
    secret_a = tenant_a.encrypt(b"tenant a only", ctx)
    with pytest.raises(DecryptionError):
        tenant_b.decrypt(secret_a, ctx)
    from_b = tenant_b.encrypt(b"tenant b only", ctx)
    uncached_a = EncryptionService(EnvKeyProvider("MK", environ={"MK": key_a}))
    with pytest.raises(DecryptionError):
        uncached_a.decrypt(from_b, ctx)
    uncached_b = EncryptionService(EnvKeyProvider("MK", environ={"MK": key_b}))
    assert uncached_b.decrypt(from_b, ctx) == b"tenant b only"
    assert tenant_a.decrypt(secret_a, ctx) == b"tenant a only"  # the cache still serves A
