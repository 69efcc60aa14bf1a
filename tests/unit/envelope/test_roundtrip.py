"""Round trips, forms, context binding, several providers, rewrap and the cache."""

from __future__ import annotations

import io
import json
import secrets
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tigerseal.envelope import CachePolicy, EncryptedData, EncryptionService
from tigerseal.errors import (
    ConfigError,
    ContextMismatchError,
    DecryptionError,
    EncryptionError,
    KeyVersionRetired,
    NoMatchingKeyError,
)
from tigerseal.testing.fake import FakeKeyProvider, reset_fake_keys

contexts = st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=40), max_size=5)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=70_000), context=contexts, cached=st.booleans())
def test_round_trip_any_payload_and_context(
    provider: FakeKeyProvider, data: bytes, context: dict[str, str], cached: bool
) -> None:
    svc = EncryptionService(provider, cache=CachePolicy() if cached else None)
    ed = svc.encrypt(data, context)
    for form in (ed, bytes(ed), str(ed), ed.json()):
        assert svc.decrypt(form, context) == data
    assert ed.context == context


@pytest.mark.parametrize("size", [0, 1, 4 * 1024 * 1024 + 3])
def test_round_trip_sizes(svc: EncryptionService, size: int) -> None:
    data = secrets.token_bytes(size)
    assert svc.decrypt(svc.encrypt(data)) == data


def test_seed_api(svc: EncryptionService, provider: FakeKeyProvider) -> None:
    encrypted = svc.encrypt("sensitive data")
    assert encrypted.key_version == provider.key_version == 1
    assert svc.decrypt_to_string(encrypted) == "sensitive data"
    stored = encrypted.json()
    assert json.loads(stored)["key_version"] == 1
    assert svc.decrypt_to_string(EncryptedData.parse(stored)) == "sensitive data"


def test_forms_parse_to_equal_messages(svc: EncryptionService) -> None:
    ed = svc.encrypt(b"x", {"a": "b"})
    assert EncryptedData.parse(bytes(ed)) == EncryptedData.parse(str(ed)) == ed
    assert EncryptedData.parse(ed.json()) == ed
    assert EncryptedData.parse(str(ed).encode()) == ed
    assert str(ed).startswith("ts1.")
    assert "=" not in str(ed)
    assert "x" not in repr(ed)
    assert "ts1." not in repr(ed)


def test_fresh_data_key_and_message_id_per_message(svc: EncryptionService) -> None:
    a, b = svc.encrypt(b"same"), svc.encrypt(b"same")
    assert a.message_id != b.message_id
    assert a.wrapped_keys[0].blob != b.wrapped_keys[0].blob
    assert bytes(a) != bytes(b)


def test_context_must_match(svc: EncryptionService) -> None:
    ctx = {"table": "accounts", "column": "tiger_id", "id": "42"}
    ed = svc.encrypt(b"secret", ctx)
    with pytest.raises(ContextMismatchError) as e:
        svc.decrypt(ed, {**ctx, "id": "43"})
    assert "id" in str(e.value)
    assert "43" not in str(e.value)
    assert "42" not in str(e.value)
    with pytest.raises(ContextMismatchError, match="did not pass"):
        svc.decrypt(ed)
    with pytest.raises(ContextMismatchError, match="not bound to"):
        svc.decrypt(svc.encrypt(b"x"), {"extra": "1"})
    assert issubclass(ContextMismatchError, DecryptionError)


def test_context_values_must_be_strings(svc: EncryptionService) -> None:
    with pytest.raises(EncryptionError, match="str"):
        svc.encrypt(b"x", {"id": 42})  # type: ignore[dict-item]
    with pytest.raises(EncryptionError, match="empty"):
        svc.encrypt(b"x", {"": "v"})
    with pytest.raises(EncryptionError, match="str or bytes"):
        svc.encrypt(42)  # type: ignore[arg-type]


def test_wrong_key_is_no_matching_key(svc: EncryptionService) -> None:
    other = EncryptionService(FakeKeyProvider("other-" + secrets.token_hex(4)))
    ed = svc.encrypt(b"x")
    with pytest.raises(NoMatchingKeyError) as e:
        other.decrypt(ed)
    assert "fake" in str(e.value)


def test_two_providers_either_decrypts(name: str) -> None:
    a, b = FakeKeyProvider(name + "-a"), FakeKeyProvider(name + "-b")
    try:
        ed = EncryptionService([a, b]).encrypt(b"multi", {"k": "v"})
        assert len(ed.wrapped_keys) == 2
        assert EncryptionService(a).decrypt(ed, {"k": "v"}) == b"multi"
        assert EncryptionService(b).decrypt(ed, {"k": "v"}) == b"multi"
    finally:
        reset_fake_keys(name + "-a")
        reset_fake_keys(name + "-b")


def test_outage_of_first_provider_falls_back_to_second(name: str) -> None:
    from tigerseal.errors import ProviderUnavailable

    a, b = FakeKeyProvider(name + "-a"), FakeKeyProvider(name + "-b")
    try:
        svc = EncryptionService([a, b])
        ed = svc.encrypt(b"multi")
        a.fail_next(ProviderUnavailable("down"), times=5)
        assert svc.decrypt(ed) == b"multi"
    finally:
        reset_fake_keys(name + "-a")
        reset_fake_keys(name + "-b")


def test_rotation_rewrap_and_retirement(svc: EncryptionService, provider: FakeKeyProvider) -> None:
    old = svc.encrypt(b"payload", {"c": "1"})
    assert old.key_version == 1
    assert provider.rotate() == 2
    assert svc.needs_rewrap(old)
    new = svc.rewrap(old)
    assert new.key_version == 2
    assert not svc.needs_rewrap(new)
    # The payload was not re-encrypted: authenticated header and body are unchanged.
    assert new.header.aad == old.header.aad
    assert bytes(new)[new.header.size :] == bytes(old)[old.header.size :]
    assert svc.decrypt(new, {"c": "1"}) == b"payload"
    provider.retire_below(2)
    with pytest.raises(KeyVersionRetired):
        svc.decrypt(old, {"c": "1"})
    assert svc.decrypt(new, {"c": "1"}) == b"payload"
    assert svc.rewrap(new) == new  # already current: unchanged


def test_rewrap_many_uses_batch(svc: EncryptionService, provider: FakeKeyProvider) -> None:
    msgs = [svc.encrypt(str(i), {"i": str(i)}) for i in range(20)]
    provider.rotate()
    before = provider.calls["rewrap_many"]
    out = svc.rewrap_many(msgs)
    assert provider.calls["rewrap_many"] == before + 1
    assert [m.key_version for m in out] == [2] * 20
    assert [svc.decrypt_to_string(m, {"i": str(i)}) for i, m in enumerate(out)] == [
        str(i) for i in range(20)
    ]


def test_swapped_wrapped_key_fails_commitment(svc: EncryptionService) -> None:
    a, b = svc.encrypt(b"a"), svc.encrypt(b"b")
    ha = a.header
    forged = ha.aad + bytes(b)[b.header.aad.__len__() : b.header.size] + bytes(a)[ha.size :]
    with pytest.raises(DecryptionError, match="commitment"):
        svc.decrypt(forged)


def test_cache_limits_messages(provider: FakeKeyProvider) -> None:
    svc = EncryptionService(provider, cache=CachePolicy(max_messages=3))
    msgs = [svc.encrypt(b"x") for _ in range(7)]
    assert svc.metrics["generate"] == 3  # 3 + 3 + 1
    assert len({m.wrapped_keys[0].blob for m in msgs}) == 3
    assert len({m.message_id for m in msgs}) == 7
    for m in msgs:
        assert svc.decrypt(m) == b"x"
    assert svc.metrics["unwrap"] == 0  # the decrypt cache knew every key it made
    cold = EncryptionService(provider, cache=CachePolicy())
    for m in msgs:
        cold.decrypt(m)
    assert cold.metrics["unwrap"] == 3


def test_cache_limits_bytes_and_context(provider: FakeKeyProvider) -> None:
    svc = EncryptionService(provider, cache=CachePolicy(max_bytes=10))
    svc.encrypt(b"12345")
    svc.encrypt(b"12345")  # exactly 10: reused
    svc.encrypt(b"1")  # would exceed: new key
    svc.encrypt(b"x" * 11)  # larger than max_bytes: never cached
    svc.encrypt(b"1", {"other": "context"})  # another context never shares a key
    assert svc.metrics["generate"] == 4


def test_cache_limits_age(provider: FakeKeyProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    import tigerseal.envelope._cache as cache_mod

    now = [1000.0]
    monkeypatch.setattr(cache_mod.time, "monotonic", lambda: now[0])
    svc = EncryptionService(provider, cache=CachePolicy(max_age=10))
    svc.encrypt(b"a")
    now[0] += 9
    svc.encrypt(b"a")
    now[0] += 2
    svc.encrypt(b"a")
    assert svc.metrics["generate"] == 2


def test_cache_is_thread_safe(provider: FakeKeyProvider) -> None:
    svc = EncryptionService(provider, cache=CachePolicy(max_messages=50))
    errors: list[BaseException] = []
    results: list[EncryptedData] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            for i in range(100):
                ed = svc.encrypt(str(i).encode())
                assert svc.decrypt(ed) == str(i).encode()
                with lock:
                    results.append(ed)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    per_key: dict[bytes, int] = {}
    for ed in results:
        per_key[ed.wrapped_keys[0].blob] = per_key.get(ed.wrapped_keys[0].blob, 0) + 1
    assert max(per_key.values()) <= 50
    assert svc.metrics["generate"] == len(per_key)


def test_bad_cache_policy() -> None:
    with pytest.raises(ConfigError):
        CachePolicy(max_messages=0)


def test_inspect_without_keys(svc: EncryptionService) -> None:
    ed = svc.encrypt(b"hello", {"tenant": "t1"})
    info = EncryptionService.inspect(str(ed))
    assert info["context"] == {"tenant": "t1"}
    assert info["payload_size"] == 5
    assert info["wrapped_keys"][0]["provider"] == "fake"
    out = io.BytesIO()
    svc.encrypt_stream(io.BytesIO(b"abc"), out, frame_size=2)
    assert EncryptionService.inspect(out.getvalue())["content_type"] == "framed"
