"""``encrypt_many`` / ``decrypt_many`` (issue 15.2): batches of small values, each message
still an ordinary, independently decryptable, context-bound message."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tigerseal.envelope import CachePolicy, EncryptedData, EncryptionService
from tigerseal.envelope import _service as service_module
from tigerseal.errors import (
    BatchDecryptionError,
    ContextMismatchError,
    DecryptionError,
    EncryptionError,
    KeyVersionRetired,
    ProviderUnavailable,
)
from tigerseal.testing.fake import FakeKeyProvider, reset_fake_keys

CONTEXTS = [None, {"table": "a"}, {"table": "a", "pk": "1"}, {"table": "a", "pk": "2"}, {"é": "ü"}]


@pytest.fixture
def provider() -> Iterator[FakeKeyProvider]:
    name = "batch-" + secrets.token_hex(4)
    yield FakeKeyProvider(name)
    reset_fake_keys(name)


@pytest.fixture
def svc(provider: FakeKeyProvider) -> EncryptionService:
    return EncryptionService(provider)


values = st.lists(st.one_of(st.binary(max_size=300), st.text(max_size=50)), max_size=25)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), items=values)
def test_round_trip_with_mixed_contexts(
    svc: EncryptionService, data: st.DataObject, items: list[bytes | str]
) -> None:
    ctxs = [data.draw(st.sampled_from(CONTEXTS)) for _ in items]
    sealed = svc.encrypt_many(items, ctxs)
    expected = [v.encode() if isinstance(v, str) else v for v in items]
    assert svc.decrypt_many([bytes(m) for m in sealed], ctxs) == expected
    assert svc.decrypt_many([str(m) for m in sealed], ctxs) == expected
    # Each message alone is an ordinary message: decrypt() reads it, bound to its context.
    for m, c, v in zip(sealed, ctxs, expected, strict=True):
        assert svc.decrypt(bytes(m), c) == v
        assert m.context == (c or {})


def test_same_context_shares_one_data_key_other_contexts_never(
    svc: EncryptionService, provider: FakeKeyProvider
) -> None:
    ctxs = [{"t": "a"}, {"t": "b"}, {"t": "a"}, None, {"t": "b"}, {"t": "a"}]
    sealed = svc.encrypt_many([b"v%d" % i for i in range(6)], ctxs)
    assert svc.metrics["generate"] == 3  # one per distinct context
    blob = {i: m.wrapped_keys[0].blob for i, m in enumerate(sealed)}
    assert blob[0] == blob[2] == blob[5] != blob[1] == blob[4] != blob[3]
    # Every message has its own id, hence its own content key and commitment.
    assert len({m.message_id for m in sealed}) == 6
    assert len({m.header.commitment for m in sealed}) == 6
    # Decrypting the batch unwraps each shared data key once.
    before = svc.metrics["unwrap"]
    assert svc.decrypt_many(sealed, ctxs) == [b"v%d" % i for i in range(6)]
    assert svc.metrics["unwrap"] - before == 3


def test_context_binding_holds_per_message(svc: EncryptionService) -> None:
    sealed = svc.encrypt_many([b"x", b"y"], [{"pk": "1"}, {"pk": "2"}])
    with pytest.raises(ContextMismatchError):
        svc.decrypt(sealed[0], {"pk": "2"})
    with pytest.raises(BatchDecryptionError) as info:
        svc.decrypt_many(sealed, [{"pk": "2"}, {"pk": "2"}])
    assert list(info.value.failures) == [0]
    assert isinstance(info.value.failures[0], ContextMismatchError)


def test_one_tampered_message_fails_alone(svc: EncryptionService) -> None:
    ctx = {"table": "t"}
    sealed = [bytearray(bytes(m)) for m in svc.encrypt_many([b"a" * 40] * 5, ctx)]
    sealed[3][-1] ^= 1  # the tag of message 3
    sealed[1][50] ^= 1  # inside message 1's authenticated header (its message id)
    msgs = [bytes(m) for m in sealed]
    with pytest.raises(BatchDecryptionError) as info:
        svc.decrypt_many(msgs, ctx)
    err = info.value
    assert isinstance(err, DecryptionError)
    assert sorted(err.failures) == [1, 3]
    assert "#1:" in str(err)
    assert "#3:" in str(err)
    assert "2 of 5" in str(err)
    assert "aaaa" not in str(err)
    out = svc.decrypt_many(msgs, ctx, return_exceptions=True)
    assert out[0] == out[2] == out[4] == b"a" * 40
    assert isinstance(out[1], DecryptionError)
    assert isinstance(out[3], DecryptionError)
    # The same failures as decrypt() alone.
    for i in (1, 3):
        with pytest.raises(DecryptionError) as alone:
            svc.decrypt(msgs[i], ctx)
        assert str(alone.value) == str(err.failures[i])


def test_a_replaced_wrapped_key_fails_only_its_message(svc: EncryptionService) -> None:
    """Messages share a wrapped key; one message's copy swapped for another batch's key."""
    ctx = {"t": "x"}
    first = [bytes(m) for m in svc.encrypt_many([b"1", b"2", b"3"], ctx)]
    other = bytes(svc.encrypt(b"z", ctx))
    a, b = EncryptedData.parse(first[1]), EncryptedData.parse(other)
    swapped = (
        first[1][: a.header.size].replace(a.wrapped_keys[0].blob, b.wrapped_keys[0].blob)
        + first[1][a.header.size :]
    )
    out = svc.decrypt_many([first[0], swapped, first[2]], ctx, return_exceptions=True)
    assert out[0] == b"1"
    assert out[2] == b"3"
    assert isinstance(out[1], DecryptionError)
    assert "commitment" in str(out[1])


def test_retired_version_fails_every_message(provider: FakeKeyProvider) -> None:
    svc = EncryptionService(provider)
    sealed = svc.encrypt_many([b"a", b"b"])
    provider.rotate()
    provider.retire_below(provider.key_version)
    out = svc.decrypt_many(sealed, return_exceptions=True)
    assert all(isinstance(e, KeyVersionRetired) for e in out)


def test_garbage_items_are_reported_by_index(svc: EncryptionService) -> None:
    good = svc.encrypt_many([b"ok"])[0]
    out = svc.decrypt_many([b"junk", "ts1.AAAA", good], return_exceptions=True)
    assert isinstance(out[0], DecryptionError)
    assert isinstance(out[1], DecryptionError)
    assert out[2] == b"ok"


def test_bad_arguments(svc: EncryptionService) -> None:
    with pytest.raises(EncryptionError, match="3 items and 2 contexts"):
        svc.encrypt_many([b"a", b"b", b"c"], [None, None])
    with pytest.raises(EncryptionError, match="value 1 of the batch"):
        svc.encrypt_many([b"a", 5])  # type: ignore[list-item]
    with pytest.raises(DecryptionError, match="1 items and 2 contexts"):
        svc.decrypt_many([b"a"], [None, None])
    assert svc.encrypt_many([]) == []
    assert svc.decrypt_many([]) == []


def test_data_key_shared_by_at_most_batch_limit(
    svc: EncryptionService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "BATCH_KEY_MESSAGES", 3)
    sealed = svc.encrypt_many([b"x"] * 7, {"t": "1"})
    assert svc.metrics["generate"] == 3
    assert svc.decrypt_many(sealed, {"t": "1"}) == [b"x"] * 7


def test_with_the_data_key_cache(provider: FakeKeyProvider) -> None:
    svc = EncryptionService(provider, cache=CachePolicy(max_messages=4))
    sealed = svc.encrypt_many([b"x"] * 10, {"t": "1"})
    assert svc.metrics["generate"] == 3  # the cache's limit decides: 4 + 4 + 2
    assert svc.decrypt_many(sealed, {"t": "1"}) == [b"x"] * 10


class _Counting(FakeKeyProvider):
    """Counts single and batch unwrap calls (a provider with a batch API, like Vault)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.single = 0
        self.batches: list[int] = []

    def unwrap(self, wrapped, context):  # type: ignore[no-untyped-def]
        self.single += 1
        return super().unwrap(wrapped, context)

    def unwrap_many(self, items):  # type: ignore[no-untyped-def]
        self.batches.append(len(items))
        return super().unwrap_many(items)


def test_per_row_contexts_unwrap_in_one_batch_call() -> None:
    """Rows with their own contexts cannot share a data key, but a provider with a batch API
    (Vault, HSM) unwraps all of them in one call instead of one call per row."""
    name = "batch-" + secrets.token_hex(4)
    p = _Counting(name)
    try:
        svc = EncryptionService(p)
        ctxs = [{"table": "t", "pk": str(i)} for i in range(10)]
        sealed = svc.encrypt_many([b"v%d" % i for i in range(10)], ctxs)
        assert svc.decrypt_many(sealed, ctxs) == [b"v%d" % i for i in range(10)]
        assert p.batches == [10]
        assert p.single == 0
        # One tampered wrapped key fails the batch call; every message is then unwrapped on
        # its own and only the tampered one fails, with decrypt()'s error.
        raw = [bytearray(bytes(m)) for m in sealed]
        blob = sealed[4].wrapped_keys[0].blob
        at = bytes(raw[4]).index(blob) + len(blob) - 1
        raw[4][at] ^= 1
        p.batches.clear()
        out = svc.decrypt_many([bytes(m) for m in raw], ctxs, return_exceptions=True)
        assert p.batches == [10]
        assert p.single == 10
        assert isinstance(out[4], DecryptionError)
        assert [o for i, o in enumerate(out) if i != 4] == [b"v%d" % i for i in range(10) if i != 4]
        with pytest.raises(DecryptionError) as alone:
            svc.decrypt(bytes(raw[4]), ctxs[4])
        assert str(alone.value) == str(out[4])
    finally:
        reset_fake_keys(name)


def test_no_provider_call_for_messages_that_fail_the_early_checks() -> None:
    name = "batch-" + secrets.token_hex(4)
    p = _Counting(name)
    try:
        svc = EncryptionService(p)
        ctxs = [{"pk": str(i)} for i in range(3)]
        sealed = [bytes(m) for m in svc.encrypt_many([b"a", b"b", b"c"], ctxs)]
        wrong = [{"pk": "x"}] * 3  # every context mismatches: no provider is asked
        out = svc.decrypt_many(sealed, wrong, return_exceptions=True)
        assert all(isinstance(e, ContextMismatchError) for e in out)
        assert p.batches == []
        assert p.single == 0
    finally:
        reset_fake_keys(name)


def test_an_outage_mid_batch_leaves_no_plaintext_in_the_traceback(
    provider: FakeKeyProvider,
) -> None:
    """A provider failure is raised at once, as by decrypt(); the frames it leaves hold no
    plaintext of the messages already decrypted."""
    svc = EncryptionService(provider)
    ctxs = [{"pk": "1"}, {"pk": "2"}]
    sealed = [bytes(m) for m in svc.encrypt_many([b"first-plaintext", b"second"], ctxs)]
    original = provider.unwrap
    calls = {"n": 0}

    def flaky(wrapped, context):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise ProviderUnavailable("the key store is down")
        return original(wrapped, context)

    provider.unwrap = flaky  # type: ignore[method-assign]
    provider.unwrap_many = lambda items: (_ for _ in ()).throw(ProviderUnavailable("down"))  # type: ignore[method-assign]
    with pytest.raises(ProviderUnavailable) as info:
        svc.decrypt_many(sealed, ctxs)
    tb = info.value.__traceback__
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            assert value != b"first-plaintext"
            if isinstance(value, list):
                assert b"first-plaintext" not in value
        tb = tb.tb_next
