"""The contract every key provider must pass, as a pytest test class to subclass.

Subclass :class:`ProviderContract` in a test module and give it the two fixtures; every
``test_*`` method below then runs against your provider. Optional capabilities are detected,
not declared: a provider that subclasses :class:`~tigerseal.spi.Rotatable`,
:class:`~tigerseal.spi.Retirable`, :class:`~tigerseal.spi.BatchWrap` or
:class:`~tigerseal.spi.HealthDetail` gets that capability's tests, and the others skip them::

    import pytest
    from tigerseal.spi import KeyProvider
    from tigerseal.testing.contract import ProviderContract

    class TestMyProvider(ProviderContract):
        @pytest.fixture
        def provider(self, my_server) -> KeyProvider:
            return MyProvider.create_fresh_key(my_server)      # a fresh key if possible

        @pytest.fixture
        def other_provider(self, my_server) -> KeyProvider:
            return MyProvider.create_fresh_key(my_server)      # same scheme, another key

        @pytest.fixture
        def provider_secrets(self) -> list[str | bytes]:
            return [MY_TOKEN]     # strings that must never appear in a repr or an error

What is checked (each is one test, so a failure names the broken rule):

* identity: ``scheme``, ``key_id``, ``key_version``, ``uri`` and ``binds_context`` are sane;
* ``unwrap(wrap(dek, ctx), ctx) == dek`` for assorted contexts, also after the
  :class:`~tigerseal.spi.WrappedKey` is rebuilt from its fields (as after parsing a header);
* :meth:`~tigerseal.spi.KeyProvider.generate_data_key` returns fresh 32-byte keys;
* if ``binds_context``: unwrapping under any other context raises
  :class:`~tigerseal.errors.DecryptionError`, including contexts that naive encodings confuse
  (``{"a": "b=c"}`` vs ``{"a=b": "c"}``); context order never matters;
* every byte of a tampered blob (blobs up to :attr:`~ProviderContract.tamper_limit` bytes;
  a sample of positions otherwise), truncated and extended blobs raise
  :attr:`~ProviderContract.tamper_errors` (default: ``DecryptionError`` only);
* a key wrapped under another KEK (``other_provider``) or by another scheme raises
  ``DecryptionError`` (``NoMatchingKeyError`` is one); a changed ``key_version`` field never
  yields a different key;
* ``binds_context`` is declared by the class (a property or class attribute), never set on
  the instance;
* ``rewrap`` (:func:`tigerseal.spi.rewrap`: the provider's own if it is ``BatchWrap``) keeps
  the DEK and moves it to the current version;
* ``Rotatable``: ``rotate`` bumps the version and old wraps keep unwrapping;
* ``Retirable``: ``retire_below`` makes unwrap and rewrap refuse older versions with
  ``KeyVersionRetired``;
* ``unwrap_many``/``rewrap_many`` keep order, accept an empty batch and fail on a bad item
  (the provider's own if it is ``BatchWrap``, the fallback otherwise);
* eight threads sharing one provider get correct results;
* ``health_check`` is the base class's template (providers implement ``_probe``), is ok, and
  turns anything the probe (or ``HealthDetail.health_detail``) raises into a status, never an
  exception; no repr, URI or error message contains key material.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from typing import ClassVar

import pytest

from tigerseal.errors import (
    DecryptionError,
    KeyNotFound,
    KeyVersionRetired,
    TigerSealError,
    UnsupportedOperation,
)
from tigerseal.spi._capabilities import (
    BatchWrap,
    HealthDetail,
    Retirable,
    Rotatable,
    min_decryption_version,
    rewrap,
    rewrap_many,
    unwrap_many,
)
from tigerseal.spi._provider import (
    DEK_SIZE,
    Context,
    DataKey,
    HealthStatus,
    KeyProvider,
    WrappedKey,
)

__all__ = ["ProviderContract"]

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")

#: Contexts a provider must round-trip.
ROUND_TRIP_CONTEXTS: tuple[dict[str, str], ...] = (
    {},
    {"table": "accounts"},
    {"tenant": "t-1", "row": "42", "column": "private_key"},
    {"ключ": "значение", "emoji": "\N{LOCK}", "empty": ""},
    {"long": "x" * 1024},
)

#: Pairs (wrap context, unwrap context) that must not be interchangeable when binds_context.
CONTEXT_MISMATCHES: tuple[tuple[dict[str, str], dict[str, str]], ...] = (
    ({"a": "1"}, {"a": "2"}),
    ({"a": "1"}, {}),
    ({}, {"a": "1"}),
    ({"a": "1"}, {"a": "1", "b": "2"}),
    ({"a": "1", "b": "2"}, {"a": "1"}),
    ({"a": "1"}, {"A": "1"}),
    ({"a": "b=c"}, {"a=b": "c"}),
    ({"ab": ""}, {"a": "b"}),
    ({"a": "1", "b": ""}, {"a": "1"}),
    ({"a": "x,b=y"}, {"a": "x", "b": "y"}),
)


def _dek() -> bytes:
    return secrets.token_bytes(DEK_SIZE)


def _rebuilt(wrapped: WrappedKey) -> WrappedKey:
    """The WrappedKey as a parser would rebuild it from a header (fresh objects)."""
    return WrappedKey(
        str(wrapped.provider), str(wrapped.key_id), int(wrapped.key_version), bytes(wrapped.blob)
    )


def _with_blob(wrapped: WrappedKey, blob: bytes) -> WrappedKey:
    return WrappedKey(wrapped.provider, wrapped.key_id, wrapped.key_version, blob)


def _secret_forms(secret: str | bytes) -> Iterator[str]:
    """Textual forms in which a secret could leak into a message."""
    if isinstance(secret, str):
        if len(secret) >= 8:
            yield secret
        secret = secret.encode()
    if len(secret) < 8:
        return  # too short to search for without false positives
    yield secret.hex()
    yield secret.hex().upper()
    yield base64.b64encode(secret).decode().rstrip("=")
    yield base64.urlsafe_b64encode(secret).decode().rstrip("=")
    yield repr(secret)[2:-1]
    with contextlib.suppress(UnicodeDecodeError):
        yield secret.decode()


def _exception_texts(exc: BaseException) -> Iterator[str]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        current = current.__cause__ or current.__context__


class ProviderContract:
    """Base class of a provider's contract tests. See the module docstring for an example.

    Subclasses must define the fixtures ``provider`` (a provider with a fresh key if possible)
    and ``other_provider`` (same scheme, a different KEK), and may define
    ``provider_secrets`` (strings or bytes that must never appear in output: tokens, KEKs).
    """

    #: Blobs up to this many bytes have every byte flipped; longer ones are sampled.
    tamper_limit: ClassVar[int] = 512
    #: How many positions are flipped in a blob longer than ``tamper_limit``.
    tamper_sample: ClassVar[int] = 96
    #: What unwrapping a tampered blob may raise. Widen only with a reason (document it).
    tamper_errors: ClassVar[tuple[type[BaseException], ...]] = (DecryptionError,)
    #: Threads sharing one provider, and round trips per thread.
    thread_count: ClassVar[int] = 8
    thread_iterations: ClassVar[int] = 10
    #: Items per batch in the unwrap_many / rewrap_many tests.
    batch_size: ClassVar[int] = 5

    # -- what subclasses provide ---------------------------------------------------------------
    @pytest.fixture
    def provider(self) -> KeyProvider:
        pytest.fail(f"{type(self).__name__} must define a `provider` fixture")

    @pytest.fixture
    def other_provider(self) -> KeyProvider:
        pytest.fail(
            f"{type(self).__name__} must define an `other_provider` fixture "
            "(same scheme, a different key)"
        )

    @pytest.fixture
    def provider_secrets(self) -> Sequence[str | bytes]:
        return ()

    def tamper_positions(self, blob: bytes) -> Iterable[int]:
        """Byte positions to flip: all of a short blob, a spread sample of a long one."""
        if len(blob) <= self.tamper_limit:
            return range(len(blob))
        edges = {*range(32), *range(len(blob) - 32, len(blob))}
        step = max(1, len(blob) // self.tamper_sample)
        return sorted(edges | set(range(0, len(blob), step)))

    # -- identity ------------------------------------------------------------------------------
    def test_identity(self, provider: KeyProvider, other_provider: KeyProvider) -> None:
        assert isinstance(provider.scheme, str)
        assert _SCHEME.match(provider.scheme), f"scheme {provider.scheme!r} is not a URI scheme"
        assert other_provider.scheme == provider.scheme, "other_provider must use the same scheme"
        assert isinstance(provider.key_id, str)
        assert provider.key_id
        assert isinstance(provider.key_version, int)
        assert provider.key_version >= 0
        minimum = min_decryption_version(provider)
        assert isinstance(minimum, int)
        assert minimum >= 0
        if provider.key_version > 0:
            assert minimum <= provider.key_version
        assert isinstance(provider.binds_context, bool)
        assert provider.uri.startswith(provider.scheme + ":")

    def test_binds_context_is_declared_by_the_class(self, provider: KeyProvider) -> None:
        instance_attrs = getattr(provider, "__dict__", {})
        assert "binds_context" not in instance_attrs, (
            "binds_context is set on the instance; declare it on the class (override the "
            "KeyProvider.binds_context property when it depends on options)"
        )
        assert any("binds_context" in vars(cls) for cls in type(provider).__mro__)

    # -- round trips ---------------------------------------------------------------------------
    @pytest.mark.parametrize("context", ROUND_TRIP_CONTEXTS, ids=lambda c: "-".join(c) or "empty")
    def test_round_trip(self, provider: KeyProvider, context: dict[str, str]) -> None:
        dek = _dek()
        wrapped = provider.wrap(dek, context)
        assert isinstance(wrapped, WrappedKey)
        assert wrapped.provider == provider.scheme
        assert wrapped.key_id == provider.key_id
        assert wrapped.key_version == provider.key_version
        assert isinstance(wrapped.blob, bytes)
        assert wrapped.blob
        assert dek not in wrapped.blob, "the wrapped blob contains the plaintext key"
        assert provider.owns(wrapped)
        unwrapped = provider.unwrap(wrapped, context)
        assert isinstance(unwrapped, bytes)
        assert unwrapped == dek
        assert provider.unwrap(_rebuilt(wrapped), dict(context)) == dek

    def test_context_order_does_not_matter(self, provider: KeyProvider) -> None:
        dek = _dek()
        forward = {"a": "1", "b": "2", "c": "3"}
        backward = dict(reversed(list(forward.items())))
        assert provider.unwrap(provider.wrap(dek, forward), backward) == dek

    def test_generate_data_key(self, provider: KeyProvider) -> None:
        context = {"purpose": "contract"}
        first = provider.generate_data_key(context)
        second = provider.generate_data_key(context)
        assert isinstance(first, DataKey)
        assert isinstance(first.plaintext, bytes)
        assert len(first.plaintext) == DEK_SIZE
        assert first.plaintext != second.plaintext, "data keys must be fresh"
        assert first.wrapped.provider == provider.scheme
        assert first.wrapped.key_id == provider.key_id
        assert first.wrapped.key_version == provider.key_version
        assert provider.unwrap(first.wrapped, context) == first.plaintext
        assert provider.unwrap(second.wrapped, context) == second.plaintext
        assert first.plaintext.hex() not in repr(first)

    # -- context binding -----------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("wrap_context", "unwrap_context"),
        CONTEXT_MISMATCHES,
        ids=[f"mismatch{i}" for i in range(len(CONTEXT_MISMATCHES))],
    )
    def test_wrong_context_fails(
        self,
        provider: KeyProvider,
        wrap_context: dict[str, str],
        unwrap_context: dict[str, str],
    ) -> None:
        if not provider.binds_context:
            pytest.skip(f"{provider.scheme} does not bind the context (binds_context=False)")
        wrapped = provider.wrap(_dek(), wrap_context)
        with pytest.raises(DecryptionError):
            provider.unwrap(wrapped, unwrap_context)

    # -- integrity -----------------------------------------------------------------------------
    def test_tampered_blob_fails(self, provider: KeyProvider) -> None:
        context = {"tamper": "yes"}
        dek = _dek()
        wrapped = provider.wrap(dek, context)
        blob = wrapped.blob
        survivors = []
        for position in self.tamper_positions(blob):
            for flip in (0x01, 0x80):
                tampered = bytearray(blob)
                tampered[position] ^= flip
                try:
                    provider.unwrap(_with_blob(wrapped, bytes(tampered)), context)
                except self.tamper_errors:
                    continue
                except Exception as exc:
                    pytest.fail(
                        f"flipping bit {flip:#04x} of byte {position} raised "
                        f"{type(exc).__name__} ({exc}); expected one of "
                        f"{[e.__name__ for e in self.tamper_errors]}"
                    )
                survivors.append((position, flip))
        assert not survivors, f"tampered blobs unwrapped without error at {survivors[:10]}"
        assert provider.unwrap(wrapped, context) == dek

    @pytest.mark.parametrize("change", ["empty", "one-byte", "truncated", "half", "extended"])
    def test_malformed_blob_fails(self, provider: KeyProvider, change: str) -> None:
        wrapped = provider.wrap(_dek(), {})
        blob = wrapped.blob
        bad = {
            "empty": b"",
            "one-byte": blob[:1],
            "truncated": blob[:-1],
            "half": blob[: len(blob) // 2],
            "extended": blob + b"\x00",
        }[change]
        with pytest.raises(self.tamper_errors):
            provider.unwrap(_with_blob(wrapped, bad), {})

    def test_other_key_fails(self, provider: KeyProvider, other_provider: KeyProvider) -> None:
        dek = _dek()
        context = {"k": "v"}
        with pytest.raises(DecryptionError):
            other_provider.unwrap(provider.wrap(dek, context), context)
        with pytest.raises(DecryptionError):
            provider.unwrap(other_provider.wrap(dek, context), context)

    def test_foreign_scheme_refused(self, provider: KeyProvider) -> None:
        wrapped = provider.wrap(_dek(), {})
        foreign = WrappedKey(
            "not-" + provider.scheme, wrapped.key_id, wrapped.key_version, wrapped.blob
        )
        assert not provider.owns(foreign)
        with pytest.raises(DecryptionError):
            provider.unwrap(foreign, {})

    def test_changed_key_id_fails(self, provider: KeyProvider) -> None:
        wrapped = provider.wrap(_dek(), {})
        moved = WrappedKey(
            wrapped.provider, wrapped.key_id + "-other", wrapped.key_version, wrapped.blob
        )
        assert not provider.owns(moved)
        with pytest.raises((DecryptionError, KeyNotFound)):
            provider.unwrap(moved, {})

    @pytest.mark.parametrize("delta", [1, -1, 1000])
    def test_changed_key_version_never_gives_another_key(
        self, provider: KeyProvider, delta: int
    ) -> None:
        dek = _dek()
        wrapped = provider.wrap(dek, {})
        version = wrapped.key_version + delta
        if version < 0:
            pytest.skip("no lower version to point at")
        moved = WrappedKey(wrapped.provider, wrapped.key_id, version, wrapped.blob)
        try:
            result = provider.unwrap(moved, {})
        except (DecryptionError, KeyNotFound, KeyVersionRetired):
            return
        # Backends that keep the version inside the blob may ignore the field, never mislead.
        assert result == dek

    # -- rewrap and rotation -------------------------------------------------------------------
    def test_rewrap_keeps_data_key(self, provider: KeyProvider) -> None:
        dek = _dek()
        context = {"row": "7"}
        rewrapped = rewrap(provider, provider.wrap(dek, context), context)
        assert isinstance(rewrapped, WrappedKey)
        assert rewrapped.key_version == provider.key_version
        assert provider.unwrap(rewrapped, context) == dek
        if provider.binds_context:
            with pytest.raises(DecryptionError):
                provider.unwrap(rewrapped, {"row": "8"})

    def test_rewrap_checks_context(self, provider: KeyProvider) -> None:
        if not provider.binds_context:
            pytest.skip(f"{provider.scheme} does not bind the context")
        wrapped = provider.wrap(_dek(), {"row": "7"})
        with pytest.raises(DecryptionError):
            rewrap(provider, wrapped, {"row": "8"})

    def test_rotate(self, provider: KeyProvider) -> None:
        if not isinstance(provider, Rotatable):
            from tigerseal.spi import rotate

            with pytest.raises(UnsupportedOperation) as info:
                rotate(provider)
            assert len(str(info.value)) > 20, "say how to rotate instead"
            return
        dek = _dek()
        context = {"rotation": "1"}
        before = provider.key_version
        old = provider.wrap(dek, context)
        new_version = provider.rotate()
        assert isinstance(new_version, int)
        assert new_version > before, "rotate() must return a higher version"
        assert provider.key_version == new_version, "key_version must follow rotate()"
        assert provider.unwrap(old, context) == dek, "old wraps must keep unwrapping"
        fresh = provider.wrap(dek, context)
        assert fresh.key_version == new_version
        assert provider.unwrap(fresh, context) == dek
        assert provider.generate_data_key(context).wrapped.key_version == new_version
        moved = rewrap(provider, old, context)
        assert moved.key_version == new_version
        assert provider.unwrap(moved, context) == dek

    def test_retire_below(self, provider: KeyProvider) -> None:
        if not isinstance(provider, Retirable):
            pytest.skip(f"{type(provider).__name__} is not Retirable")
        if not isinstance(provider, Rotatable):
            pytest.fail("a Retirable provider must be Rotatable too: nothing to retire otherwise")
        dek = _dek()
        context = {"retire": "1"}
        old = provider.wrap(dek, context)
        new_version = provider.rotate()
        current = provider.wrap(dek, context)
        provider.retire_below(new_version)
        assert provider.min_decryption_version == new_version
        assert min_decryption_version(provider) == new_version
        with pytest.raises(KeyVersionRetired):
            provider.unwrap(old, context)
        with pytest.raises(KeyVersionRetired):
            rewrap(provider, old, context)
        assert provider.unwrap(current, context) == dek

    # -- batches -------------------------------------------------------------------------------
    def _batch(self, provider: KeyProvider) -> tuple[list[bytes], list[tuple[WrappedKey, Context]]]:
        deks = [_dek() for _ in range(self.batch_size)]
        items: list[tuple[WrappedKey, Context]] = []
        for i, dek in enumerate(deks):
            context = {"item": str(i)}
            items.append((provider.wrap(dek, context), context))
        return deks, items

    def test_unwrap_many(self, provider: KeyProvider) -> None:
        deks, items = self._batch(provider)
        assert unwrap_many(provider, items) == deks
        assert unwrap_many(provider, []) == []

    def test_rewrap_many(self, provider: KeyProvider) -> None:
        deks, items = self._batch(provider)
        rewrapped = rewrap_many(provider, items)
        assert len(rewrapped) == len(items)
        assert all(w.key_version == provider.key_version for w in rewrapped)
        contexts = [context for _, context in items]
        assert unwrap_many(provider, list(zip(rewrapped, contexts, strict=True))) == deks
        assert rewrap_many(provider, []) == []

    def test_batch_wrap_matches_one_by_one(self, provider: KeyProvider) -> None:
        if not isinstance(provider, BatchWrap):
            pytest.skip(f"{type(provider).__name__} is not BatchWrap")
        deks, items = self._batch(provider)
        assert provider.unwrap_many(items) == [provider.unwrap(w, c) for w, c in items] == deks
        single = [provider.rewrap(w, c) for w, c in items]
        assert [provider.unwrap(w, c) for w, (_, c) in zip(single, items, strict=True)] == deks

    def test_batch_with_bad_item_fails(self, provider: KeyProvider) -> None:
        _, items = self._batch(provider)
        wrapped, context = items[-1]
        tampered = bytearray(wrapped.blob)
        tampered[len(tampered) // 2] ^= 0x01
        items[-1] = (_with_blob(wrapped, bytes(tampered)), context)
        with pytest.raises(self.tamper_errors):
            unwrap_many(provider, items)
        with pytest.raises(self.tamper_errors):
            rewrap_many(provider, items)

    # -- concurrency ---------------------------------------------------------------------------
    def test_threads_share_one_provider(self, provider: KeyProvider) -> None:
        def work(thread: int) -> int:
            done = 0
            for i in range(self.thread_iterations):
                context = {"thread": str(thread), "i": str(i)}
                data_key = provider.generate_data_key(context)
                assert provider.unwrap(data_key.wrapped, context) == data_key.plaintext
                dek = _dek()
                assert provider.unwrap(provider.wrap(dek, context), context) == dek
                done += 1
            return done

        with concurrent.futures.ThreadPoolExecutor(self.thread_count) as pool:
            results = list(pool.map(work, range(self.thread_count)))
        assert results == [self.thread_iterations] * self.thread_count

    # -- operations ----------------------------------------------------------------------------
    def test_health_check(self, provider: KeyProvider) -> None:
        status = provider.health_check()
        assert isinstance(status, HealthStatus)
        assert status.ok, status.detail
        assert status.provider == provider.scheme
        assert status.key_id == provider.key_id
        assert status.key_version == provider.key_version
        assert status.latency_ms >= 0
        assert isinstance(status.detail, str)
        assert status.error == ""

    def test_health_check_is_the_template(self, provider: KeyProvider) -> None:
        assert type(provider).health_check is KeyProvider.health_check, (
            "override _probe() (and HealthDetail.health_detail), not health_check(): the "
            "template is what guarantees it never raises"
        )

    @pytest.mark.parametrize(
        "error",
        [RuntimeError("boom"), KeyError("k"), TimeoutError(), TigerSealError("translated")],
        ids=["RuntimeError", "KeyError", "TimeoutError", "TigerSealError"],
    )
    def test_health_check_never_raises(
        self, provider: KeyProvider, monkeypatch: pytest.MonkeyPatch, error: Exception
    ) -> None:
        def failing_probe(self: KeyProvider) -> str:
            raise error

        monkeypatch.setattr(type(provider), "_probe", failing_probe)
        status = provider.health_check()
        assert not status.ok
        assert status.state == "FAIL"
        assert status.error == type(error).__name__
        assert status.expected is isinstance(error, TigerSealError)
        assert type(error).__name__ in status.detail

    def test_health_detail_failure_does_not_fail_the_check(
        self, provider: KeyProvider, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if not isinstance(provider, HealthDetail):
            pytest.skip(f"{type(provider).__name__} is not HealthDetail")

        def failing_detail(self: KeyProvider) -> str:
            raise RuntimeError("detail backend down")

        monkeypatch.setattr(type(provider), "health_detail", failing_detail)
        status = provider.health_check()
        assert status.ok, status.detail
        assert "detail unavailable" in status.detail

    def test_no_key_material_in_output(
        self,
        provider: KeyProvider,
        other_provider: KeyProvider,
        provider_secrets: Sequence[str | bytes],
    ) -> None:
        dek = _dek()
        context = {"secret-test": "1"}
        data_key = provider.generate_data_key(context)
        wrapped = provider.wrap(dek, context)
        texts = [
            repr(provider),
            str(provider),
            provider.uri,
            repr(wrapped),
            str(wrapped),
            repr(data_key),
            str(data_key),
            repr(provider.health_check()),
        ]
        failures: list[BaseException] = []
        attempts: list[tuple[KeyProvider, WrappedKey, Context]] = [
            (other_provider, wrapped, context),
            (provider, _with_blob(wrapped, wrapped.blob[:-1]), context),
            (provider, wrapped, {"secret-test": "2"}),
        ]
        for target, item, item_context in attempts:
            try:
                target.unwrap(item, item_context)
            except TigerSealError as exc:
                failures.append(exc)
        for failure in failures:
            texts.extend(_exception_texts(failure))
        secrets_to_find = [dek, data_key.plaintext, *provider_secrets]
        for secret in secrets_to_find:
            for form in _secret_forms(secret):
                for text in texts:
                    assert form not in text, "key material or a secret leaked into output"
