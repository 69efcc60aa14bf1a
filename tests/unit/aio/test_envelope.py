"""AsyncEncryptionService: same messages as the sync service, provider calls off the loop."""

from __future__ import annotations

import asyncio
import threading

import pytest
from tigerseal import aio
from tigerseal.envelope import EncryptionService
from tigerseal.errors import ContextMismatchError, DecryptionError
from tigerseal.spi import Context, DataKey, WrappedKey
from tigerseal.testing.fake import FakeKeyProvider

from tests.unit.aio.conftest import Ticker

pytestmark = pytest.mark.anyio
CTX = {"table": "accounts", "id": "7"}


class SlowProvider(FakeKeyProvider):
    """A fake "network" provider: blocks like a KMS call and records its peak concurrency."""

    def __init__(self, name: str, delay: float) -> None:
        super().__init__(name, latency=delay)
        self.active = 0
        self.peak = 0
        self.threads: set[str] = set()
        self._count_lock = threading.Lock()

    def _track_in(self) -> None:
        with self._count_lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.threads.add(threading.current_thread().name)

    def _track_out(self) -> None:
        with self._count_lock:
            self.active -= 1

    def generate_data_key(self, context: Context) -> DataKey:
        self._track_in()
        try:
            return super().generate_data_key(context)
        finally:
            self._track_out()

    def wrap(self, dek: bytes, context: Context) -> WrappedKey:
        self._track_in()
        try:
            return super().wrap(dek, context)
        finally:
            self._track_out()

    def unwrap(self, wrapped: WrappedKey, context: Context) -> bytes:
        self._track_in()
        try:
            return super().unwrap(wrapped, context)
        finally:
            self._track_out()


async def test_round_trip_with_local_provider_runs_inline() -> None:
    svc = aio.AsyncEncryptionService(EncryptionService(FakeKeyProvider("aio-local")))
    assert svc._local
    message = await svc.encrypt("sensitive", CTX)
    assert await svc.decrypt_to_string(message, CTX) == "sensitive"
    text = await svc.encrypt_to_string(b"\x00bytes", CTX)
    assert text.startswith("ts1.")
    assert await svc.decrypt(text, CTX) == b"\x00bytes"
    # The sync service reads what the async one wrote, and the reverse.
    assert svc.service.decrypt(message, CTX) == b"sensitive"
    assert await svc.decrypt(svc.service.encrypt(b"x", CTX), CTX) == b"x"


async def test_errors_are_the_sync_ones() -> None:
    svc = aio.AsyncEncryptionService(EncryptionService(SlowProvider("aio-err", 0.001)))
    message = await svc.encrypt(b"data", CTX)
    with pytest.raises(ContextMismatchError):
        await svc.decrypt(message, {"table": "other"})
    tampered = bytearray(bytes(message))
    tampered[-1] ^= 1
    with pytest.raises(DecryptionError):
        await svc.decrypt(bytes(tampered), CTX)
    assert svc.metrics["decrypt_failures"] == 2


async def test_network_provider_calls_run_in_the_bounded_io_pool() -> None:
    aio.configure(io_threads=3)
    try:
        provider = SlowProvider("aio-net", 0.02)
        svc = aio.AsyncEncryptionService(EncryptionService(provider))
        assert not svc._local
        ticker = Ticker()
        tick_task = asyncio.create_task(ticker.run())
        messages = await asyncio.gather(*(svc.encrypt(f"v{i}", CTX) for i in range(12)))
        during_encrypt = ticker.ticks
        plain = await asyncio.gather(*(svc.decrypt_to_string(m, CTX) for m in messages))
        ticker.running = False
        await tick_task
        assert plain == [f"v{i}" for i in range(12)]
        # The loop kept turning while providers blocked; never more than 3 calls at once,
        # and every call ran on a tigerseal I/O thread.
        assert during_encrypt > 0
        assert 1 <= provider.peak <= 3
        assert provider.threads
        assert all(t.startswith("tigerseal-aio-io") for t in provider.threads)
    finally:
        aio.configure(io_threads=aio._pools.DEFAULT_IO_THREADS)


async def test_large_values_leave_the_loop_even_with_local_keys() -> None:
    provider = SlowProvider("aio-big", 0.0)
    provider.latency = 0.0
    svc = aio.AsyncEncryptionService(EncryptionService(provider), inline_limit=16)
    assert svc._local
    await svc.encrypt(b"small", CTX)
    assert provider.threads == {threading.current_thread().name}
    provider.threads.clear()
    big = await svc.encrypt(b"x" * 1000, CTX)
    assert all(t.startswith("tigerseal-aio-io") for t in provider.threads)
    assert await svc.decrypt(big, CTX) == b"x" * 1000


async def test_shared_service_follows_resets(
    monkeypatch: pytest.MonkeyPatch, fake_provider_registered: None
) -> None:
    from tigerseal.envelope import reset_encryption_service

    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", "fake://aio-shared")
    from tigerseal.config import reset_settings

    reset_settings()
    first = aio.get_encryption_service()
    assert aio.get_encryption_service() is first
    m = await first.encrypt("x")
    reset_encryption_service()
    second = aio.get_encryption_service()
    assert second is not first
    assert await second.decrypt_to_string(m) == "x"


def test_pool_sizes_are_validated() -> None:
    from tigerseal.errors import ConfigError

    with pytest.raises(ConfigError, match="from 1 to 256"):
        aio.configure(io_threads=0)
    with pytest.raises(ConfigError):
        aio.configure(hash_threads=True)  # type: ignore[arg-type]


def test_pool_size_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from tigerseal.config import reset_settings
    from tigerseal.errors import ConfigError

    aio.shutdown()
    saved = dict(aio._pools._sizes)
    aio._pools._sizes.update(io=None, hash=None)
    try:
        monkeypatch.setenv("TIGERSEAL_AIO_IO_THREADS", "4")
        reset_settings()  # the pools read the (cached) settings
        assert aio.pool_sizes()["io"] == 4
        monkeypatch.setenv("TIGERSEAL_AIO_IO_THREADS", "many")
        reset_settings()
        with pytest.raises(ConfigError, match="TIGERSEAL_AIO_IO_THREADS"):
            aio.pool_sizes()
    finally:
        aio._pools._sizes.update(saved)


async def test_batches_and_streams() -> None:
    import io

    svc = aio.AsyncEncryptionService(EncryptionService(SlowProvider("aio-batch", 0.001)))
    messages = await svc.encrypt_many([b"a", "b", b"c"], CTX)
    assert await svc.decrypt_many(messages, CTX) == [b"a", b"b", b"c"]
    broken = [*messages[:2], b"junk"]
    out = await svc.decrypt_many(broken, CTX, return_exceptions=True)
    assert out[:2] == [b"a", b"b"]
    assert isinstance(out[2], DecryptionError)
    src, dst = io.BytesIO(b"x" * 100_000), io.BytesIO()
    await svc.encrypt_stream(src, dst, CTX)
    back = io.BytesIO()
    dst.seek(0)
    await svc.decrypt_stream(dst, back, CTX)
    assert back.getvalue() == b"x" * 100_000
