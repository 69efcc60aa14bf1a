"""Password hashing under a real event loop: a slow hash must not stall other coroutines."""

from __future__ import annotations

import asyncio
import threading

import pytest
from tigerseal import aio
from tigerseal.passwords import Argon2Hasher, PasswordContext, verify_password

from tests.unit.aio.conftest import Ticker

pytestmark = pytest.mark.anyio

# Real argon2id with enough memory that a hash takes a visible while (tens of ms).
CTX = PasswordContext(
    "argon2", hashers={"argon2": Argon2Hasher(time_cost=1, memory_cost=16 * 1024, parallelism=1)}
)


async def _ticks_during(make_work: object) -> tuple[int, int, list[object]]:
    """Run 4 concurrent hashes beside a ticker; (ticks before the first result, total, results)."""
    ticker = Ticker()
    tick_task = asyncio.create_task(ticker.run())
    await asyncio.sleep(0)
    start = ticker.ticks
    first: list[int] = []

    async def one(i: int) -> object:
        result = await make_work(i)  # type: ignore[operator]
        if not first:
            first.append(ticker.ticks)
        return result

    results = await asyncio.gather(*(one(i) for i in range(4)))
    ticker.running = False
    await tick_task
    return first[0] - start, ticker.ticks - start, list(results)


async def test_four_concurrent_hashes_leave_the_loop_free() -> None:
    async def work(i: int) -> str:
        return await aio.hash_password(f"password-{i}-long-enough", context=CTX)

    before_first, total, hashes = await _ticks_during(work)
    # The loop kept turning while the hashes ran in the hash pool (with the sync call in an
    # async def the ticker gets no turn at all until every hash is done).
    assert before_first > 10
    assert total > before_first
    assert len(set(hashes)) == 4
    for i, h in enumerate(hashes):
        assert CTX.verify(f"password-{i}-long-enough", h)  # type: ignore[arg-type]


async def test_sync_hash_in_async_code_blocks_the_loop() -> None:
    """The problem the async API solves (issue 13: four logins delayed /health to 731 ms)."""

    async def work(i: int) -> str:
        return CTX.hash(f"password-{i}-long-enough")

    before_first, _total, _ = await _ticks_during(work)
    assert before_first <= 1  # at most the turn it had before the first hash started


async def test_verify_and_update_and_unknown_user() -> None:
    old = PasswordContext(
        "argon2", hashers={"argon2": Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)}
    )
    stored = old.hash("correct horse battery staple")
    ok, new = await aio.verify_and_update("correct horse battery staple", stored, context=CTX)
    assert ok
    assert new is not None
    assert CTX.verify("correct horse battery staple", new)
    assert await aio.verify_and_update("wrong", stored, context=CTX) == (False, None)
    assert await aio.verify_password("x", None, context=CTX) is False
    assert await aio.needs_update(stored, context=CTX) is True


async def test_default_context_is_the_process_one() -> None:
    stored = await aio.hash_password("a long enough password")
    assert verify_password("a long enough password", stored)


async def test_hash_pool_is_separate_from_the_default_executor() -> None:
    """A burst of hashes occupies the hash pool, not asyncio.to_thread's executor."""

    class GatedContext:
        """Hashes block until the gate opens: the hash pool is surely busy meanwhile."""

        def __init__(self) -> None:
            self.gate = threading.Event()
            self.started = 0

        def hash(self, password: str) -> str:
            self.started += 1
            assert self.gate.wait(30)
            return "hashed:" + password

    ctx = GatedContext()
    aio.configure(hash_threads=1)
    try:
        hashes = [
            asyncio.create_task(aio.hash_password(f"pw-{i}", context=ctx))  # type: ignore[arg-type]
            for i in range(3)
        ]
        for _ in range(1000):
            if ctx.started:
                break
            await asyncio.sleep(0.001)
        # One hash holds the only hash thread, two wait behind it; to_thread is not held up.
        assert await asyncio.to_thread(lambda: "free") == "free"
        assert ctx.started == 1
        assert not any(t.done() for t in hashes)
        ctx.gate.set()
        assert await asyncio.gather(*hashes) == ["hashed:pw-0", "hashed:pw-1", "hashed:pw-2"]
        assert aio.pool_sizes()["hash"] == 1
    finally:
        ctx.gate.set()
        aio.configure(hash_threads=aio._pools._cores())
